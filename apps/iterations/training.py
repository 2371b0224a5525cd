"""Train and evaluate one iteration. Pure computation: no database, no MLflow.

Binary classification picks the decision threshold that minimizes the expected cost of
errors on the holdout when the project states both error costs, and uses 0.5 otherwise.
The positive class is the larger of the two labels (1 for 0/1 labels).
"""

import datetime
import logging
import math
import platform
import sys
import time
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from apps.datasets.ingest import MIN_TRAINING_ROWS, dataset_frame_read
from apps.iterations.evaluation import (
    ImportanceCancelled,
    binary_evaluation,
    decision_costs,
    feature_importance,
    multiclass_evaluation,
    regression_evaluation,
)
from apps.iterations.recipes import (
    CLASSIFICATION,
    REGRESSION,
    SEARCH_DEFAULT_SCORING,
    SEARCH_PARAM,
    SEARCH_SCORING,
    Recipe,
    pipeline_build,
)

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
HOLDOUT_SAMPLE_ROWS = 5


STAGE_LOADING = "loading"
STAGE_FITTING = "fitting"
STAGE_EVALUATING = "evaluating"

StageCallback = Callable[[str, str], None]
"""Receives a stage name and a short line describing it as training enters that stage."""


def _stage_ignore(stage: str, line: str) -> None:
    pass


CancelCheck = Callable[[], bool]
"""Returns True once the iteration has been cancelled, so that training stops early."""


def _never_cancelled() -> bool:
    return False


class TrainingError(Exception):
    """A problem in the data that stops training. The message states what to change."""


class TrainingCancelled(Exception):
    """Raised between stages, search candidates and permutation repeats after a cancel."""


def _cancel_raise(cancel_check: CancelCheck) -> None:
    if cancel_check():
        raise TrainingCancelled


@dataclass
class TrainingResult:
    pipeline: Pipeline
    metrics: dict[str, float | None]
    threshold: float | None
    expected_cost: float | None
    feature_columns: list[str]
    holdout_sample: dict[str, Any]
    input_example: pd.DataFrame
    environment: dict[str, str]
    train_rows: int
    holdout_rows: int
    warnings: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    """Holdout curves and diagnostics in the shape of ``Iteration.evaluation``."""
    search: dict[str, Any] | None = None
    """The hyperparameter search summary when the params request a search, else None.

    Keys: ``method``, ``scoring``, ``folds``, ``candidates``, ``rows`` (training rows the
    search was fitted on), ``best_params`` and ``best_score`` (mean cross-validation score on
    scikit-learn's scale, where higher is better, so errors such as rmse are negated).
    """


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    expected_cost: float | None


@dataclass
class HoldoutSplit:
    """The labelled rows of a dataset split into training and holdout parts."""

    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: "pd.Series[Any]"
    y_test: "pd.Series[Any]"
    notes: list[str]


@dataclass
class HoldoutEvaluation:
    metrics: dict[str, float | None]
    threshold: float | None
    expected_cost: float | None
    evaluation: dict[str, Any]


def holdout_split(
    *,
    dataset_path: str | Path,
    dataset_format: str,
    target: str,
    feature_columns: list[str],
    seed: int,
    test_size: float,
    task_type: str,
    dataset_detected: Mapping[str, Any] | None = None,
) -> HoldoutSplit:
    """Read the dataset and split it as training does. Raises TrainingError for bad data.

    Trained and linked iterations both call this, so with the same seed and test size they
    are measured on the same holdout rows.
    """
    frame = dataset_frame_read(dataset_path, file_format=dataset_format, detected=dataset_detected)
    missing_columns = [c for c in [target, *feature_columns] if c not in frame.columns]
    if missing_columns:
        raise TrainingError(f"The dataset file lacks the columns {', '.join(missing_columns)}.")
    if not feature_columns:
        raise TrainingError("The dataset has no feature columns to train on.")

    notes: list[str] = []
    labelled = frame[frame[target].notna()]
    if len(labelled) < len(frame):
        notes.append(f"Skipped {len(frame) - len(labelled)} rows without a target value.")
    if len(labelled) < MIN_TRAINING_ROWS:
        raise TrainingError(
            f"Only {len(labelled)} rows have a target value; training needs at least "
            f"{MIN_TRAINING_ROWS}."
        )
    features = labelled[feature_columns]
    labels = labelled[target]
    if task_type == REGRESSION:
        labels = _numeric_target(labels, target)
    notes.extend(_constant_column_notes(features))

    x_train, x_test, y_train, y_test = _split(
        features, labels, task_type=task_type, test_size=test_size, seed=seed, notes=notes
    )
    return HoldoutSplit(x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test, notes=notes)


