"""Awkward data: each case fails with a readable reason or succeeds with a visible warning."""

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from apps.core.errors import InvalidInput
from apps.iterations import mlflow_adapter
from apps.iterations.recipes import RECIPES
from apps.iterations.selectors import iteration_verdicts, project_metrics
from apps.iterations.services import iteration_cancel, iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset, upload_csv
from apps.iterations.training import TrainingError, train

__all__ = ["cancer_dataset"]


def _run(project, user, dataset, recipe="baseline", **params):
    iteration = iteration_start(
        project=project, user=user, dataset_id=dataset.pk, recipe=recipe, params=params, seed=0
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    return iteration


def _upload(project, user, tmp_path, frame, target, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return upload_csv(project, user, path, target)


def test_single_class_is_rejected_at_upload(project, alice, tmp_path):
    frame = pd.DataFrame({"x": range(30), "y": [1] * 30})

    with pytest.raises(InvalidInput, match="at least two classes"):
        _upload(project, alice, tmp_path, frame, "y")


def test_single_class_fails_training_with_reason(tmp_path):
    path = tmp_path / "one_class.csv"
    pd.DataFrame({"x": range(30), "y": [1] * 30}).to_csv(path, index=False)

    with pytest.raises(TrainingError, match="single class; classification needs two"):
        train(
            dataset_path=path,
            dataset_format="csv",
            target="y",
            feature_columns=["x"],
            recipe=RECIPES["baseline"],
            params={},
            seed=0,
            test_size=0.2,
            task_type="classification",
        )


def test_no_target_values_fails_with_reason(project, alice, tmp_path):
    frame = pd.DataFrame({"x": range(30), "y": [np.nan] * 28 + [0, 1]})
    dataset = _upload(project, alice, tmp_path, frame, "y")

    iteration = _run(project, alice, dataset)

    assert iteration.status == "failed"
    assert "Only 2 rows have a target value" in iteration.status_reason


def test_missing_targets_succeed_with_warning(project, alice, tmp_path):
    frame = pd.DataFrame({"x": range(40), "y": [0, 1] * 20})
    frame.loc[[1, 2, 3], "y"] = np.nan
    dataset = _upload(project, alice, tmp_path, frame, "y")

    iteration = _run(project, alice, dataset)

    assert iteration.status == "succeeded", iteration.status_reason
    assert "Skipped 3 rows without a target value." in iteration.status_reason


def test_constant_column_succeeds_with_warning(project, alice, tmp_path, client_for):
    frame = pd.DataFrame({"x": range(40), "site": ["north"] * 40, "y": [0, 1] * 20})
    dataset = _upload(project, alice, tmp_path, frame, "y")

    iteration = _run(project, alice, dataset, recipe="logistic_regression")

    assert iteration.status == "succeeded", iteration.status_reason
    assert "site" in iteration.status_reason
    assert "single value" in iteration.status_reason
    page = client_for(alice).get(f"/projects/{project.slug}/iterations/{iteration.number}/")
    assert "Warnings:" in page.content.decode()


def test_too_few_rows_fail_with_reason(project, alice, tmp_path):
    dataset = _upload(project, alice, tmp_path, pd.DataFrame({"x": range(6), "y": [0, 1] * 3}), "y")

    iteration = _run(project, alice, dataset)

    assert iteration.status == "failed"
    assert "training needs at least 10" in iteration.status_reason


def test_rare_class_falls_back_with_warning(project, alice, tmp_path):
    frame = pd.DataFrame({"x": range(13), "y": [0] * 12 + [1]})
    dataset = _upload(project, alice, tmp_path, frame, "y")

    iteration = _run(project, alice, dataset)

    assert iteration.status == "succeeded", iteration.status_reason
    assert "plain random split" in iteration.status_reason
    assert iteration.metrics["roc_auc"] is None


def test_undefined_metrics_are_null_and_never_met(regression_project, alice, tmp_path):
    # A constant target makes r2 0/0 and a zero target makes MAPE divide by zero.
    frame = pd.DataFrame({"x": range(40), "progress": [0.0] * 40})
    dataset = _upload(regression_project, alice, tmp_path, frame, "progress")

    iteration = _run(regression_project, alice, dataset)

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.metrics["r2"] is None
    assert iteration.metrics["mape"] is None
    assert all(v is None or math.isfinite(v) for v in iteration.metrics.values())
    iteration.project.metrics.create(name="r2", target=0.5, kind="model", direction="higher")
    verdicts = iteration_verdicts(
        iteration=iteration, metrics=project_metrics(project=regression_project)
    )
    r2 = next(v for v in verdicts if v["name"] == "r2")
    assert r2["value"] is None
    assert r2["verdict"] == "undefined"


def test_datetime_columns_become_numeric_parts(project, alice, tmp_path):
    rng = np.random.default_rng(1)
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, 300), unit="D")
    frame = pd.DataFrame(
        {
            "signed_up": days.strftime("%Y-%m-%d"),
            "amount": rng.normal(size=300),
            "churned": (days.month >= 7).astype(int),
        }
    )
    dataset = _upload(project, alice, tmp_path, frame, "churned")

    iteration = _run(project, alice, dataset, recipe="random_forest", n_estimators=20)

    assert iteration.status == "succeeded", iteration.status_reason
    assert "signed_up" in iteration.feature_columns
    assert iteration.metrics["accuracy"] > 0.9
    assert iteration.evaluation["feature_importance"][0]["feature"] == "signed_up"
    model = mlflow_adapter.model_load(
        mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    )
    served = model.predict(
        pd.DataFrame({"signed_up": ["2024-02-10", "2024-11-03"], "amount": [0.1, 0.2]})
    )
    assert list(served) == [0, 1]


def test_cancel_during_training_registers_no_version(project, alice, cancer_dataset, monkeypatch):
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=4,
    )

    def train_then_cancel(**options):
        # The user cancels while the worker is still computing.
        result = train(**options)
        iteration_cancel(iteration=iteration, user=alice)
        return result

    monkeypatch.setattr("apps.iterations.services.train", train_then_cancel)

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "cancelled"
    assert iteration.model_version == ""
    client = mlflow.MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    experiment = client.get_experiment_by_name(f"portal/{project.slug}")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`portal.task_id` = '{iteration.task_id}'",
    )
    assert len(runs) == 1
    assert client.search_model_versions(f"run_id = '{runs[0].info.run_id}'") == []


@pytest.mark.parametrize("recipe", ["baseline", "logistic_regression"])
def test_run_records_environment(project, alice, cancer_dataset, recipe):
    iteration = _run(project, alice, cancer_dataset, recipe=recipe)

    assert set(iteration.environment) >= {
        "python",
        "scikit_learn",
        "pandas",
        "numpy",
        "mlflow",
        "portal",
        "host",
    }
    assert iteration.environment["portal"] != "unknown"
