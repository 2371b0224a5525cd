from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("sam", 403), ("dana", 403)])
def test_upload_page_by_role(
    client_for: ClientFor,
    project: Project,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).get(reverse("dataset-create", args=[project.slug]))

    assert response.status_code == status


def test_upload_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("dataset-create", args=[project.slug]))

    assert response.status_code == 404


def test_upload_stores_version_and_shows_it(
    client_for: ClientFor, project: Project, alice: User, breast_cancer_csv: Path
) -> None:
    client = client_for(alice)

    response = client.post(
        reverse("dataset-create", args=[project.slug]),
        {"file": _upload(breast_cancer_csv), "name": "biopsies", "target": "diagnosis"},
        follow=True,
    )

    dataset = DatasetVersion.objects.get(project=project, name="biopsies")
    assert response.redirect_chain[-1][0] == reverse(
        "dataset-detail", args=[project.slug, dataset.pk]
    )
    assert dataset.row_count == 569
    assert dataset.sha256 in response.text
    assert "mean radius" in response.text


def test_upload_shows_unknown_target_on_its_field(
    client_for: ClientFor, project: Project, alice: User, breast_cancer_csv: Path
) -> None:
    response = client_for(alice).post(
        reverse("dataset-create", args=[project.slug]),
        {"file": _upload(breast_cancer_csv), "name": "biopsies", "target": "outcome"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["target"]
    assert not DatasetVersion.objects.filter(project=project).exists()


def test_upload_shows_unreadable_file_error(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    garbage = SimpleUploadedFile("data.csv", b"\x00\x01\x02 not a table \xff\xfe", "text/csv")

    response = client_for(alice).post(
        reverse("dataset-create", args=[project.slug]),
        {"file": garbage, "name": "broken", "target": "diagnosis"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="errorlist' in response.text or 'class="form-errors"' in response.text
    assert not DatasetVersion.objects.filter(project=project).exists()


def test_upload_without_file_asks_for_one(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("dataset-create", args=[project.slug]), {"name": "biopsies", "target": "x"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["file"]


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_dataset_page_opens_for_members(
    client_for: ClientFor,
    project: Project,
    dataset: DatasetVersion,
    make_user: Callable[[str], User],
    username: str,
) -> None:
    response = client_for(make_user(username)).get(
        reverse("dataset-detail", args=[project.slug, dataset.pk])
    )

    assert response.status_code == 200
    assert dataset.sha256 in response.text
    assert "texture" in response.text


def test_dataset_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, olga: User
) -> None:
    response = client_for(olga).get(reverse("dataset-detail", args=[project.slug, dataset.pk]))

    assert response.status_code == 404


def test_dataset_page_is_not_found_through_another_project(
    client_for: ClientFor,
    regression_project: Project,
    dataset: DatasetVersion,
    alice: User,
) -> None:
    response = client_for(alice).get(
        reverse("dataset-detail", args=[regression_project.slug, dataset.pk])
    )

    assert response.status_code == 404


def test_dataset_page_shows_detection_and_profile_bars(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    content = "ville;label\n" + "".join(f"{town};{i % 2}\n" for i, town in enumerate("ABBCCC"))
    upload = SimpleUploadedFile("towns.csv", content.replace("A", "Orléans").encode("cp1252"))
    client_for(alice).post(
        reverse("dataset-create", args=[project.slug]),
        {"file": upload, "name": "towns", "target": "label"},
    )
    dataset = DatasetVersion.objects.get(project=project, name="towns")

    response = client_for(alice).get(reverse("dataset-detail", args=[project.slug, dataset.pk]))

    assert response.status_code == 200
    assert "cp1252" in response.text
    assert "semicolon" in response.text
    assert "Column profile" in response.text
    assert "Orléans" in response.text
    # The most frequent value gets the full width, the others a share of it.
    assert "width: 100%;" in response.text
    assert "width: 33%;" in response.text
    assert "<script" not in response.text.split("Column profile", 1)[1]


def test_upload_page_rejects_post_without_csrf_token(
    project: Project, alice: User, breast_cancer_csv: Path
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(
        reverse("dataset-create", args=[project.slug]),
        {"file": _upload(breast_cancer_csv), "name": "biopsies", "target": "diagnosis"},
    )

    assert response.status_code == 403
    assert not DatasetVersion.objects.filter(project=project).exists()
