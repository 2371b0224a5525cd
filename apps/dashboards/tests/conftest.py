from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project


@pytest.fixture
def client_for(db: None) -> Callable[[User], Client]:
    """Return a Django test client signed in as ``user``."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def dataset(project: Project, alice: User) -> DatasetVersion:
    """A dataset version row with a placeholder file name; no file is read by the pages."""
    return DatasetVersion.objects.create(
        project=project,
        name="biopsies",
        version=1,
        file="datasets/placeholder.csv",
        original_filename="biopsies.csv",
        format="csv",
        sha256="0" * 64,
        size_bytes=1024,
        row_count=569,
        column_count=3,
        schema=[
            {"name": "radius", "dtype": "float64", "kind": "numeric"},
            {"name": "texture", "dtype": "float64", "kind": "numeric"},
            {"name": "diagnosis", "dtype": "int64", "kind": "numeric"},
        ],
        target_column="diagnosis",
        created_by=alice,
    )


@pytest.fixture
def make_iteration(
    project: Project, dataset: DatasetVersion, alice: User
) -> Callable[..., Iteration]:
    """Create a finished iteration row directly, with the given metric values."""

    def make(number: int, metrics: dict[str, Any] | None = None, **fields: Any) -> Iteration:
        defaults: dict[str, Any] = {
            "project": project,
            "number": number,
            "dataset": dataset,
            "recipe": "logistic_regression",
            "status": IterationStatus.SUCCEEDED,
            "metrics": metrics if metrics is not None else {"roc_auc": 0.96, "recall": 0.85},
            "created_by": alice,
            "mlflow_run_id": f"run{number}",
            "model_name": "tumour-triage",
            "model_version": str(number),
        }
        defaults.update(fields)
        return Iteration.objects.create(**defaults)

    return make
