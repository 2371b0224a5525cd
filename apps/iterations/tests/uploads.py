"""Dataset fixtures for the iteration tests, uploaded through the real dataset service."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create


def upload_csv(project, user, path: Path, target: str, name: str = "data") -> DatasetVersion:
    return dataset_create(
        project=project,
        user=user,
        uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()),
        name=name,
        target_column=target,
    )


@pytest.fixture
def cancer_dataset(project, alice, breast_cancer_csv) -> DatasetVersion:
    return upload_csv(project, alice, breast_cancer_csv, "diagnosis", name="biopsies")


@pytest.fixture
def diabetes_dataset(regression_project, alice, diabetes_csv) -> DatasetVersion:
    return upload_csv(regression_project, alice, diabetes_csv, "progression", name="visits")
