import pytest

from apps.core.errors import InvalidInput
from apps.iterations import boosting
from apps.iterations.recipes import (
    RECIPES,
    pipeline_build,
    recipe_choices,
    recipe_get,
    recipe_params_validate,
)


def _optional_recipes() -> list[str]:
    """Return the recipes of the optional boosting libraries that are installed here."""
    installed = []
    if boosting.LIGHTGBM_INSTALLED:
        installed.append("lightgbm")
    if boosting.XGBOOST_INSTALLED:
        installed.append("xgboost")
    return installed


def test_choices_depend_on_task_type():
    classification = [name for name, _ in recipe_choices("classification")]
    regression = [name for name, _ in recipe_choices("regression")]

    assert classification == [
        "baseline",
        "one_feature_rule",
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
        *_optional_recipes(),
    ]
    assert regression == [
        "baseline",
        "one_feature_rule",
        "ridge",
        "random_forest",
        "hist_gradient_boosting",
        *_optional_recipes(),
    ]


def test_recipe_for_other_task_type_is_rejected():
    with pytest.raises(InvalidInput) as caught:
        recipe_get("ridge", task_type="classification")

    assert "recipe" in caught.value.errors
    assert "logistic_regression" in caught.value.message


def test_unknown_recipe_is_rejected():
    with pytest.raises(InvalidInput) as caught:
        recipe_get("gaussian_process", task_type="regression")

    assert "recipe" in caught.value.errors


def test_defaults_fill_missing_params():
    params = recipe_params_validate(RECIPES["random_forest"], {"n_estimators": 50})

    assert params == {"n_estimators": 50, "max_depth": None, "min_samples_leaf": 1}


def test_integral_float_counts_as_integer():
    params = recipe_params_validate(RECIPES["random_forest"], {"n_estimators": 50.0})

    assert params["n_estimators"] == 50
    assert isinstance(params["n_estimators"], int)


BAD_PARAMS = [
    ("random_forest", {"trees": 10}, "params.trees"),
    ("random_forest", {"n_estimators": "10"}, "params.n_estimators"),
    ("random_forest", {"n_estimators": 2.5}, "params.n_estimators"),
    ("random_forest", {"n_estimators": True}, "params.n_estimators"),
    ("random_forest", {"n_estimators": 0}, "params.n_estimators"),
    ("random_forest", {"min_samples_leaf": None}, "params.min_samples_leaf"),
    ("logistic_regression", {"C": -1.0}, "params.C"),
    ("logistic_regression", {"C": float("nan")}, "params.C"),
    ("logistic_regression", {"class_weight": "auto"}, "params.class_weight"),
    ("hist_gradient_boosting", {"learning_rate": 2.0}, "params.learning_rate"),
    ("baseline", {"strategy": "mean"}, "params.strategy"),
]


@pytest.mark.parametrize(("recipe", "params", "field"), BAD_PARAMS)
def test_bad_params_name_the_field(recipe, params, field):
    with pytest.raises(InvalidInput) as caught:
        recipe_params_validate(RECIPES[recipe], params)

    assert list(caught.value.errors) == [field]


def test_params_must_be_an_object():
    with pytest.raises(InvalidInput) as caught:
        recipe_params_validate(RECIPES["ridge"], [1, 2])

    assert "params" in caught.value.errors


@pytest.mark.parametrize(
    ("recipe", "task_type", "estimator"),
    [
        ("baseline", "classification", "DummyClassifier"),
        ("baseline", "regression", "DummyRegressor"),
        ("logistic_regression", "classification", "LogisticRegression"),
        ("ridge", "regression", "Ridge"),
        ("random_forest", "classification", "RandomForestClassifier"),
        ("random_forest", "regression", "RandomForestRegressor"),
        ("hist_gradient_boosting", "classification", "HistGradientBoostingClassifier"),
        ("hist_gradient_boosting", "regression", "HistGradientBoostingRegressor"),
    ],
)
def test_task_type_picks_estimator(recipe, task_type, estimator):
    chosen = recipe_get(recipe, task_type=task_type)
    pipeline = pipeline_build(
        chosen,
        task_type=task_type,
        params=recipe_params_validate(chosen, {}),
        seed=3,
        numeric_columns=["age"],
        categorical_columns=["city"],
    )

    assert type(pipeline.named_steps["model"]).__name__ == estimator


def test_linear_models_scale_numeric_columns():
    linear = pipeline_build(
        RECIPES["ridge"],
        task_type="regression",
        params={"alpha": 1.0},
        seed=0,
        numeric_columns=["age"],
        categorical_columns=[],
    )
    forest = pipeline_build(
        RECIPES["random_forest"],
        task_type="regression",
        params=recipe_params_validate(RECIPES["random_forest"], {}),
        seed=0,
        numeric_columns=["age"],
        categorical_columns=[],
    )

    linear_numeric = linear.named_steps["preprocess"].transformers[0][1]
    forest_numeric = forest.named_steps["preprocess"].transformers[0][1]
    assert list(linear_numeric.named_steps) == ["impute", "scale"]
    assert list(forest_numeric.named_steps) == ["impute"]


def test_baseline_is_marked():
    baselines = {name for name, recipe in RECIPES.items() if recipe.is_baseline}

    assert baselines == {"baseline", "one_feature_rule"}
