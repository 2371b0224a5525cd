import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from apps.iterations.evaluation import CURVE_MAX_POINTS, curve_thin
from apps.iterations.recipes import RECIPES, recipe_params_validate
from apps.iterations.services import iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset, diabetes_dataset
from apps.iterations.training import train

__all__ = ["cancer_dataset", "diabetes_dataset"]


def _train(path, target, recipe, task_type, **extra):
    frame = pd.read_csv(path)
    options = {
        "dataset_path": path,
        "dataset_format": "csv",
        "target": target,
        "feature_columns": [c for c in frame.columns if c != target],
        "recipe": RECIPES[recipe],
        "params": recipe_params_validate(RECIPES[recipe], {}),
        "seed": 7,
        "test_size": 0.2,
        "task_type": task_type,
    }
    options.update(extra)
    return train(**options)


def test_binary_evaluation_has_every_chart(breast_cancer_csv):
    result = _train(
        breast_cancer_csv,
        "diagnosis",
        "logistic_regression",
        "classification",
        cost_false_positive=1.0,
        cost_false_negative=20.0,
    )
    evaluation = result.evaluation

    assert set(evaluation) >= {
        "roc",
        "pr",
        "calibration",
        "confusion",
        "cost_curve",
        "feature_importance",
    }
    assert "residuals" not in evaluation
    assert evaluation["roc"]["auc"] == pytest.approx(result.metrics["roc_auc"])
    assert evaluation["pr"]["average_precision"] == pytest.approx(result.metrics["pr_auc"])
    assert len(evaluation["roc"]["fpr"]) <= CURVE_MAX_POINTS
    assert len(evaluation["pr"]["recall"]) == len(evaluation["pr"]["precision"])
    assert len(evaluation["cost_curve"]["thresholds"]) <= CURVE_MAX_POINTS
    json.dumps(evaluation, allow_nan=False)


def test_confusion_matrix_uses_chosen_threshold(breast_cancer_csv):
    result = _train(
        breast_cancer_csv,
        "diagnosis",
        "logistic_regression",
        "classification",
        cost_false_positive=1.0,
        cost_false_negative=20.0,
    )
    confusion = result.evaluation["confusion"]
    [[tn, fp], [fn, tp]] = confusion["matrix"]

    assert confusion["threshold"] == result.threshold
    assert confusion["labels"] == [0, 1]
    assert tn + fp + fn + tp == result.holdout_rows
    assert tp / (tp + fn) == pytest.approx(result.metrics["recall"])


def test_cost_curve_minimum_matches_expected_cost(breast_cancer_csv):
    result = _train(
        breast_cancer_csv,
        "diagnosis",
        "logistic_regression",
        "classification",
        cost_false_positive=1.0,
        cost_false_negative=20.0,
    )
    curve = result.evaluation["cost_curve"]

    # The chosen threshold is searched over every score, so no grid point is cheaper.
    assert min(curve["expected_cost"]) >= result.expected_cost - 1e-9


def test_no_cost_curve_without_error_costs(breast_cancer_csv):
    result = _train(breast_cancer_csv, "diagnosis", "logistic_regression", "classification")

    assert "cost_curve" not in result.evaluation
    assert result.evaluation["confusion"]["threshold"] == 0.5


def test_feature_importance_names_input_columns(tmp_path):
    rng = np.random.default_rng(0)
    signal = rng.normal(size=300)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=300),
            "city": rng.choice(["Lyon", "Paris", "Nice"], 300),
            "label": (signal > 0).astype(int),
        }
    )
    path = tmp_path / "signal.csv"
    frame.to_csv(path, index=False)

    for recipe in ("random_forest", "logistic_regression", "hist_gradient_boosting"):
        result = _train(path, "label", recipe, "classification")
        importance = result.evaluation["feature_importance"]

        assert {row["feature"] for row in importance} == {"signal", "noise", "city"}, recipe
        assert importance[0]["feature"] == "signal", recipe


def test_importance_method_prefers_model_own(breast_cancer_csv):
    forest = _train(breast_cancer_csv, "diagnosis", "random_forest", "classification")
    boosted = _train(breast_cancer_csv, "diagnosis", "hist_gradient_boosting", "classification")

    assert forest.evaluation["feature_importance_method"] == "model"
    assert boosted.evaluation["feature_importance_method"] == "permutation"
    assert len(forest.evaluation["feature_importance"]) == 30
    values = [row["importance"] for row in forest.evaluation["feature_importance"]]
    assert values == sorted(values, reverse=True)


def test_regression_evaluation_has_residuals(diabetes_csv):
    result = _train(diabetes_csv, "progression", "ridge", "regression")
    residuals = result.evaluation["residuals"]

    assert len(residuals["predicted"]) == result.holdout_rows
    assert len(residuals["residual"]) == result.holdout_rows
    assert "roc" not in result.evaluation
    assert "confusion" not in result.evaluation
    assert result.evaluation["feature_importance"]


def test_multiclass_confusion_is_square(tmp_path):
    from sklearn.datasets import load_iris

    path = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)

    result = _train(path, "target", "logistic_regression", "classification")
    confusion = result.evaluation["confusion"]

    assert confusion["labels"] == [0, 1, 2]
    assert len(confusion["matrix"]) == 3
    assert all(len(row) == 3 for row in confusion["matrix"])
    assert sum(map(sum, confusion["matrix"])) == result.holdout_rows
    assert "roc" not in result.evaluation


def test_curve_thin_keeps_ends():
    values = np.arange(1000)

    [thinned] = curve_thin(values)

    assert len(thinned) == CURVE_MAX_POINTS
    assert thinned[0] == 0
    assert thinned[-1] == 999


def test_run_stores_evaluation_and_logs_it(project, alice, cancer_dataset):
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="random_forest",
        params={"n_estimators": 20},
        seed=3,
    )

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.evaluation["confusion"]["matrix"]
    assert iteration.evaluation["cost_curve"]["expected_cost"]
    client = mlflow.MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    logged = {item.path for item in client.list_artifacts(iteration.mlflow_run_id, "evaluation")}
    assert "evaluation/roc.json" in logged
    assert "evaluation/confusion.json" in logged
    assert "evaluation/feature_importance.json" in logged
    downloaded = mlflow.artifacts.load_dict(
        f"runs:/{iteration.mlflow_run_id}/evaluation/confusion.json"
    )
    assert downloaded == iteration.evaluation["confusion"]


def test_iteration_page_shows_confusion_and_importance(project, alice, cancer_dataset, client_for):
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="random_forest",
        params={"n_estimators": 20},
        seed=3,
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()

    page = client_for(alice).get(f"/projects/{project.slug}/iterations/{iteration.number}/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "Confusion matrix" in text
    assert "Feature importance" in text
    top = iteration.evaluation["feature_importance"][0]["feature"]
    assert top in text
