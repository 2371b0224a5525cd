import pandas as pd
import pytest

from apps.iterations import boosting, mlflow_adapter
from apps.iterations.services import iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset, diabetes_dataset, upload_csv

__all__ = ["cancer_dataset", "diabetes_dataset"]

needs_lightgbm = pytest.mark.skipif(not boosting.LIGHTGBM_INSTALLED, reason="lightgbm missing")
needs_xgboost = pytest.mark.skipif(not boosting.XGBOOST_INSTALLED, reason="xgboost missing")


def _run(project, user, dataset, recipe, **params):
    iteration = iteration_start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe=recipe,
        params={"n_estimators": 30, **params},
        seed=5,
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    return iteration


def _served_model(iteration):
    return mlflow_adapter.model_load(
        mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    )


@needs_lightgbm
def test_lightgbm_model_loads_and_predicts(project, alice, cancer_dataset):
    iteration = _run(project, alice, cancer_dataset, "lightgbm")

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.metrics["roc_auc"] > 0.95
    assert iteration.environment["lightgbm"] != "not installed"
    model = _served_model(iteration)
    rows = pd.DataFrame(iteration.holdout_sample["rows"], columns=iteration.feature_columns)
    assert list(model.predict(rows)) == iteration.holdout_sample["predictions"]
    for served, recorded in zip(
        model.predict_proba(rows).tolist(), iteration.holdout_sample["probabilities"], strict=True
    ):
        assert served == pytest.approx(recorded)
    assert iteration.evaluation["feature_importance_method"] == "model"


@needs_xgboost
def test_xgboost_model_loads_and_predicts(project, alice, cancer_dataset):
    iteration = _run(project, alice, cancer_dataset, "xgboost", max_depth=3)

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.metrics["roc_auc"] > 0.95
    assert iteration.environment["xgboost"] != "not installed"
    model = _served_model(iteration)
    rows = pd.DataFrame(iteration.holdout_sample["rows"], columns=iteration.feature_columns)
    assert list(model.predict(rows)) == iteration.holdout_sample["predictions"]


@needs_xgboost
def test_xgboost_accepts_text_labels(project, alice, tmp_path):
    frame = pd.DataFrame({"amount": list(range(60)), "label": ["ok"] * 30 + ["fraud"] * 30})
    path = tmp_path / "payments.csv"
    frame.to_csv(path, index=False)
    dataset = upload_csv(project, alice, path, "label")

    iteration = _run(project, alice, dataset, "xgboost")

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.holdout_sample["classes"] == ["fraud", "ok"]
    assert set(iteration.holdout_sample["predictions"]) <= {"fraud", "ok"}
    assert (
        list(_served_model(iteration).predict(pd.DataFrame(iteration.holdout_sample["rows"])))
        == (iteration.holdout_sample["predictions"])
    )


@needs_lightgbm
@pytest.mark.parametrize("recipe", ["lightgbm", "xgboost"])
def test_boosting_regression_round_trips(regression_project, alice, diabetes_dataset, recipe):
    if recipe == "xgboost" and not boosting.XGBOOST_INSTALLED:
        pytest.skip("xgboost missing")
    iteration = _run(regression_project, alice, diabetes_dataset, recipe)

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.metrics["rmse"] < 75
    rows = pd.DataFrame(iteration.holdout_sample["rows"], columns=iteration.feature_columns)
    assert list(_served_model(iteration).predict(rows)) == pytest.approx(
        iteration.holdout_sample["predictions"]
    )


@needs_lightgbm
def test_lightgbm_grid_search(project, alice, cancer_dataset):
    iteration = _run(
        project,
        alice,
        cancer_dataset,
        "lightgbm",
        search={"method": "grid", "space": {"num_leaves": [4, 8]}, "folds": 3},
    )

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.environment["search"]["best_params"]["num_leaves"] in (4, 8)
