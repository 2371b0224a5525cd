"""Holdout diagnostics for charts: curves, confusion matrix, feature importance, residuals.

Pure computation, like ``training``: the result is the JSON stored in
``Iteration.evaluation`` and logged to MLflow next to the model. Every list is capped so the
JSON stays small whatever the holdout size.
"""

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

CURVE_MAX_POINTS = 200
CALIBRATION_BINS = 10
COST_CURVE_POINTS = 101
FEATURE_IMPORTANCE_TOP = 30
RESIDUALS_MAX_POINTS = 500
PERMUTATION_MAX_ROWS = 500
PERMUTATION_REPEATS = 5
PERMUTATION_MAX_COLUMN_SCORINGS = 50_000
"""Budget of permutation importance: scorings times input columns (see permutation_plan)."""
PERMUTATION_MIN_SAMPLED_COLUMNS = 10

IMPORTANCE_FROM_MODEL = "model"
IMPORTANCE_FROM_PERMUTATION = "permutation"


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _finite_list(values: Any) -> list[float | None]:
    return [_finite(value) for value in np.asarray(values, dtype=float).ravel()]


def curve_thin(*arrays: Any, max_points: int = CURVE_MAX_POINTS) -> list[list[float | None]]:
    """Keep at most ``max_points`` evenly spaced points of parallel arrays, ends included."""
    length = len(arrays[0])
    if length <= max_points:
        indices = np.arange(length)
    else:
        indices = np.unique(np.linspace(0, length - 1, max_points).round().astype(int))
    return [_finite_list(np.asarray(array)[indices]) for array in arrays]


def decision_costs(
    *,
    y_true: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    thresholds: np.ndarray[Any, Any],
    cost_false_positive: float,
    cost_false_negative: float,
    value_true_positive: float | None = None,
) -> np.ndarray[Any, Any]:
    """Return the total cost of errors at each threshold, less the value of true positives.

    ``y_true`` is 1 for positives, and a row is predicted positive when its score is at or
    above the threshold.
    """
    positives = y_true == 1
    # Sorted scores per class turn "how many score at or above t" into a binary search, so
    # every threshold costs O(log n) rather than a pass over the holdout.
    positive_scores = np.sort(scores[positives])
    negative_scores = np.sort(scores[~positives])
    true_positives = len(positive_scores) - np.searchsorted(positive_scores, thresholds, "left")
    false_positives = len(negative_scores) - np.searchsorted(negative_scores, thresholds, "left")
    false_negatives = len(positive_scores) - true_positives
    costs = false_positives * cost_false_positive + false_negatives * cost_false_negative
    if value_true_positive:
        costs = costs - true_positives * value_true_positive
    return np.asarray(costs, dtype=float)


def binary_evaluation(
    *,
    truth: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    labels: Sequence[Any],
    threshold: float,
    cost_false_positive: float | None,
    cost_false_negative: float | None,
    value_true_positive: float | None,
) -> dict[str, Any]:
    """Return the ROC, PR and calibration curves, confusion matrix and cost curve.

    ``truth`` is 1 for the positive class and 0 otherwise, ``scores`` the positive-class
    probabilities and ``labels`` the ``[negative, positive]`` class labels to show.
    """
    result: dict[str, Any] = {}
    both_present = len(np.unique(truth)) == 2
    if both_present:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fpr, tpr, _ = skm.roc_curve(truth, scores)
            precision, recall, _ = skm.precision_recall_curve(truth, scores)
            fraction_positive, mean_predicted = calibration_curve(
                truth, scores, n_bins=CALIBRATION_BINS, strategy="uniform"
            )
        fpr_points, tpr_points = curve_thin(fpr, tpr)
        result["roc"] = {
            "fpr": fpr_points,
            "tpr": tpr_points,
            "auc": _finite(skm.auc(fpr, tpr)),
        }
        recall_points, precision_points = curve_thin(recall, precision)
        result["pr"] = {
            "recall": recall_points,
            "precision": precision_points,
            "average_precision": _finite(skm.average_precision_score(truth, scores)),
        }
        result["calibration"] = {
            "mean_predicted": _finite_list(mean_predicted),
            "fraction_positive": _finite_list(fraction_positive),
        }
    predicted = (scores >= threshold).astype(int)
    matrix = skm.confusion_matrix(truth, predicted, labels=[0, 1])
    result["confusion"] = {
        "labels": list(labels),
        "matrix": matrix.astype(int).tolist(),
        "threshold": float(threshold),
    }
    if cost_false_positive is not None and cost_false_negative is not None and len(truth):
        thresholds = np.linspace(0.0, 1.0, COST_CURVE_POINTS)
        costs = decision_costs(
            y_true=truth,
            scores=scores,
            thresholds=thresholds,
            cost_false_positive=cost_false_positive,
            cost_false_negative=cost_false_negative,
            value_true_positive=value_true_positive,
        )
        result["cost_curve"] = {
            "thresholds": _finite_list(thresholds),
            "expected_cost": _finite_list(costs / len(truth) * 1000),
        }
    return result


