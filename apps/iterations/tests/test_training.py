import json
import math

import numpy as np
import pandas as pd
import pytest

from apps.iterations.recipes import RECIPES, recipe_params_validate
from apps.iterations.training import TrainingError, threshold_choose, train
from apps.projects.metrics import metrics_for_task


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


@pytest.mark.parametrize(
    "recipe", ["baseline", "logistic_regression", "random_forest", "hist_gradient_boosting"]
)
def test_breast_cancer_metrics_cover_catalogue(breast_cancer_csv, recipe):
    result = _train(breast_cancer_csv, "diagnosis", recipe, "classification")

    expected = {spec.name for spec in metrics_for_task("classification")}
    assert set(result.metrics) == expected
    assert result.threshold == 0.5
    assert result.expected_cost is None
    assert result.holdout_rows == 114
    json.dumps(result.metrics, allow_nan=False)


def test_logistic_regression_beats_baseline(breast_cancer_csv):
    model = _train(breast_cancer_csv, "diagnosis", "logistic_regression", "classification")
    baseline = _train(breast_cancer_csv, "diagnosis", "baseline", "classification")

    assert model.metrics["roc_auc"] > 0.97
    assert baseline.metrics["roc_auc"] == pytest.approx(0.5)
    assert model.metrics["accuracy"] > baseline.metrics["accuracy"]


def test_stratified_split_keeps_class_balance(breast_cancer_csv):
    result = _train(breast_cancer_csv, "diagnosis", "baseline", "classification")

    # 357 of 569 rows are class 1; a stratified 114-row holdout keeps the same share.
    assert result.metrics["accuracy"] == pytest.approx(72 / 114)


def test_costs_move_threshold_and_report_cost(breast_cancer_csv):
    result = _train(
        breast_cancer_csv,
        "diagnosis",
        "logistic_regression",
        "classification",
        cost_false_positive=20.0,
        cost_false_negative=1.0,
    )

    assert result.threshold != 0.5
    assert result.expected_cost is not None
    assert result.expected_cost >= 0
    assert result.metrics["expected_cost"] == result.expected_cost


@pytest.mark.parametrize("recipe", ["baseline", "ridge", "random_forest", "hist_gradient_boosting"])
def test_diabetes_regression_metrics(diabetes_csv, recipe):
    result = _train(diabetes_csv, "progression", recipe, "regression")

    assert set(result.metrics) == {"rmse", "mae", "mape", "r2"}
    assert all(value is not None for value in result.metrics.values())
    assert result.threshold is None
    assert result.expected_cost is None
    assert "probabilities" not in result.holdout_sample


def test_ridge_beats_baseline_on_diabetes(diabetes_csv):
    model = _train(diabetes_csv, "progression", "ridge", "regression")
    baseline = _train(diabetes_csv, "progression", "baseline", "regression")

    assert model.metrics["rmse"] < baseline.metrics["rmse"]
    assert model.metrics["r2"] > 0.3


def test_holdout_sample_is_json_safe_and_replays(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100, 20, 200),
            "channel": rng.choice(["web", "shop", None], 200),
            "flagged": rng.choice([True, False], 200),
            "label": rng.choice(["fraud", "ok"], 200),
        }
    )
    frame.loc[:20, "amount"] = np.nan
    path = tmp_path / "payments.csv"
    frame.to_csv(path, index=False)

    result = _train(path, "label", "hist_gradient_boosting", "classification")
    sample = result.holdout_sample

    text = json.dumps(sample, allow_nan=False)
    assert len(sample["rows"]) == 5
    assert sample["classes"] == ["fraud", "ok"]
    assert len(sample["probabilities"]) == 5
    replayed = result.pipeline.predict(pd.DataFrame(json.loads(text)["rows"]))
    assert list(replayed) == sample["predictions"]


def test_multiclass_uses_macro_averages(tmp_path):
    from sklearn.datasets import load_iris

    path = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)

    result = _train(path, "target", "logistic_regression", "classification")

    assert result.metrics["roc_auc"] > 0.9
    assert result.metrics["f1"] > 0.8
    assert result.threshold is None


