"""The recipe registry: which estimators an iteration may train, with which parameters.

A recipe name means the same idea for every task type (``random_forest``), and the project's
task type picks the estimator (``RandomForestClassifier`` or ``RandomForestRegressor``).
"""

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from apps.core.errors import InvalidInput
from apps.iterations import boosting
from apps.iterations.transformers import DatetimeParts
from apps.projects.models import TaskType

CLASSIFICATION = TaskType.CLASSIFICATION.value
REGRESSION = TaskType.REGRESSION.value
BOTH = frozenset({CLASSIFICATION, REGRESSION})

SEARCH_PARAM = "search"
SEARCH_METHODS = ("grid", "random")
SEARCH_KEYS = frozenset({"method", "space", "folds", "iterations", "scoring"})
SEARCH_MIN_FOLDS = 3
SEARCH_MAX_FOLDS = 10
SEARCH_DEFAULT_FOLDS = 5
SEARCH_MAX_ITERATIONS = 50
SEARCH_DEFAULT_ITERATIONS = 10
SEARCH_MAX_CANDIDATES = 200
"""The maximum number of combinations in a grid, and of values in one list of the space."""

SEARCH_SCORING: dict[str, tuple[str, str]] = {
    "roc_auc": (CLASSIFICATION, "roc_auc"),
    "accuracy": (CLASSIFICATION, "accuracy"),
    "f1": (CLASSIFICATION, "f1"),
    "precision": (CLASSIFICATION, "precision"),
    "recall": (CLASSIFICATION, "recall"),
    "pr_auc": (CLASSIFICATION, "average_precision"),
    "log_loss": (CLASSIFICATION, "neg_log_loss"),
    "rmse": (REGRESSION, "neg_root_mean_squared_error"),
    "mae": (REGRESSION, "neg_mean_absolute_error"),
    "r2": (REGRESSION, "r2"),
}
"""Catalogue metric name to its task type and scikit-learn scoring name, for searches."""