def _constant_column_notes(features: pd.DataFrame) -> list[str]:
    constant = [str(c) for c in features.columns if features[c].nunique(dropna=True) <= 1]
    if not constant:
        return []
    return [
        f"The columns {', '.join(constant)} have a single value (or none), so they carry no "
        "information for the model."
    ]


def train(
    *,
    dataset_path: str | Path,
    dataset_format: str,
    target: str,
    feature_columns: list[str],
    recipe: Recipe,
    params: dict[str, Any],
    seed: int,
    test_size: float,
    task_type: str,
    cost_false_positive: float | None = None,
    cost_false_negative: float | None = None,
    value_true_positive: float | None = None,
    dataset_detected: Mapping[str, Any] | None = None,
    datetime_columns: Sequence[str] = (),
    on_stage: StageCallback = _stage_ignore,
    cancel_check: CancelCheck = _never_cancelled,
) -> TrainingResult:
    """Split, fit and evaluate. Raises TrainingError for problems in the data.

    ``dataset_detected`` is the encoding and dialect found at upload, so the file is read
    exactly as it was checked. ``datetime_columns`` names the feature columns that hold dates
    or timestamps, which the pipeline expands into numeric parts. ``on_stage`` is called once
    as each of the loading, fitting and evaluating stages begins. ``cancel_check`` is called
    between stages, after each search candidate's fold and between permutation repeats, and
    training raises TrainingCancelled as soon as it returns True.
    """
    started = time.monotonic()
    on_stage(STAGE_LOADING, "Reading the dataset file.")
    split = holdout_split(
        dataset_path=dataset_path,
        dataset_format=dataset_format,
        target=target,
        feature_columns=feature_columns,
        seed=seed,
        test_size=test_size,
        task_type=task_type,
        dataset_detected=dataset_detected,
    )
    _cancel_raise(cancel_check)
    x_train, x_test, y_train = split.x_train, split.x_test, split.y_train
    dates = [c for c in feature_columns if c in set(datetime_columns)]
    numeric = [c for c in feature_columns if c not in dates and _is_numeric(x_train[c])]
    categorical = [c for c in feature_columns if c not in numeric and c not in dates]
    pipeline = pipeline_build(
        recipe,
        task_type=task_type,
        params=params,
        seed=seed,
        numeric_columns=numeric,
        categorical_columns=categorical,
        datetime_columns=dates,
    )
    on_stage(
        STAGE_FITTING,
        f"Fitting {recipe.name} on {len(x_train)} rows and {len(feature_columns)} columns.",
    )
    search_summary: dict[str, Any] | None = None
    search = params.get(SEARCH_PARAM)
    try:
        if search:
            pipeline, search_summary = _search_fit(
                pipeline,
                x_train,
                y_train,
                search=search,
                task_type=task_type,
                seed=seed,
                cancel_check=cancel_check,
            )
        else:
            pipeline.fit(x_train, y_train)
    except ValueError as error:
        raise TrainingError(f"The {recipe.name} model could not be fitted: {error}") from error

    _cancel_raise(cancel_check)
    on_stage(STAGE_EVALUATING, f"Evaluating on {len(x_test)} holdout rows.")
    evaluated = holdout_evaluate(
        pipeline,
        x_test,
        split.y_test,
        task_type=task_type,
        seed=seed,
        cost_false_positive=cost_false_positive,
        cost_false_negative=cost_false_negative,
        value_true_positive=value_true_positive,
        # A baseline ignores all or all but one column, so shuffling columns measures
        # nothing, and on a wide dataset it costs minutes.
        allow_permutation=not recipe.is_baseline,
        cancel_check=cancel_check,
    )
    _cancel_raise(cancel_check)

    sample = x_test.head(HOLDOUT_SAMPLE_ROWS)
    logger.info(
        "trained %s on %s rows, evaluated on %s rows in %.1fs",
        recipe.name,
        len(x_train),
        len(x_test),
        time.monotonic() - started,
    )
    return TrainingResult(
        pipeline=pipeline,
        metrics=evaluated.metrics,
        threshold=evaluated.threshold,
        expected_cost=evaluated.expected_cost,
        feature_columns=list(feature_columns),
        holdout_sample=holdout_sample_build(pipeline, sample, task_type=task_type),
        input_example=sample,
        environment=environment_describe(packages=_recipe_packages(recipe)),
        train_rows=len(x_train),
        holdout_rows=len(x_test),
        warnings=split.notes,
        search=search_summary,
        evaluation=evaluated.evaluation,
    )


