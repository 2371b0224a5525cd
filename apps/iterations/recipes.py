"""The recipe registry: which estimators an iteration may train, with which parameters.

A recipe name means the same idea for every task type (``random_forest``), and the project's
task type picks the estimator (``RandomForestClassifier`` or ``RandomForestRegressor``).
"""

import math
from collections.abc import Callable, Mapping
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
from apps.projects.models import TaskType

CLASSIFICATION = TaskType.CLASSIFICATION.value
REGRESSION = TaskType.REGRESSION.value
BOTH = frozenset({CLASSIFICATION, REGRESSION})


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


def recipe_params_validate(recipe: Recipe, params: Any) -> dict[str, Any]:
    """Check ``params`` against the recipe and return them with defaults filled in."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput("Parameters must be an object of name to value.", field="params")
    unknown = sorted(set(params) - set(recipe.params))
    if unknown:
        allowed = ", ".join(recipe.params) or "none"
        raise InvalidInput(
            f"'{unknown[0]}' is not a parameter of {recipe.name}. Allowed: {allowed}.",
            field=f"params.{unknown[0]}",
        )
    cleaned: dict[str, Any] = {}
    for name, spec in recipe.params.items():
        value = params.get(name, spec.default)
        cleaned[name] = _param_clean(name, spec, value, supplied=name in params)
    return cleaned


def _param_clean(name: str, spec: ParamSpec, value: Any, *, supplied: bool) -> Any:
    field_name = f"params.{name}"
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
) -> Pipeline:
    """Build the preprocessing and estimator pipeline for already validated ``params``.

    Numeric columns get the median for missing values (and standard scaling for linear
    models). Categorical, boolean and text columns get the most frequent value and one-hot
    encoding that ignores categories unseen in training.
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
    preprocess = ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0 if recipe.needs_dense else 0.3,
    )
    return Pipeline([("preprocess", preprocess), ("model", recipe.build(task_type, params, seed))])
