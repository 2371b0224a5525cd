import json
from collections.abc import Callable

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.specs import iteration_spec
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


def _detail(client: Client, project: Project, number: int) -> str:
    response = client.get(reverse("iteration-detail", args=[project.slug, number]))
    assert response.status_code == 200
    return response.content.decode()


def test_succeeded_page_offers_reproduce_and_export(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1)

    page = _detail(client_for(alice), project, 1)

    assert reverse("iteration-reproduce", args=[project.slug, 1]) in page
    assert ">Reproduce</button>" in page
    assert reverse("api-iteration-spec", args=[project.slug, 1]) in page
    assert "Export spec" in page
    assert "Not rerun yet" in page


def test_stakeholder_sees_no_reproduce_button(
    client_for: ClientFor, project: Project, sam: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1)

    page = _detail(client_for(sam), project, 1)

    assert ">Reproduce</button>" not in page
    assert "Export spec" in page


def test_queued_page_has_no_reproduce_button(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1, status=IterationStatus.QUEUED, metrics={})

    page = _detail(client_for(alice), project, 1)

    assert ">Reproduce</button>" not in page


def test_page_shows_reproduction_differences(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    original = make_iteration(1)
    make_iteration(2, reproduction_of=original)
    original.reproduction = {
        "status": "differs",
        "iteration": 2,
        "differences": {"roc_auc": [0.96, 0.91]},
        "checked_at": "2026-01-01T00:00:00+00:00",
    }
    original.save()

    page = _detail(client_for(alice), project, 1)
    rerun_page = _detail(client_for(alice), project, 2)

    assert "differs" in page
    assert "roc_auc" in page
    assert "0.91" in page
    assert reverse("iteration-detail", args=[project.slug, 2]) in page
    assert reverse("iteration-detail", args=[project.slug, 1]) in rerun_page


def test_page_shows_reproduced(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(
        1,
        reproduction={
            "status": "reproduced",
            "iteration": 2,
            "differences": {},
            "checked_at": "2026-01-01T00:00:00+00:00",
        },
    )
    make_iteration(2)

    page = _detail(client_for(alice), project, 1)

    assert "reproduced" in page
    assert "measured the same metrics" in page


def test_reproduce_button_queues_rerun(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1)

    response = client_for(alice).post(reverse("iteration-reproduce", args=[project.slug, 1]))

    rerun = Iteration.objects.get(project=project, number=2)
    assert response.status_code == 302
    assert response["Location"] == reverse("iteration-detail", args=[project.slug, 2])
    assert rerun.reproduction_of is not None
    assert rerun.reproduction_of.number == 1
    assert rerun.status == IterationStatus.QUEUED


def test_stakeholder_cannot_reproduce(
    client_for: ClientFor, project: Project, sam: User, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1)

    response = client_for(sam).post(reverse("iteration-reproduce", args=[project.slug, 1]))

    assert response.status_code == 403
    assert Iteration.objects.filter(project=project).count() == 1


def test_start_page_offers_spec_upload(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, alice: User
) -> None:
    response = client_for(alice).get(reverse("iteration-create", args=[project.slug]))

    page = response.content.decode()
    assert "Start from a spec file" in page
    assert reverse("iteration-create-from-spec", args=[project.slug]) in page
    assert 'enctype="multipart/form-data"' in page


def test_spec_upload_page_queues_iteration(
    client_for: ClientFor, project: Project, alice: User, make_iteration: Callable[..., Iteration]
) -> None:
    spec = iteration_spec(make_iteration(1, feature_columns=["radius"]))
    upload = SimpleUploadedFile("spec.json", json.dumps(spec).encode())

    response = client_for(alice).post(
        reverse("iteration-create-from-spec", args=[project.slug]), {"file": upload}
    )

    started = Iteration.objects.get(project=project, number=2)
    assert response.status_code == 302
    assert response["Location"] == reverse("iteration-detail", args=[project.slug, 2])
    assert started.feature_columns == ["radius"]


def test_spec_upload_page_shows_spec_errors(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, alice: User
) -> None:
    spec = {"version": 1, "dataset_sha256": "f" * 64, "target": "diagnosis", "recipe": "x"}
    upload = SimpleUploadedFile("spec.json", json.dumps(spec).encode())

    response = client_for(alice).post(
        reverse("iteration-create-from-spec", args=[project.slug]), {"file": upload}
    )

    assert response.status_code == 200
    errors = response.context["spec_form"].errors["file"]
    assert any(error.startswith("spec.dataset_sha256:") for error in errors)
    assert not Iteration.objects.filter(project=project).exists()


def test_spec_upload_page_rejects_invalid_json(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, alice: User
) -> None:
    upload = SimpleUploadedFile("spec.json", b"{oops")

    response = client_for(alice).post(
        reverse("iteration-create-from-spec", args=[project.slug]), {"file": upload}
    )

    assert response.status_code == 200
    assert "not valid JSON" in response.context["spec_form"].errors["file"][0]
    assert not Iteration.objects.filter(project=project).exists()


def test_stakeholder_cannot_upload_spec(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, sam: User
) -> None:
    upload = SimpleUploadedFile("spec.json", b"{}")

    response = client_for(sam).post(
        reverse("iteration-create-from-spec", args=[project.slug]), {"file": upload}
    )

    assert response.status_code == 403