def multiclass_evaluation(
    *, truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any], labels: Sequence[Any]
) -> dict[str, Any]:
    """Return the confusion matrix of the most probable class, rows being the true class."""
    matrix = skm.confusion_matrix(truth, predicted, labels=list(labels))
    return {
        "confusion": {
            "labels": list(labels),
            "matrix": matrix.astype(int).tolist(),
            "threshold": None,
        }
    }


def regression_evaluation(
    *, truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any], seed: int
) -> dict[str, Any]:
    """Return a sample of at most 500 holdout points of prediction and residual (true - predicted)."""
    predicted = np.asarray(predicted, dtype=float)
    residual = np.asarray(truth, dtype=float) - predicted
    indices = np.arange(len(predicted))
    if len(indices) > RESIDUALS_MAX_POINTS:
        indices = np.sort(
            np.random.default_rng(seed).choice(indices, RESIDUALS_MAX_POINTS, replace=False)
        )
    return {
        "residuals": {
            "predicted": _finite_list(predicted[indices]),
            "residual": _finite_list(residual[indices]),
        }
    }


def _input_column_of(name: str, columns: Sequence[str]) -> str | None:
    """Return the input column an encoded feature such as ``city_Paris`` came from."""
    matches = [c for c in columns if name == c or name.startswith(f"{c}_")]
    return max(matches, key=len) if matches else None


def _model_importances(pipeline: Pipeline) -> dict[str, float] | None:
    """Sum the estimator's own importances (or absolute coefficients) per input column.

    Returns None when the estimator has neither, or when the encoded feature names cannot be
    traced back to input columns.
    """
    model = pipeline.steps[-1][1]
    raw = getattr(model, "feature_importances_", None)
    if raw is None:
        coefficients = getattr(model, "coef_", None)
        if coefficients is None:
            return None
        raw = np.abs(np.asarray(coefficients, dtype=float))
        if raw.ndim == 2:
            # One row per class in multiclass models: average the magnitudes.
            raw = raw.mean(axis=0)
    values = np.asarray(raw, dtype=float).ravel()
    preprocess = pipeline.steps[0][1] if len(pipeline.steps) > 1 else None
    if not isinstance(preprocess, ColumnTransformer):
        return None
    try:
        encoded_names = list(preprocess.get_feature_names_out())
    except (AttributeError, ValueError) as error:
        logger.info("encoded feature names unavailable: %s", error)
        return None
    if len(encoded_names) != len(values):
        return None
    block_columns = {
        name: list(columns) for name, _, columns in preprocess.transformers_ if name != "remainder"
    }
    block_sets = {name: frozenset(columns) for name, columns in block_columns.items()}
    totals: dict[str, float] = {}
    for encoded, value in zip(encoded_names, values, strict=True):
        block, _, feature = str(encoded).partition("__")
        # Numeric and datetime features keep their column's name, so the set lookup spares
        # a scan of every column for each of them.
        block_names = block_sets.get(block, frozenset())
        column = (
            feature
            if feature in block_names
            else _input_column_of(feature, block_columns.get(block, []))
        )
        if column is None:
            return None
        totals[column] = totals.get(column, 0.0) + float(value)
    return totals


class ImportanceCancelled(Exception):
    """Raised between permutation repeats when the caller's cancel check returns True."""


@dataclass(frozen=True)
class PermutationPlan:
    """The input columns that permutation importance shuffles, and the repeats for each."""

    columns: list[str]
    repeats: int
    note: str | None = None