SEARCH_DEFAULT_SCORING = {CLASSIFICATION: "roc_auc", REGRESSION: "rmse"}


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter: its type, allowed range or choices, and default."""

    type: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    help: str = ""

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        text = {int: "an integer", float: "a number", bool: "true or false"}.get(
            self.type, self.type.__name__
        )
        if self.minimum is not None and self.maximum is not None:
            text += f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            text += f" of at least {self.minimum:g}"
        if self.nullable:
            text += ", or null"
        return text


EstimatorFactory = Callable[[str, dict[str, Any], int], Any]


@dataclass(frozen=True)
class Recipe:
    name: str
    label: str
    task_types: frozenset[str]
    build: EstimatorFactory
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    scale_numeric: bool = False
    needs_dense: bool = False
    is_baseline: bool = False
    description: str = ""


def _baseline(task_type: str, params: dict[str, Any], seed: int) -> Any:
    if task_type == CLASSIFICATION:
        return DummyClassifier(strategy="most_frequent")
    return DummyRegressor(strategy="mean")


def _one_feature_rule(task_type: str, params: dict[str, Any], seed: int) -> Any:
    # A depth-one tree splits once on the single most informative feature: the kind of rule
    # a domain expert would write by hand, learned from the data.
    if task_type == CLASSIFICATION:
        return DecisionTreeClassifier(max_depth=1, random_state=seed)
    return DecisionTreeRegressor(max_depth=1, random_state=seed)


def _logistic_regression(task_type: str, params: dict[str, Any], seed: int) -> Any:
    return LogisticRegression(
        C=params["C"],
        max_iter=params["max_iter"],
        class_weight=params["class_weight"],
        random_state=seed,
    )


def _ridge(task_type: str, params: dict[str, Any], seed: int) -> Any:
    return Ridge(alpha=params["alpha"], random_state=seed)


def _random_forest(task_type: str, params: dict[str, Any], seed: int) -> Any:
    estimator = RandomForestClassifier if task_type == CLASSIFICATION else RandomForestRegressor
    return estimator(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        min_samples_leaf=params["min_samples_leaf"],
        random_state=seed,
        n_jobs=1,
    )


def _hist_gradient_boosting(task_type: str, params: dict[str, Any], seed: int) -> Any:
    estimator = (
        HistGradientBoostingClassifier
        if task_type == CLASSIFICATION
        else HistGradientBoostingRegressor
    )
    return estimator(
        learning_rate=params["learning_rate"],
        max_iter=params["max_iter"],
        max_depth=params["max_depth"],
        max_leaf_nodes=params["max_leaf_nodes"],
        l2_regularization=params["l2_regularization"],
        random_state=seed,
    )


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in [
        Recipe(
            name="baseline",
            label="Baseline (predicts the most frequent class or the mean)",
            task_types=BOTH,
            build=_baseline,
            is_baseline=True,
            description="The score any model must beat: it ignores the features.",
        ),
        Recipe(
            name="one_feature_rule",
            label="One-feature rule (a single threshold on the most telling column)",
            task_types=BOTH,
            build=_one_feature_rule,
            is_baseline=True,
            description="A rule of thumb learned from one column, which a model should beat.",
        ),
        Recipe(
            name="logistic_regression",
            label="Logistic regression",
            task_types=frozenset({CLASSIFICATION}),
            build=_logistic_regression,
            scale_numeric=True,
            params={
                "C": ParamSpec(
                    float, 1.0, minimum=1e-6, maximum=1e6, help="Inverse regularization strength."
                ),
                "max_iter": ParamSpec(int, 1000, minimum=10, maximum=100_000),
                "class_weight": ParamSpec(str, None, choices=(None, "balanced"), nullable=True),
            },
        ),
        Recipe(
            name="ridge",
            label="Ridge regression",
            task_types=frozenset({REGRESSION}),
            build=_ridge,
            scale_numeric=True,
            params={
                "alpha": ParamSpec(float, 1.0, minimum=0.0, maximum=1e6, help="L2 penalty."),
            },
        ),
        Recipe(
            name="random_forest",
            label="Random forest",
            task_types=BOTH,
            build=_random_forest,
            params={
                "n_estimators": ParamSpec(int, 200, minimum=1, maximum=5000),
                "max_depth": ParamSpec(int, None, minimum=1, maximum=200, nullable=True),
                "min_samples_leaf": ParamSpec(int, 1, minimum=1, maximum=100_000),
            },
        ),
        Recipe(
            name="hist_gradient_boosting",
            label="Histogram gradient boosting",
            task_types=BOTH,
            build=_hist_gradient_boosting,
            needs_dense=True,
            params={
                "learning_rate": ParamSpec(float, 0.1, minimum=1e-4, maximum=1.0),
                "max_iter": ParamSpec(int, 100, minimum=1, maximum=10_000),
                "max_depth": ParamSpec(int, None, minimum=1, maximum=200, nullable=True),
                "max_leaf_nodes": ParamSpec(int, 31, minimum=2, maximum=10_000),
                "l2_regularization": ParamSpec(float, 0.0, minimum=0.0, maximum=1e6),
            },
        ),
    ]
}

if boosting.LIGHTGBM_INSTALLED:
    RECIPES["lightgbm"] = Recipe(
        name="lightgbm",
        label="LightGBM gradient boosting",
        task_types=BOTH,
        build=boosting.lightgbm_build,
        needs_dense=True,
        description="Requires the lightgbm package.",
        params={
            "n_estimators": ParamSpec(int, 200, minimum=1, maximum=10_000),
            "learning_rate": ParamSpec(float, 0.05, minimum=1e-4, maximum=1.0),
            "num_leaves": ParamSpec(int, 31, minimum=2, maximum=10_000),
            "max_depth": ParamSpec(int, None, minimum=1, maximum=200, nullable=True),
            "min_child_samples": ParamSpec(int, 20, minimum=1, maximum=100_000),
            "reg_lambda": ParamSpec(float, 0.0, minimum=0.0, maximum=1e6),
        },
    )

if boosting.XGBOOST_INSTALLED:
    RECIPES["xgboost"] = Recipe(
        name="xgboost",
        label="XGBoost gradient boosting",
        task_types=BOTH,
        build=boosting.xgboost_build,
        needs_dense=True,
        description="Requires the xgboost package.",
        params={
            "n_estimators": ParamSpec(int, 200, minimum=1, maximum=10_000),
            "learning_rate": ParamSpec(float, 0.1, minimum=1e-4, maximum=1.0),
            "max_depth": ParamSpec(int, 6, minimum=1, maximum=50),
            "min_child_weight": ParamSpec(float, 1.0, minimum=0.0, maximum=1e6),
            "reg_lambda": ParamSpec(float, 1.0, minimum=0.0, maximum=1e6),
            "subsample": ParamSpec(float, 1.0, minimum=0.05, maximum=1.0),
        },
    )


def recipe_choices(task_type: str) -> list[tuple[str, str]]:
    """Return ``(name, label)`` pairs of the recipes for ``task_type``, for form choices."""
    return [
        (recipe.name, recipe.label) for recipe in RECIPES.values() if task_type in recipe.task_types
    ]


def recipe_get(name: str, *, task_type: str) -> Recipe:
    """Return the recipe ``name`` if it trains ``task_type`` models, else raise on ``recipe``."""
    recipe = RECIPES.get(name)
    if recipe is None or task_type not in recipe.task_types:
        known = ", ".join(choice for choice, _ in recipe_choices(task_type))
        raise InvalidInput(
            f"'{name}' is not a recipe for {task_type} projects. Use one of: {known}.",
            field="recipe",
        )
    return recipe


def recipe_params_validate(
    recipe: Recipe, params: Any, *, task_type: str | None = None
) -> dict[str, Any]:
    """Check ``params`` against the recipe and return them with defaults filled in.

    A recipe with tunable parameters also accepts a ``search`` object, returned cleaned under
    the same key. ``task_type`` checks the search scoring against the project's task type and
    fills in its default scoring. Without it, a recipe for a single task type uses that type,
    and otherwise the scoring default is left as None for training to resolve.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput("Parameters must be an object of name to value.", field="params")
    allowed_names = [*recipe.params, SEARCH_PARAM] if recipe.params else []
    unknown = sorted(set(params) - set(allowed_names))
    if unknown:
        allowed = ", ".join(allowed_names) or "none"
        raise InvalidInput(
            f"'{unknown[0]}' is not a parameter of {recipe.name}. Allowed: {allowed}.",
            field=f"params.{unknown[0]}",
        )
    search = params.get(SEARCH_PARAM)
    space = search.get("space") if isinstance(search, dict) else None
    # A searched parameter gets no default here: storing one would make the stored params
    # look as if the parameter were both fixed and searched when they are checked again.
    searched = set(space) if isinstance(space, dict) else set()
    cleaned: dict[str, Any] = {}
    for name, spec in recipe.params.items():
        if name in searched and name not in params:
            continue
        value = params.get(name, spec.default)
        cleaned[name] = _param_clean(name, spec, value, supplied=name in params)
    if SEARCH_PARAM in params:
        if task_type is None and len(recipe.task_types) == 1:
            task_type = next(iter(recipe.task_types))
        cleaned[SEARCH_PARAM] = _search_clean(
            recipe, params[SEARCH_PARAM], fixed=set(params), task_type=task_type
        )
    return cleaned


