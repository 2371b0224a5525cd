"""A compiled scoring path for the pipelines that the portal's recipes build.

``Pipeline.predict_proba`` on a one-row ``DataFrame`` spends most of its time on per-call
work that does not depend on the row. That work is pandas column selection in the
``ColumnTransformer``, input validation and feature-name checks in every step, and one call
per tree for histogram gradient boosting. ``pipeline_compile`` reads the fitted steps once and returns a
``CompiledPipeline`` that applies the same arithmetic to numpy arrays:

- ``SimpleImputer`` (numeric statistics) and ``StandardScaler`` become array operations;
- ``SimpleImputer(strategy="most_frequent")`` then ``OneHotEncoder(handle_unknown="ignore")``
  becomes a dictionary lookup per string value;
- ``HistGradientBoostingClassifier``/``Regressor`` trees are flattened into node arrays and
  walked for all trees at once; any other estimator gets the transformed float matrix through
  its own ``predict_proba`` or ``predict``.

Any other shape (another transformer, a datetime branch, sparse one-hot output kept sparse by
a custom estimator, categorical splits inside the boosting trees) raises ``NotCompilable``,
and the serving cache then keeps the generic path. The serving cache also checks every
compiled pipeline against the real one before using it (``compiled_verify``).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from apps.deployments.scoring import Scores, model_predict
from apps.projects.models import TaskType

# Relative and absolute tolerance between compiled and generic outputs. Summing tree leaves
# or dot products in another order moves results by a few units in the last place, far
# below these bounds.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12

# Up to this many rows, boosting trees are walked all at once in numpy. Past it, the model's
# own per-tree loop is faster. Measured on the 17-level breast cancer model: 0.16 ms against
# 0.66 ms for one row, but 3.2 ms against 1.8 ms for 100 rows.
FLATTENED_TREES_MAX_ROWS = 16

FloatMatrix = Any  # numpy float64 array of shape (rows, columns)
ArrayStep = Callable[[FloatMatrix], FloatMatrix]


class NotCompilable(Exception):
    """The fitted pipeline has a step or setting that the compiled path does not reproduce."""


@dataclass(frozen=True)
class _NumericBranch:
    columns: list[str]
    steps: list[ArrayStep]


@dataclass(frozen=True)
class _CategoricalBranch:
    columns: list[str]
    # Per column: each category string to its output position.
    positions: list[dict[str, int]]
    width: int


@dataclass(frozen=True)
class CompiledPipeline:
    """A fitted recipe pipeline reduced to numpy operations on request values."""

    numeric: _NumericBranch | None
    categorical: _CategoricalBranch | None
    output_order: tuple[str, ...]
    raw_scores: Callable[[FloatMatrix], Any]
    classes: Any
    is_classifier: bool
    threshold: float | None

    def score_rows(self, rows: Sequence[dict[str, Any]]) -> Scores | None:
        """Score request rows already checked against the model's columns.

        Returns None when a categorical value is not a string (null, a number or a boolean):
        pandas and scikit-learn give such values type-dependent meanings, so the generic
        path scores that request.
        """
        numeric = None
        if self.numeric is not None:
            columns = self.numeric.columns
            numeric = np.array([[row[c] for c in columns] for row in rows], dtype=np.float64)
        categorical = None
        if self.categorical is not None:
            columns = self.categorical.columns
            categorical = [[row[c] for c in columns] for row in rows]
            if not all(type(value) is str for values in categorical for value in values):
                return None
        return self.score_arrays(numeric=numeric, categorical=categorical)

    def score_arrays(
        self, *, numeric: FloatMatrix | None, categorical: list[list[str]] | None
    ) -> Scores:
        """Score a float matrix of the numeric columns and string rows of the categorical ones.

        ``numeric`` contains NaN for a missing value. Its columns are ``self.numeric.columns``.
        """
        parts: dict[str, FloatMatrix] = {}
        if self.numeric is not None:
            values = numeric
            for step in self.numeric.steps:
                values = step(values)
            parts["numeric"] = values
        if self.categorical is not None:
            assert categorical is not None
            parts["categorical"] = _one_hot(categorical, self.categorical)
        blocks = [parts[name] for name in self.output_order]
        matrix = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
        return self._scores(matrix)

    def _scores(self, matrix: FloatMatrix) -> Scores:
        raw = self.raw_scores(matrix)
        if not self.is_classifier:
            return Scores(predictions=np.asarray(raw).tolist(), probabilities=None)
        probabilities = np.asarray(raw)
        classes = self.classes
        if len(classes) == 2:
            positive = probabilities[:, 1]
            if self.threshold is not None:
                predictions = np.where(positive >= self.threshold, classes[1], classes[0])
            else:
                predictions = classes[np.argmax(probabilities, axis=1)]
            return Scores(predictions=predictions.tolist(), probabilities=positive.tolist())
        predictions = classes[np.argmax(probabilities, axis=1)]
        return Scores(predictions=predictions.tolist(), probabilities=probabilities.tolist())


def _one_hot(rows: list[list[str]], branch: _CategoricalBranch) -> FloatMatrix:
    output = np.zeros((len(rows), branch.width), dtype=np.float64)
    for row_index, values in enumerate(rows):
        for column_index, value in enumerate(values):
            # A category unseen in training is all zeros, as handle_unknown="ignore" does.
            position = branch.positions[column_index].get(value)
            if position is not None:
                output[row_index, position] = 1.0
    return output


def pipeline_compile(
    model: Any, *, task_type: str, threshold: float | None, feature_columns: list[str]
) -> CompiledPipeline:
    """Compile a fitted recipe pipeline; raise NotCompilable for any shape not reproduced."""
    if type(model) is not Pipeline or len(model.steps) != 2:
        raise NotCompilable(f"expected a two-step Pipeline, got {type(model).__name__}")
    preprocess = model.steps[0][1]
    estimator = model.steps[1][1]
    if type(preprocess) is not ColumnTransformer:
        raise NotCompilable(f"first step is {type(preprocess).__name__}, not ColumnTransformer")
    if getattr(preprocess, "_sklearn_output_config", {}).get("transform") not in (None, "default"):
        raise NotCompilable("the ColumnTransformer has a pandas or polars output configured")

    numeric: _NumericBranch | None = None
    categorical: _CategoricalBranch | None = None
    output_order: list[str] = []
    dense_only = True
    for name, transformer, columns in preprocess.transformers_:
        if transformer == "drop":
            continue
        if not _is_column_names(columns) or not set(columns) <= set(feature_columns):
            raise NotCompilable(f"branch {name!r} selects columns by something other than names")
        if name == "numeric" and numeric is None:
            numeric = _NumericBranch(columns=list(columns), steps=_numeric_steps(transformer))
            output_order.append("numeric")
        elif name == "categorical" and categorical is None:
            categorical, sparse = _categorical_branch(transformer, list(columns))
            dense_only = dense_only and not sparse
            output_order.append("categorical")
        else:
            raise NotCompilable(f"branch {name!r} ({type(transformer).__name__}) is not compiled")
    if not output_order:
        raise NotCompilable("the ColumnTransformer has no branch")
    if not dense_only and not _takes_dense_like_sparse(estimator):
        raise NotCompilable(f"{type(estimator).__name__} may treat sparse input differently")

    is_classifier = task_type == TaskType.CLASSIFICATION and hasattr(estimator, "predict_proba")
    raw_scores = _estimator_scores(estimator, is_classifier=is_classifier)
    return CompiledPipeline(
        numeric=numeric,
        categorical=categorical,
        output_order=tuple(output_order),
        raw_scores=raw_scores,
        classes=np.asarray(estimator.classes_) if is_classifier else None,
        is_classifier=is_classifier,
        threshold=threshold,
    )


def _is_column_names(columns: Any) -> bool:
    return isinstance(columns, list) and all(isinstance(column, str) for column in columns)


def _numeric_steps(transformer: Any) -> list[ArrayStep]:
    if type(transformer) is not Pipeline:
        raise NotCompilable(f"numeric branch is {type(transformer).__name__}, not a Pipeline")
    steps: list[ArrayStep] = []
    for _, step in transformer.steps:
        if type(step) is SimpleImputer:
            steps.append(_numeric_imputer(step))
        elif type(step) is StandardScaler:
            steps.append(_scaler(step))
        else:
            raise NotCompilable(f"numeric step {type(step).__name__} is not compiled")
    return steps


def _numeric_imputer(imputer: SimpleImputer) -> ArrayStep:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)) or imputer.add_indicator:
        raise NotCompilable("numeric imputer must treat NaN as missing and add no indicator")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    # scikit-learn drops features whose statistic is NaN (missing in every training row)
    # unless keep_empty_features is set, in which case it fills them with 0.
    empty = np.isnan(statistics)
    if empty.any() and imputer.keep_empty_features:
        statistics = np.where(empty, 0.0, statistics)
        kept = None
    else:
        kept = np.flatnonzero(~empty) if empty.any() else None

    def impute(values: FloatMatrix) -> FloatMatrix:
        mask = np.isnan(values)
        if mask.any():
            values = np.where(mask, statistics, values)
        return values if kept is None else values[:, kept]

    return impute


def _scaler(scaler: StandardScaler) -> ArrayStep:
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def standardize(values: FloatMatrix) -> FloatMatrix:
        # The same two operations, in the same order, as StandardScaler.transform.
        if mean is not None:
            values = values - mean
        if scale is not None:
            values = values / scale
        return values

    return standardize


def _categorical_branch(transformer: Any, columns: list[str]) -> tuple[_CategoricalBranch, bool]:
    if type(transformer) is not Pipeline or len(transformer.steps) != 2:
        raise NotCompilable("categorical branch is not an imputer then a one-hot encoder")
    imputer, encoder = transformer.steps[0][1], transformer.steps[1][1]
    if type(imputer) is not SimpleImputer or type(encoder) is not OneHotEncoder:
        raise NotCompilable("categorical branch is not an imputer then a one-hot encoder")
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)) or imputer.add_indicator:
        # With NaN as the missing value no string is ever imputed, and null values take the
        # generic path, so the imputer's statistics are never needed here.
        raise NotCompilable("categorical imputer must treat NaN as missing and add no indicator")
    if encoder.handle_unknown != "ignore" or encoder.drop is not None:
        raise NotCompilable("one-hot encoder must ignore unknown categories and drop none")
    if getattr(encoder, "_infrequent_enabled", False):
        raise NotCompilable("one-hot encoder groups infrequent categories")
    if len(encoder.categories_) != len(columns):
        raise NotCompilable("categorical imputer or encoder dropped a column")
    positions: list[dict[str, int]] = []
    offset = 0
    for categories in encoder.categories_:
        if not all(type(category) is str for category in categories):
            raise NotCompilable("one-hot categories are not all strings")
        positions.append({category: offset + i for i, category in enumerate(categories)})
        offset += len(categories)
    branch = _CategoricalBranch(columns=columns, positions=positions, width=offset)
    return branch, bool(encoder.sparse_output)


def _takes_dense_like_sparse(estimator: Any) -> bool:
    # These estimators compute the same function of a sparse or a dense matrix; the compiled
    # path always builds a dense one.
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    known = (
        DummyClassifier,
        DummyRegressor,
        LogisticRegression,
        Ridge,
        RandomForestClassifier,
        RandomForestRegressor,
        DecisionTreeClassifier,
        DecisionTreeRegressor,
    )
    return type(estimator) in known


def _estimator_scores(estimator: Any, *, is_classifier: bool) -> Callable[[FloatMatrix], Any]:
    if type(estimator) in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        return _boosting_scores(estimator, is_classifier=is_classifier)
    if getattr(estimator, "feature_names_in_", None) is not None:
        raise NotCompilable("the estimator was fitted on named columns")
    if is_classifier:
        return estimator.predict_proba
    return estimator.predict


@dataclass(frozen=True)
class _Forest:
    """Every tree of a boosting model as flat node arrays, leaves pointing to themselves."""

    roots: Any
    feature: Any
    threshold: Any
    missing_left: Any
    left: Any
    right: Any
    value: Any
    tree_class: Any
    depth: int
    classes_per_iteration: int
    baseline: Any

    def raw_predict(self, matrix: FloatMatrix) -> FloatMatrix:
        rows = matrix.shape[0]
        nodes = np.broadcast_to(self.roots, (rows, len(self.roots)))
        row_index = np.arange(rows)[:, None]
        for _ in range(self.depth):
            values = matrix[row_index, self.feature[nodes]]
            # NaN compares False, so a missing value goes left only where the split's
            # missing-value direction is left.
            go_left = (values <= self.threshold[nodes]) | (
                np.isnan(values) & self.missing_left[nodes]
            )
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        leaves = self.value[nodes]
        raw = np.empty((rows, self.classes_per_iteration), dtype=np.float64)
        for k in range(self.classes_per_iteration):
            raw[:, k] = leaves[:, self.tree_class == k].sum(axis=1)
        return raw + self.baseline


def _boosting_scores(estimator: Any, *, is_classifier: bool) -> Callable[[FloatMatrix], Any]:
    if getattr(estimator, "_preprocessor", None) is not None:
        raise NotCompilable("the boosting model encodes categorical features itself")
    if getattr(estimator, "feature_names_in_", None) is not None:
        raise NotCompilable("the boosting model was fitted on named columns")
    forest = _forest_flatten(estimator)
    loss = estimator._loss

    def raw_predict(matrix: FloatMatrix) -> FloatMatrix:
        if matrix.shape[0] <= FLATTENED_TREES_MAX_ROWS:
            return forest.raw_predict(matrix)
        return estimator._raw_predict(matrix)

    if is_classifier:
        return lambda matrix: loss.predict_proba(raw_predict(matrix))
    return lambda matrix: loss.link.inverse(raw_predict(matrix).ravel())


def _forest_flatten(estimator: Any) -> _Forest:
    per_iteration = int(estimator.n_trees_per_iteration_)
    tables = []
    tree_class = []
    for predictors in estimator._predictors:
        for k, predictor in enumerate(predictors):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise NotCompilable("a boosting tree splits on a categorical feature")
            tables.append(nodes)
            tree_class.append(k)
    if not tables:
        raise NotCompilable("the boosting model has no trees")
    offsets = np.cumsum([0] + [len(table) for table in tables[:-1]])
    feature, threshold, missing_left, left, right, value = ([] for _ in range(6))
    depth = 0
    for offset, nodes in zip(offsets, tables, strict=True):
        is_leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes)) + offset
        feature.append(np.where(is_leaf, 0, nodes["feature_idx"]))
        threshold.append(nodes["num_threshold"])
        missing_left.append(nodes["missing_go_to_left"].astype(bool))
        left.append(np.where(is_leaf, own, nodes["left"].astype(np.intp) + offset))
        right.append(np.where(is_leaf, own, nodes["right"].astype(np.intp) + offset))
        value.append(nodes["value"])
        depth = max(depth, int(nodes["depth"].max()))
    return _Forest(
        roots=offsets.astype(np.intp),
        feature=np.concatenate(feature).astype(np.intp),
        threshold=np.concatenate(threshold).astype(np.float64),
        missing_left=np.concatenate(missing_left),
        left=np.concatenate(left).astype(np.intp),
        right=np.concatenate(right).astype(np.intp),
        value=np.concatenate(value).astype(np.float64),
        tree_class=np.asarray(tree_class),
        depth=depth,
        classes_per_iteration=per_iteration,
        baseline=np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(1, -1),
    )


# Synthetic rows with missing values added to the recorded holdout rows for verification.
MISSING_VALUE_ROWS = 8


def verification_rows(
    rows: list[dict[str, Any]], *, numeric_columns: Sequence[str], categorical: Sequence[str]
) -> list[dict[str, Any]]:
    """Return ``rows`` plus copies with missing values and an unseen category, for checking.

    The numeric columns are split into ``MISSING_VALUE_ROWS`` groups and each copy blanks one
    group, so every column is missing in some copy. One more copy blanks every numeric
    column, and one per categorical column sends a category that no training row had.
    """
    if not rows:
        return []
    extra: list[dict[str, Any]] = []
    numeric_list = list(numeric_columns)
    for group in range(min(MISSING_VALUE_ROWS, len(numeric_list))):
        blanked = numeric_list[group::MISSING_VALUE_ROWS]
        extra.append({**rows[group % len(rows)], **dict.fromkeys(blanked)})
    if numeric_list:
        extra.append({**rows[0], **dict.fromkeys(numeric_list)})
    for column in categorical:
        extra.append({**rows[0], column: "\x00unseen category"})
    return [*rows, *extra]


def compiled_verify(
    compiled: CompiledPipeline,
    *,
    model: Any,
    frames: Callable[[list[dict[str, Any]]], pd.DataFrame],
    rows: list[dict[str, Any]],
    task_type: str,
    threshold: float | None,
) -> str | None:
    """Compare compiled and generic scores of ``rows``; return why they differ, or None.

    ``frames`` builds the generic path's ``DataFrame`` from rows, as requests do. The rows are
    compared as one batch and the first one alone, the shape of most requests. Rows that the
    compiled path hands back to the generic one are left out.
    """
    batch = [row for row in rows if compiled.score_rows([row]) is not None]
    if not batch:
        return "no verification row could be scored by the compiled path"
    for sample in (batch, batch[:1]):
        fast = compiled.score_rows(sample)
        assert fast is not None
        generic = model_predict(
            model=model, frame=frames(sample), task_type=task_type, threshold=threshold
        )
        reason = _scores_difference(fast, generic, is_classifier=compiled.is_classifier)
        if reason is not None:
            return f"{reason} on {len(sample)} verification rows"
    return None


def _scores_difference(fast: Scores, generic: Scores, *, is_classifier: bool) -> str | None:
    if is_classifier:
        if fast.predictions != generic.predictions:
            return "predicted classes differ"
    elif not _close(fast.predictions, generic.predictions):
        return "predicted values differ"
    if (fast.probabilities is None) != (generic.probabilities is None):
        return "one path returned probabilities and the other did not"
    if fast.probabilities is not None and not _close(fast.probabilities, generic.probabilities):
        return "probabilities differ"
    return None


def _close(left: Any, right: Any) -> bool:
    a = np.asarray(left, dtype=np.float64)
    b = np.asarray(right, dtype=np.float64)
    return a.shape == b.shape and bool(
        np.allclose(a, b, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE, equal_nan=False)
    )