def permutation_plan(columns: Sequence[str], *, seed: int) -> PermutationPlan:
    """Fit permutation importance into ``PERMUTATION_MAX_COLUMN_SCORINGS``.

    Each scoring predicts with every input column, so the work grows with the scorings
    (columns shuffled times repeats) times the column count. Over the budget, the plan
    first drops repeats, then shuffles a random sample of columns once, and below
    ``PERMUTATION_MIN_SAMPLED_COLUMNS`` sampled columns it shuffles none. ``note`` describes
    the cut for the user.
    """
    count = len(columns)
    if count == 0:
        return PermutationPlan(columns=[], repeats=0)
    if count * count * PERMUTATION_REPEATS <= PERMUTATION_MAX_COLUMN_SCORINGS:
        return PermutationPlan(columns=list(columns), repeats=PERMUTATION_REPEATS)
    repeats = PERMUTATION_MAX_COLUMN_SCORINGS // (count * count)
    if repeats >= 1:
        return PermutationPlan(
            columns=list(columns),
            repeats=repeats,
            note=f"Permutation importance shuffled each of the {count} columns {repeats} "
            f"times instead of {PERMUTATION_REPEATS} to bound the work.",
        )
    sampled = PERMUTATION_MAX_COLUMN_SCORINGS // count
    if sampled < PERMUTATION_MIN_SAMPLED_COLUMNS:
        return PermutationPlan(
            columns=[],
            repeats=0,
            note=f"Feature importance was skipped: permutation importance on {count} columns "
            "would take too long.",
        )
    generator = np.random.default_rng(seed)
    chosen = sorted(generator.choice(count, size=sampled, replace=False).tolist())
    return PermutationPlan(
        columns=[columns[index] for index in chosen],
        repeats=1,
        note=f"Permutation importance shuffled a random sample of {sampled} of the {count} "
        "columns once, to bound the work; the other columns have no importance.",
    )


def _permutation_importances(
    pipeline: Any,
    x_test: pd.DataFrame,
    y_test: "pd.Series[Any]",
    *,
    seed: int,
    notes: list[str],
    cancel_check: Callable[[], bool],
) -> dict[str, float] | None:
    """Return the mean drop in the estimator's default score when each column is shuffled."""
    sample_x, sample_y = x_test, y_test
    if len(x_test) > PERMUTATION_MAX_ROWS:
        sample_x = x_test.sample(PERMUTATION_MAX_ROWS, random_state=seed)
        sample_y = y_test.loc[sample_x.index]

    plan = permutation_plan([str(column) for column in sample_x.columns], seed=seed)
    if plan.note:
        notes.append(plan.note)
    if not plan.columns:
        return None
    # A copy with string labels, shuffled one column at a time and restored after, so no
    # scoring copies the whole frame.
    frame = sample_x.copy()
    frame.columns = [str(column) for column in frame.columns]
    generator = np.random.default_rng(seed)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scorer = check_scoring(pipeline)
            reference = float(scorer(pipeline, frame, sample_y))
            totals: dict[str, float] = {}
            for column in plan.columns:
                original = frame[column].copy()
                drops = []
                for _ in range(plan.repeats):
                    if cancel_check():
                        raise ImportanceCancelled
                    frame[column] = original.to_numpy()[generator.permutation(len(frame))]
                    drops.append(reference - float(scorer(pipeline, frame, sample_y)))
                frame[column] = original
                totals[column] = float(np.mean(drops))
    except (ValueError, TypeError, AttributeError) as error:
        logger.info("permutation importance failed: %s", error)
        return None
    return totals


def _never_cancelled() -> bool:
    return False


def feature_importance(
    pipeline: Any,
    x_test: pd.DataFrame,
    y_test: "pd.Series[Any]",
    *,
    seed: int,
    allow_permutation: bool = True,
    notes: list[str] | None = None,
    cancel_check: Callable[[], bool] = _never_cancelled,
) -> tuple[list[dict[str, Any]], str] | None:
    """Return the top 30 input columns by importance, largest first, and the method used.

    The estimator's own importances or coefficients come first. Without them, and when
    ``allow_permutation`` is set, permutation importance on at most 500 holdout rows
    measures the drop in the estimator's score, within the budget of ``permutation_plan``.
    Lines about cut or skipped work are appended to ``notes``. Raises ImportanceCancelled
    when ``cancel_check`` returns True between permutation repeats.
    """
    method = IMPORTANCE_FROM_MODEL
    totals = _model_importances(pipeline) if isinstance(pipeline, Pipeline) else None
    if totals is None and allow_permutation:
        method = IMPORTANCE_FROM_PERMUTATION
        totals = _permutation_importances(
            pipeline,
            x_test,
            y_test,
            seed=seed,
            notes=notes if notes is not None else [],
            cancel_check=cancel_check,
        )
    if totals is None:
        return None
    ranked = sorted(
        ((column, value) for column, value in totals.items() if np.isfinite(value)),
        key=lambda item: (-item[1], item[0]),
    )
    return [
        {"feature": column, "importance": value}
        for column, value in ranked[:FEATURE_IMPORTANCE_TOP]
    ], method