def _search_clean(
    recipe: Recipe, search: Any, *, fixed: set[str], task_type: str | None
) -> dict[str, Any]:
    prefix = f"params.{SEARCH_PARAM}"
    if not isinstance(search, dict):
        raise InvalidInput(
            'The search must be an object such as {"method": "grid", "space": {...}}.',
            field=prefix,
        )
    unknown = sorted(set(search) - SEARCH_KEYS)
    if unknown:
        raise InvalidInput(
            f"'{unknown[0]}' is not a search setting. Allowed: {', '.join(sorted(SEARCH_KEYS))}.",
            field=f"{prefix}.{unknown[0]}",
        )

    method = search.get("method")
    if method not in SEARCH_METHODS:
        raise InvalidInput(
            f"The search method must be 'grid' or 'random', not {method!r}.",
            field=f"{prefix}.method",
        )
    space = _search_space_clean(recipe, search.get("space"), fixed=fixed, prefix=prefix)
    grid_size = math.prod(len(values) for values in space.values())
    if method == "grid" and grid_size > SEARCH_MAX_CANDIDATES:
        raise InvalidInput(
            f"The grid has {grid_size} combinations, more than the maximum of "
            f"{SEARCH_MAX_CANDIDATES}. Remove values from the space or use a random search.",
            field=f"{prefix}.space",
        )

    folds = _search_count_clean(
        search.get("folds", SEARCH_DEFAULT_FOLDS),
        minimum=SEARCH_MIN_FOLDS,
        maximum=SEARCH_MAX_FOLDS,
        label="folds",
        field_name=f"{prefix}.folds",
    )
    cleaned: dict[str, Any] = {"method": method, "space": space, "folds": folds}
    if method == "random":
        cleaned["iterations"] = _search_count_clean(
            search.get("iterations", SEARCH_DEFAULT_ITERATIONS),
            minimum=1,
            maximum=SEARCH_MAX_ITERATIONS,
            label="iterations",
            field_name=f"{prefix}.iterations",
        )
    elif "iterations" in search:
        raise InvalidInput(
            "iterations applies only to a random search, because a grid search tries every "
            "combination. Remove iterations or set the method to 'random'.",
            field=f"{prefix}.iterations",
        )
    cleaned["scoring"] = _search_scoring_clean(
        search.get("scoring"), task_type=task_type, field_name=f"{prefix}.scoring"
    )
    return cleaned


