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


def evaluation_for(*, shift: float = 0.0, threshold: float = 0.3) -> dict[str, Any]:
    """Return holdout curves in the shape ``Iteration.evaluation`` stores for a classifier."""
    grid = [index / 10 for index in range(11)]
    return {
        "roc": {
            "fpr": grid,
            "tpr": [min(1.0, value**0.5 + shift) for value in grid],
            "auc": 0.9 + shift,
        },
        "pr": {
            "recall": grid,
            "precision": [1.0 - value / 2 + shift for value in grid],
            "average_precision": 0.8 + shift,
        },
        "calibration": {
            "mean_predicted": [0.1, 0.5, 0.9],
            "fraction_positive": [0.05 + shift, 0.5, 0.95],
        },
        "confusion": {"labels": ["0", "1"], "matrix": [[50, 5], [3, 42]], "threshold": threshold},
        "cost_curve": {
            "thresholds": grid,
            "expected_cost": [abs(value - threshold) * 100 + 10 for value in grid],
        },
        "feature_importance": [
            {"feature": "radius", "importance": 0.6 - shift},
            {"feature": "texture", "importance": 0.3 + shift},
        ],
    }
