"""The dataset page of a wide upload shows its columns a page at a time, target first."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create
from apps.datasets.views import COLUMNS_PER_PAGE
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

FEATURES = 120


@pytest.fixture
def wide_dataset(
    project: Project, alice: User, upload: Callable[..., SimpleUploadedFile]
) -> DatasetVersion:
    """30 rows of 120 feature columns c0 … c119, then the target column ``malignant``."""
    header = ",".join([*(f"c{index}" for index in range(FEATURES)), "malignant"])
    rows = [
        ",".join([*(str(row * index % 7) for index in range(FEATURES)), str(row % 2)])
        for row in range(30)
    ]
    return dataset_create(
        project=project,
        user=alice,
        uploaded_file=upload("\n".join([header, *rows]) + "\n"),
        name="wide",
        target_column="malignant",
    )


def _profiled_columns(html: str) -> list[str]:
    profile = html[html.index('id="profile-heading"') :]
    return re.findall(r'<tr>\s*<td class="mono">([^<]+)</td>\s*<td>[\d.]+%</td>', profile)


def test_first_page_shows_target_and_first_columns(
    project: Project, alice: User, wide_dataset: DatasetVersion, client_for
):
    response = client_for(alice).get(
        reverse("dataset-detail", args=[project.slug, wide_dataset.pk])
    )

    html = response.content.decode()
    columns = _profiled_columns(html)
    assert response.status_code == 200
    assert columns[0] == "malignant"
    assert columns[1:] == [f"c{index}" for index in range(COLUMNS_PER_PAGE)]
    assert "Columns 1\u201350 of 120 besides the target, page 1 of 3" in html
    assert "?page=2" in html


def test_last_page_shows_target_and_remaining_columns(
    project: Project, alice: User, wide_dataset: DatasetVersion, client_for
):
    url = reverse("dataset-detail", args=[project.slug, wide_dataset.pk])

    html = client_for(alice).get(url, {"page": 3}).content.decode()

    columns = _profiled_columns(html)
    assert columns[0] == "malignant"
    assert columns[1:] == [f"c{index}" for index in range(100, FEATURES)]
    assert "c0<" not in html.split('id="schema-heading"')[1].split("</section>")[0]


@pytest.mark.parametrize("page", ["0", "999", "abc", "-1"])
def test_out_of_range_page_shows_a_page(
    project: Project, alice: User, wide_dataset: DatasetVersion, client_for, page: str
):
    url = reverse("dataset-detail", args=[project.slug, wide_dataset.pk])

    response = client_for(alice).get(url, {"page": page})

    assert response.status_code == 200
    assert _profiled_columns(response.content.decode())[0] == "malignant"