def _search_space_clean(
    recipe: Recipe, space: Any, *, fixed: set[str], prefix: str
) -> dict[str, list[Any]]:
    if not isinstance(space, dict) or not space:
        raise InvalidInput(
            "The search space must be a non-empty object of parameter to values, such as "
            '{"max_depth": [3, 5]}.',
            field=f"{prefix}.space",
        )
    cleaned: dict[str, list[Any]] = {}
    for name, values in space.items():
        field_name = f"{prefix}.space.{name}"
        spec = recipe.params.get(name)
        if spec is None:
            allowed = ", ".join(recipe.params)
            raise InvalidInput(
                f"'{name}' is not a parameter of {recipe.name}. Allowed: {allowed}.",
                field=field_name,
            )
        if name in fixed:
            raise InvalidInput(
                f"{name} is set both as a fixed parameter and in the search space. Keep one of them.",
                field=field_name,
            )
        if not isinstance(values, list) or not values:
            raise InvalidInput(
                f"The search values for {name} must be a non-empty list.", field=field_name
            )
        if len(values) > SEARCH_MAX_CANDIDATES:
            raise InvalidInput(
                f"The search lists {len(values)} values for {name}, more than the maximum of "
                f"{SEARCH_MAX_CANDIDATES}.",
                field=field_name,
            )
        checked = [
            _param_clean(name, spec, value, supplied=True, field_name=field_name)
            for value in values
        ]
        if any(a == b for a, b in itertools.combinations(checked, 2)):
            raise InvalidInput(
                f"The search values for {name} contain duplicates. List each value once.",
                field=field_name,
            )
        cleaned[name] = checked
    return cleaned