def test_one_class_holdout_leaves_metrics_undefined(tmp_path):
    # Twelve rows of class 0 and one of class 1: the stratified split fails, and the
    # plain split with this seed keeps the single positive row in training.
    frame = pd.DataFrame({"x": range(13), "label": [0] * 12 + [1]})
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)

    result = _train(path, "label", "baseline", "classification", seed=0)

    assert result.metrics["roc_auc"] is None
    assert result.metrics["pr_auc"] is None
    assert result.metrics["precision"] is None
    assert any("plain random split" in note for note in result.warnings)
    json.dumps(result.metrics, allow_nan=False)


def test_rows_without_target_are_skipped(tmp_path):
    frame = pd.DataFrame({"x": range(40), "label": [0, 1] * 20})
    frame.loc[[3, 5], "label"] = np.nan
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)

    result = _train(path, "label", "baseline", "classification")

    assert result.train_rows + result.holdout_rows == 38
    assert "Skipped 2 rows" in result.warnings[0]


def test_too_few_rows_raise_training_error(tmp_path):
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x": [1, 2, 3], "label": [0, 1, 0]}).to_csv(path, index=False)

    with pytest.raises(TrainingError, match="at least 10"):
        _train(path, "label", "baseline", "classification")


def test_environment_names_versions(breast_cancer_csv):
    result = _train(breast_cancer_csv, "diagnosis", "baseline", "classification")

    assert set(result.environment) >= {"python", "scikit_learn", "pandas", "mlflow", "host"}


def test_threshold_minimizes_hand_computed_cost():
    y_true = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])

    # Costs per threshold with FP=1, FN=5: 0.1 -> 2, 0.35 -> 1, 0.4 -> 6, 0.5 -> 5, 0.8 -> 5,
    # above every score -> 10. The cheapest is 0.35: one false positive in four decisions.
    choice = threshold_choose(
        y_true=y_true, scores=scores, cost_false_positive=1.0, cost_false_negative=5.0
    )

    assert choice.threshold == pytest.approx(0.35)
    assert choice.expected_cost == pytest.approx(250.0)


def test_threshold_tie_prefers_closest_to_half():
    y_true = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])

    # With FP=5, FN=1, thresholds 0.5 and 0.8 both cost 1 (one missed positive).
    choice = threshold_choose(
        y_true=y_true, scores=scores, cost_false_positive=5.0, cost_false_negative=1.0
    )

    assert choice.threshold == pytest.approx(0.5)
    assert choice.expected_cost == pytest.approx(250.0)


def test_threshold_without_costs_is_half():
    choice = threshold_choose(
        y_true=np.array([0, 1]),
        scores=np.array([0.2, 0.9]),
        cost_false_positive=None,
        cost_false_negative=3.0,
    )

    assert choice.threshold == 0.5
    assert choice.expected_cost is None


def test_threshold_can_predict_no_positives():
    choice = threshold_choose(
        y_true=np.array([0, 0, 0, 1]),
        scores=np.array([0.9, 0.95, 0.99, 0.3]),
        cost_false_positive=10.0,
        cost_false_negative=1.0,
    )

    assert choice.threshold > 0.99
    assert choice.expected_cost is not None
    assert math.isclose(choice.expected_cost, 250.0)


def test_value_of_true_positive_moves_threshold_down():
    truth = np.array([1, 1, 0, 0])
    scores = np.array([0.9, 0.4, 0.6, 0.1])

    errors_only = threshold_choose(
        y_true=truth, scores=scores, cost_false_positive=3.0, cost_false_negative=1.0
    )
    with_value = threshold_choose(
        y_true=truth,
        scores=scores,
        cost_false_positive=3.0,
        cost_false_negative=1.0,
        value_true_positive=5.0,
    )

    assert (errors_only.threshold, errors_only.expected_cost) == (0.9, 250.0)
    assert (with_value.threshold, with_value.expected_cost) == (0.4, -1750.0)