def _recipe_packages(recipe: Recipe) -> tuple[str, ...]:
    return RECIPE_PACKAGES.get(recipe.name, ())


RECIPE_PACKAGES = {"lightgbm": ("lightgbm",), "xgboost": ("xgboost", "xgboost-cpu")}
"""The distribution names of the optional libraries a recipe trains with."""


def holdout_evaluate(
    model: Any,
    x_test: pd.DataFrame,
    y_test: "pd.Series[Any]",
    *,
    task_type: str,
    seed: int,
    cost_false_positive: float | None = None,
    cost_false_negative: float | None = None,
    value_true_positive: float | None = None,
    allow_permutation: bool = True,
    cancel_check: CancelCheck = _never_cancelled,
) -> HoldoutEvaluation:
    """Measure a fitted model on the holdout: metrics, decision threshold and chart data.

    ``model`` needs ``predict``, and for classification ``predict_proba`` and ``classes_``.
    Without ``allow_permutation``, feature importance comes only from the model itself.
    Raises TrainingCancelled when ``cancel_check`` returns True during feature importance.
    """
    threshold: float | None = None
    expected_cost: float | None = None
    if task_type == CLASSIFICATION:
        metrics, threshold, expected_cost, evaluation = _evaluate_classifier(
            model,
            x_test,
            y_test,
            cost_false_positive=cost_false_positive,
            cost_false_negative=cost_false_negative,
            value_true_positive=value_true_positive,
        )
    else:
        metrics, evaluation = _evaluate_regressor(model, x_test, y_test, seed=seed)
    notes: list[str] = []
    try:
        importance = feature_importance(
            model,
            x_test,
            y_test,
            seed=seed,
            allow_permutation=allow_permutation,
            notes=notes,
            cancel_check=cancel_check,
        )
    except ImportanceCancelled:
        raise TrainingCancelled from None
    if importance is not None:
        evaluation["feature_importance"], evaluation["feature_importance_method"] = importance
    if notes:
        evaluation["feature_importance_note"] = " ".join(notes)
    return HoldoutEvaluation(
        metrics=metrics,
        threshold=threshold,
        expected_cost=finite_or_none(expected_cost),
        evaluation=evaluation,
    )


