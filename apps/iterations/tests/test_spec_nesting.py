from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import InvalidInput
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration
from apps.iterations.specs import spec_from_upload
from apps.projects.models import Project

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_YAML = b"a: " + b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("name", "content"), [("spec.json", DEEP_JSON), ("spec.yaml", DEEP_YAML)])
def test_spec_from_upload_rejects_deep_nesting(name: str, content: bytes) -> None:
    with pytest.raises(InvalidInput) as raised:
        spec_from_upload(SimpleUploadedFile(name, content))

    assert raised.value.errors["file"] == [
        f"The spec file '{name}' is nested too deeply to be a training spec."
    ]


def test_spec_api_rejects_deep_nesting(
    api_client_for: Callable[[User], APIClient],
    project: Project,
    dataset: DatasetVersion,
    alice: User,
) -> None:
    upload = SimpleUploadedFile("spec.json", DEEP_JSON)

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/from-spec/",
        {"file": upload},
        format="multipart",
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["errors"]["file"][0]
    assert not Iteration.objects.filter(project=project).exists()


def test_spec_page_rejects_deep_nesting(
    client_for: Callable[[User], Client],
    project: Project,
    dataset: DatasetVersion,
    alice: User,
) -> None:
    upload = SimpleUploadedFile("spec.yaml", DEEP_YAML)

    response = client_for(alice).post(
        reverse("iteration-create-from-spec", args=[project.slug]), {"file": upload}
    )

    assert response.status_code == 200
    assert "nested too deeply" in response.context["spec_form"].errors["file"][0]
    assert not Iteration.objects.filter(project=project).exists()


def test_spec_api_rejects_deeply_nested_json_body(
    api_client_for: Callable[[User], APIClient],
    project: Project,
    dataset: DatasetVersion,
    alice: User,
) -> None:
    depth = 5000
    body = '{"version": 1, "params": ' + '{"a": ' * depth + "1" + "}" * depth + "}"

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/from-spec/",
        data=body,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert not Iteration.objects.filter(project=project, is_baseline=False).exists()
