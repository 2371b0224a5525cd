from pathlib import Path

import pytest
from django.contrib.auth.models import User

from apps.dashboards.tests.conftest import client_for, dataset, make_iteration
from apps.datasets.models import DatasetVersion
from apps.deployments.tests.training import dataset_upload, iteration_train
from apps.iterations.models import Iteration
from apps.projects.models import Project

# The page tests use the shared fixtures of the dashboards tests, which create rows directly.
# The API and service tests use the fixtures below, which train real models.
__all__ = ["client_for", "dataset", "make_iteration"]


@pytest.fixture
def uploaded_dataset(project: Project, alice: User, breast_cancer_csv: Path) -> DatasetVersion:
    return dataset_upload(project=project, user=alice, csv_path=breast_cancer_csv)


@pytest.fixture
def trained_iteration(project: Project, alice: User, uploaded_dataset: DatasetVersion) -> Iteration:
    return iteration_train(project=project, user=alice, dataset=uploaded_dataset)