def search_mlflow_params(search: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the search summary as flat MLflow params: ``search.best.<param>`` and totals."""
    if not search:
        return {}
    flat: dict[str, Any] = {
        f"search.best.{name}": value for name, value in search["best_params"].items()
    }
    flat["search.best_score"] = search["best_score"]
    flat["search.candidates"] = search["candidates"]
    flat["search.scoring"] = search["scoring"]
    return flat


def _search_fit(
    pipeline: Pipeline,
    x_train: pd.DataFrame,
    y_train: "pd.Series[Any]",
    *,
    search: Mapping[str, Any],
    task_type: str,
    seed: int,
    cancel_check: CancelCheck = _never_cancelled,
) -> tuple[Pipeline, dict[str, Any]]:
    """Search the space with cross-validation on the training split only.

    Returns the best pipeline, refitted on the whole training split, and the summary stored
    in ``TrainingResult.search``. Raises ValueError when a candidate cannot be fitted or the
    folds do not fit the data.
    """
    scoring_name = search.get("scoring") or SEARCH_DEFAULT_SCORING[task_type]
    if SEARCH_SCORING[scoring_name][0] != task_type:
        # Params validated without the project's task type let any catalogue scoring through.
        raise ValueError(f"the search scoring {scoring_name} does not apply to {task_type}")
    space = {f"model__{name}": list(values) for name, values in search["space"].items()}
    cv: StratifiedKFold | KFold
    if task_type == CLASSIFICATION:
        cv = StratifiedKFold(n_splits=search["folds"], shuffle=True, random_state=seed)
    else:
        cv = KFold(n_splits=search["folds"], shuffle=True, random_state=seed)
    scorer = _CancellableScorer(
        skm.check_scoring(
            pipeline, scoring=_search_scorer(scoring_name, task_type=task_type, labels=y_train)
        ),
        cancel_check,
    )
    searcher: GridSearchCV | RandomizedSearchCV
    if search["method"] == "grid":
        searcher = GridSearchCV(
            pipeline, space, scoring=scorer, cv=cv, n_jobs=1, refit=True, error_score="raise"
        )
    else:
        grid_size = math.prod(len(values) for values in space.values())
        searcher = RandomizedSearchCV(
            pipeline,
            space,
            # Sampling without replacement stops at the grid size, and scikit-learn warns
            # when asked for more.
            n_iter=min(search["iterations"], grid_size),
            scoring=scorer,
            cv=cv,
            n_jobs=1,
            refit=True,
            random_state=seed,
            error_score="raise",
        )
    searcher.fit(x_train, y_train)
    best_params = {
        key.removeprefix("model__"): json_safe(value)
        for key, value in searcher.best_params_.items()
    }
    summary = {
        "method": search["method"],
        "scoring": scoring_name,
        "folds": search["folds"],
        "candidates": len(searcher.cv_results_["params"]),
        "rows": len(x_train),
        "best_params": best_params,
        "best_score": finite_or_none(searcher.best_score_),
    }
    return searcher.best_estimator_, summary


class _CancellableScorer:
    """A scorer that checks for a cancel before scoring each candidate on each fold.

    scikit-learn's searches have no hook between candidates, but they call the scorer
    after every fit, and with ``error_score="raise"`` an exception from it stops the search.
    """

    def __init__(self, scorer: Any, cancel_check: CancelCheck) -> None:
        self.scorer = scorer
        self.cancel_check = cancel_check

    def __call__(self, estimator: Any, x: Any, y: Any, **kwargs: Any) -> Any:
        _cancel_raise(self.cancel_check)
        return self.scorer(estimator, x, y, **kwargs)


def _search_scorer(name: str, *, task_type: str, labels: "pd.Series[Any]") -> Any:
    scoring = SEARCH_SCORING[name][1]
    if task_type != CLASSIFICATION:
        return scoring
    classes = sorted(labels.unique().tolist())
    if len(classes) > 2:
        multiclass = {
            "roc_auc": "roc_auc_ovr",
            "f1": "f1_macro",
            "precision": "precision_macro",
            "recall": "recall_macro",
        }
        if name == "pr_auc":
            return skm.make_scorer(
                skm.average_precision_score, response_method="predict_proba", average="macro"
            )
        return multiclass.get(name, scoring)
    # The holdout metrics treat the larger label as positive, and scikit-learn's named
    # scorers assume the label 1, which string labels lack.
    positive = classes[-1]
    if name == "pr_auc":
        return skm.make_scorer(
            skm.average_precision_score, response_method="predict_proba", pos_label=positive
        )
    if name in ("f1", "precision", "recall"):
        function = {
            "f1": skm.f1_score,
            "precision": skm.precision_score,
            "recall": skm.recall_score,
        }
        return skm.make_scorer(function[name], pos_label=positive, zero_division=0.0)
    return scoring


def _is_numeric(series: "pd.Series[Any]") -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _numeric_target(labels: "pd.Series[Any]", target: str) -> "pd.Series[Any]":
    if pd.api.types.is_bool_dtype(labels) or not pd.api.types.is_numeric_dtype(labels):
        raise TrainingError(
            f"The target column '{target}' is not numeric, so it cannot be a regression target."
        )
    return labels.astype(float)


def _split(
    features: pd.DataFrame,
    labels: "pd.Series[Any]",
    *,
    task_type: str,
    test_size: float,
    seed: int,
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, "pd.Series[Any]", "pd.Series[Any]"]:
    if task_type == CLASSIFICATION:
        counts = labels.value_counts()
        if len(counts) < 2:
            raise TrainingError("The target has a single class; classification needs two.")
        try:
            parts = train_test_split(
                features, labels, test_size=test_size, random_state=seed, stratify=labels
            )
        except ValueError as error:
            smallest = counts.idxmin()
            notes.append(
                f"Used a plain random split because a stratified one failed: class "
                f"{smallest!r} has {int(counts.min())} rows ({error})."
            )
            logger.warning("stratified split failed, falling back to a plain split: %s", error)
        else:
            return parts[0], parts[1], parts[2], parts[3]
    parts = train_test_split(features, labels, test_size=test_size, random_state=seed)
    return parts[0], parts[1], parts[2], parts[3]


def threshold_choose(
    *,
    y_true: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    cost_false_positive: float | None,
    cost_false_negative: float | None,
    value_true_positive: float | None = None,
) -> ThresholdChoice:
    """Choose the threshold on positive-class ``scores`` with the lowest cost of errors.

    ``y_true`` is 1 for positives and 0 for negatives, and a row is predicted positive when
    its score is at or above the threshold. Candidates are every distinct score, 0.5 and one
    value above all scores (no positive predictions). Among equally cheap thresholds, the
    one closest to 0.5 wins. Without both costs the threshold is 0.5 and the cost is None.
    ``expected_cost`` is the cost per 1,000 decisions, in the costs' unit, less the value of
    the true positives when ``value_true_positive`` is set, so it can be negative.
    """
    if cost_false_positive is None or cost_false_negative is None or len(y_true) == 0:
        return ThresholdChoice(threshold=DEFAULT_THRESHOLD, expected_cost=None)
    candidates = np.unique(np.append(scores, [DEFAULT_THRESHOLD, np.nextafter(1.0, 2.0)]))
    costs = decision_costs(
        y_true=y_true,
        scores=scores,
        thresholds=candidates,
        cost_false_positive=cost_false_positive,
        cost_false_negative=cost_false_negative,
        value_true_positive=value_true_positive,
    )
    # np.lexsort sorts by its last key first: cost, then distance from 0.5, then the higher
    # threshold.
    best = int(np.lexsort((-candidates, np.abs(candidates - DEFAULT_THRESHOLD), costs))[0])
    # Costs near the largest float overflow to infinity, which is stored as undefined.
    return ThresholdChoice(
        threshold=float(candidates[best]),
        expected_cost=finite_or_none(float(costs[best]) / len(y_true) * 1000),
    )


def _evaluate_classifier(
    pipeline: Any,
    x_test: pd.DataFrame,
    y_test: "pd.Series[Any]",
    *,
    cost_false_positive: float | None,
    cost_false_negative: float | None,
    value_true_positive: float | None = None,
) -> tuple[dict[str, float | None], float | None, float | None, dict[str, Any]]:
    classes = list(pipeline.classes_)
    probabilities = pipeline.predict_proba(x_test)
    y_true = y_test.to_numpy()
    metrics: dict[str, float | None] = {}

    if len(classes) == 2:
        positive = classes[1]  # classes_ is sorted, so this is the larger label
        scores = probabilities[:, 1]
        truth = (y_true == positive).astype(int)
        choice = threshold_choose(
            y_true=truth,
            scores=scores,
            cost_false_positive=cost_false_positive,
            cost_false_negative=cost_false_negative,
            value_true_positive=value_true_positive,
        )
        predicted = (scores >= choice.threshold).astype(int)
        metrics["accuracy"] = _safe(skm.accuracy_score, truth, predicted)
        metrics["precision"] = _safe(skm.precision_score, truth, predicted, zero_division=np.nan)
        metrics["recall"] = _safe(skm.recall_score, truth, predicted, zero_division=np.nan)
        metrics["f1"] = _safe(skm.f1_score, truth, predicted, zero_division=np.nan)
        both_present = len(np.unique(truth)) == 2
        metrics["roc_auc"] = _safe(skm.roc_auc_score, truth, scores) if both_present else None
        metrics["pr_auc"] = (
            _safe(skm.average_precision_score, truth, scores) if both_present else None
        )
        metrics["log_loss"] = _safe(skm.log_loss, truth, scores, labels=[0, 1])
        # Also a metric, so stakeholders can set a target on the cost of errors itself.
        metrics["expected_cost"] = choice.expected_cost
        evaluation = binary_evaluation(
            truth=truth,
            scores=scores,
            labels=[json_safe(classes[0]), json_safe(positive)],
            threshold=choice.threshold,
            cost_false_positive=cost_false_positive,
            cost_false_negative=cost_false_negative,
            value_true_positive=value_true_positive,
        )
        return metrics, choice.threshold, choice.expected_cost, evaluation

    predicted_labels = np.asarray(pipeline.classes_)[probabilities.argmax(axis=1)]
    truth_labels = y_true
    metrics["accuracy"] = _safe(skm.accuracy_score, truth_labels, predicted_labels)
    for name, scorer in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        metrics[name] = _safe(
            scorer,
            truth_labels,
            predicted_labels,
            labels=classes,
            average="macro",
            zero_division=np.nan,
        )
    all_present = set(truth_labels.tolist()) >= {json_safe(label) for label in classes}
    metrics["roc_auc"] = (
        _safe(
            skm.roc_auc_score,
            truth_labels,
            probabilities,
            multi_class="ovr",
            average="macro",
            labels=classes,
        )
        if all_present
        else None
    )
    if all_present:
        indicator = np.column_stack([truth_labels == label for label in classes]).astype(int)
        metrics["pr_auc"] = _safe(
            skm.average_precision_score, indicator, probabilities, average="macro"
        )
    else:
        metrics["pr_auc"] = None
    metrics["log_loss"] = _safe(skm.log_loss, truth_labels, probabilities, labels=classes)
    evaluation = multiclass_evaluation(
        truth=truth_labels, predicted=predicted_labels, labels=classes
    )
    evaluation["confusion"]["labels"] = [json_safe(label) for label in classes]
    return metrics, None, None, evaluation


def _evaluate_regressor(
    pipeline: Any, x_test: pd.DataFrame, y_test: "pd.Series[Any]", *, seed: int
) -> tuple[dict[str, float | None], dict[str, Any]]:
    predicted = np.asarray(pipeline.predict(x_test), dtype=float)
    y_true = y_test.to_numpy(dtype=float)
    has_zero = bool(np.any(y_true == 0))
    evaluation = regression_evaluation(truth=y_true, predicted=predicted, seed=seed)
    metrics = {
        "rmse": _safe(skm.root_mean_squared_error, y_true, predicted),
        "mae": _safe(skm.mean_absolute_error, y_true, predicted),
        # MAPE divides by the true value, so one zero makes it meaningless.
        "mape": None if has_zero else _safe(skm.mean_absolute_percentage_error, y_true, predicted),
        "r2": _safe(skm.r2_score, y_true, predicted, force_finite=False)
        if len(y_true) >= 2
        else None,
    }
    return metrics, evaluation


def _safe(function: Any, *args: Any, **kwargs: Any) -> float | None:
    """Call a metric function and return a finite float, or None where it is undefined."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = function(*args, **kwargs)
    except ValueError as error:
        logger.info("metric %s undefined: %s", getattr(function, "__name__", function), error)
        return None
    return finite_or_none(value)


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a float, or None when it is missing, not a number or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_finite(value: Any) -> Any:
    """Return a copy of JSON-like ``value`` with every NaN or infinite float replaced by None.

    JSON has no such numbers, and the database's JSON check rejects them.
    """
    if isinstance(value, dict):
        return {key: json_finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return finite_or_none(value)
    return value


def json_safe(value: Any) -> Any:
    """Convert a pandas or numpy scalar to a JSON value: NaN and NaT become None."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp, datetime.datetime, datetime.date)):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def holdout_sample_build(
    pipeline: Pipeline, sample: pd.DataFrame, *, task_type: str
) -> dict[str, Any]:
    """Return holdout rows with the pipeline's output on them, for replay after a deploy.

    ``predictions`` are ``pipeline.predict`` (for classifiers, the most probable class, not
    the cost-based threshold). Classifiers also get ``classes`` and per-row
    ``probabilities`` in that class order.
    """
    rows = [
        {str(column): json_safe(value) for column, value in record.items()}
        for record in sample.to_dict(orient="records")
    ]
    result: dict[str, Any] = {
        "rows": rows,
        "predictions": [json_safe(value) for value in pipeline.predict(sample)],
    }
    if task_type == CLASSIFICATION:
        result["classes"] = [json_safe(label) for label in pipeline.classes_]
        result["probabilities"] = [
            [json_safe(p) for p in row] for row in pipeline.predict_proba(sample)
        ]
    return result


PORTAL_DISTRIBUTION = "ml-portal"
ENVIRONMENT_PACKAGES = {
    "scikit_learn": "scikit-learn",
    "pandas": "pandas",
    "numpy": "numpy",
    "scipy": "scipy",
    "mlflow": "mlflow",
    "skops": "skops",
}


def _installed_version(*distributions: str) -> str:
    """Return the version of the first installed distribution named, or "not installed"."""
    for distribution in distributions:
        try:
            return package_version(distribution)
        except PackageNotFoundError:
            continue
    return "not installed"


def portal_version() -> str:
    """Return the installed portal version, or the one in pyproject.toml for a source checkout."""
    version = _installed_version(PORTAL_DISTRIBUTION)
    if version != "not installed":
        return version
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        with pyproject.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def environment_describe(*, packages: Sequence[str] = ()) -> dict[str, str]:
    """Describe where a model was trained: Python, package versions, portal version, host.

    ``packages`` adds optional libraries that the recipe used, keyed by their import name
    (``xgboost`` for the ``xgboost-cpu`` distribution too).
    """
    environment = {
        "python": sys.version.split()[0],
        **{key: _installed_version(name) for key, name in ENVIRONMENT_PACKAGES.items()},
        "portal": portal_version(),
        "host": platform.node(),
        "platform": platform.platform(),
    }
    if packages:
        environment[packages[0].replace("-", "_")] = _installed_version(*packages)
    return environment