def _search_count_clean(
    value: Any, *, minimum: int, maximum: int, label: str, field_name: str
) -> int:
    integral_float = isinstance(value, float) and value.is_integer()
    is_number = isinstance(value, int) or integral_float
    if isinstance(value, bool) or not is_number or not minimum <= value <= maximum:
        raise InvalidInput(
            f"{label} must be an integer from {minimum} to {maximum}, not {value!r}.",
            field=field_name,
        )
    return int(value)


def _search_scoring_clean(value: Any, *, task_type: str | None, field_name: str) -> str | None:
    if value is None:
        return SEARCH_DEFAULT_SCORING.get(task_type or "")
    allowed = [
        name
        for name, (scoring_task, _) in SEARCH_SCORING.items()
        if task_type is None or scoring_task == task_type
    ]
    if value not in allowed:
        raise InvalidInput(
            f"The search scoring must be one of {', '.join(allowed)}, not {value!r}.",
            field=field_name,
        )
    return str(value)


def _param_clean(
    name: str, spec: ParamSpec, value: Any, *, supplied: bool, field_name: str | None = None
) -> Any:
    field_name = field_name or f"params.{name}"
    if value is None and (spec.nullable or not supplied):
        return None
    if spec.choices is not None:
        if value not in spec.choices:
            raise InvalidInput(
                f"{name} must be {spec.describe()}, not {value!r}.", field=field_name
            )
        return value
    number: int | float
    if spec.type is int:
        integral_float = isinstance(value, float) and value.is_integer()
        if isinstance(value, bool) or not (isinstance(value, int) or integral_float):
            raise InvalidInput(
                f"{name} must be {spec.describe()}, not {value!r}.", field=field_name
            )
        number = int(value)
    elif spec.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(
                f"{name} must be {spec.describe()}, not {value!r}.", field=field_name
            )
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInput(f"{name} must be a finite number.", field=field_name)
    else:
        if not isinstance(value, spec.type):
            raise InvalidInput(
                f"{name} must be {spec.describe()}, not {value!r}.", field=field_name
            )
        return value
    too_low = spec.minimum is not None and number < spec.minimum
    too_high = spec.maximum is not None and number > spec.maximum
    if too_low or too_high:
        raise InvalidInput(f"{name} must be {spec.describe()}, not {value!r}.", field=field_name)
    return number


def pipeline_build(
    recipe: Recipe,
    *,
    task_type: str,
    params: dict[str, Any],
    seed: int,
    numeric_columns: list[str],
    categorical_columns: list[str],
    datetime_columns: Sequence[str] = (),
) -> Pipeline:
    """Build the preprocessing and estimator pipeline for already validated ``params``.

    Numeric columns get the median for missing values (and standard scaling for linear
    models). Categorical, boolean and text columns get the most frequent value and one-hot
    encoding that ignores categories unseen in training. Datetime columns, given as datetime
    values or strings, become numeric year, month, day, day of week and hour columns that
    are then treated like the numeric ones.
    """
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if recipe.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            (
                "encode",
                OneHotEncoder(handle_unknown="ignore", sparse_output=not recipe.needs_dense),
            ),
        ]
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric_columns:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric_columns))
    if categorical_columns:
        transformers.append(("categorical", categorical, categorical_columns))
    if datetime_columns:
        datetime_steps: list[tuple[str, Any]] = [
            ("parts", DatetimeParts()),
            # Keeping all-missing parts keeps one output column per part, so feature
            # importances map back to their datetime column.
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]
        if recipe.scale_numeric:
            datetime_steps.append(("scale", StandardScaler()))
        transformers.append(("datetime", Pipeline(datetime_steps), list(datetime_columns)))
    preprocess = ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0 if recipe.needs_dense else 0.3,
    )
    # Searched parameters are absent from ``params``; the defaults stand in until the search
    # sets each candidate's value.
    model_params = {name: spec.default for name, spec in recipe.params.items()} | params
    return Pipeline(
        [("preprocess", preprocess), ("model", recipe.build(task_type, model_params, seed))]
    )
