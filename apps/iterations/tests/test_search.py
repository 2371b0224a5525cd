import json
from typing import Any

import pandas as pd
import pytest

from apps.core.errors import InvalidInput
from apps.iterations.recipes import RECIPES, recipe_params_validate
from apps.iterations.training import TrainingError, TrainingResult, search_mlflow_params, train

GRID = {"method": "grid", "space": {"max_depth": [2, 4], "n_estimators": [5, 10]}, "folds": 3}


def _summary(result: TrainingResult) -> dict[str, Any]:
    assert result.search is not None
    return result.search


def _train_search(path, search, *, seed=7):
    recipe = RECIPES["random_forest"]
    frame = pd.read_csv(path)
    return train(
        dataset_path=path,
        dataset_format="csv",
        target="diagnosis",
        feature_columns=[c for c in frame.columns if c != "diagnosis"],
        recipe=recipe,
        params=recipe_params_validate(recipe, {"search": search}, task_type="classification"),
        seed=seed,
        test_size=0.2,
        task_type="classification",
    )


def test_search_fills_defaults():
    params = recipe_params_validate(
        RECIPES["random_forest"],
        {"search": {"method": "random", "space": {"max_depth": [3, None]}}},
        task_type="regression",
    )

    assert params["search"] == {
        "method": "random",
        "space": {"max_depth": [3, None]},
        "folds": 5,
        "iterations": 10,
        "scoring": "rmse",
    }


def test_single_task_recipe_infers_default_scoring():
    params = recipe_params_validate(
        RECIPES["logistic_regression"], {"search": {"method": "grid", "space": {"C": [0.1, 1]}}}
    )

    assert params["search"]["scoring"] == "roc_auc"
    assert params["search"]["space"] == {"C": [0.1, 1.0]}


def test_params_without_search_are_unchanged():
    params = recipe_params_validate(RECIPES["ridge"], {"alpha": 2.0})

    assert params == {"alpha": 2.0}


BAD_SEARCHES = [
    ("random_forest", [1], "params.search"),
    ("random_forest", {"method": "grid", "space": {"max_depth": [2]}, "cv": 3}, "params.search.cv"),
    ("random_forest", {"method": "bayes", "space": {"max_depth": [2]}}, "params.search.method"),
    ("random_forest", {"space": {"max_depth": [2]}}, "params.search.method"),
    ("random_forest", {"method": "grid"}, "params.search.space"),
    ("random_forest", {"method": "grid", "space": {}}, "params.search.space"),
    ("random_forest", {"method": "grid", "space": {"depth": [2]}}, "params.search.space.depth"),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": 2}},
        "params.search.space.max_depth",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": []}},
        "params.search.space.max_depth",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [0]}},
        "params.search.space.max_depth",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": ["3"]}},
        "params.search.space.max_depth",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [3, 3]}},
        "params.search.space.max_depth",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"min_samples_leaf": [1, None]}},
        "params.search.space.min_samples_leaf",
    ),
    (
        "logistic_regression",
        {"method": "grid", "space": {"C": [float("nan")]}},
        "params.search.space.C",
    ),
    (
        "logistic_regression",
        {"method": "grid", "space": {"class_weight": ["auto"]}},
        "params.search.space.class_weight",
    ),
    (
        "random_forest",
        {
            "method": "grid",
            "space": {"max_depth": list(range(1, 16)), "min_samples_leaf": list(range(1, 15))},
        },
        "params.search.space",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "folds": 2},
        "params.search.folds",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "folds": 11},
        "params.search.folds",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "folds": True},
        "params.search.folds",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "iterations": 5},
        "params.search.iterations",
    ),
    (
        "random_forest",
        {"method": "random", "space": {"max_depth": [2]}, "iterations": 51},
        "params.search.iterations",
    ),
    (
        "random_forest",
        {"method": "random", "space": {"max_depth": [2]}, "iterations": 0},
        "params.search.iterations",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "scoring": "rmse"},
        "params.search.scoring",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "scoring": "mape"},
        "params.search.scoring",
    ),
    (
        "random_forest",
        {"method": "grid", "space": {"max_depth": [2]}, "scoring": "expected_cost"},
        "params.search.scoring",
    ),
]


@pytest.mark.parametrize(("recipe", "search", "field"), BAD_SEARCHES)
def test_bad_search_names_the_field(recipe, search, field):
    with pytest.raises(InvalidInput) as caught:
        recipe_params_validate(RECIPES[recipe], {"search": search}, task_type="classification")

    assert list(caught.value.errors) == [field]


def test_searched_param_cannot_also_be_fixed():
    search = {"method": "grid", "space": {"max_depth": [2, 4]}}

    with pytest.raises(InvalidInput) as caught:
        recipe_params_validate(RECIPES["random_forest"], {"max_depth": 3, "search": search})

    assert list(caught.value.errors) == ["params.search.space.max_depth"]


def test_recipe_without_params_rejects_search():
    search = {"method": "grid", "space": {"max_depth": [2]}}

    with pytest.raises(InvalidInput) as caught:
        recipe_params_validate(RECIPES["baseline"], {"search": search})

    assert list(caught.value.errors) == ["params.search"]


def test_grid_search_picks_params_and_evaluates_holdout(breast_cancer_csv):
    result = _train_search(breast_cancer_csv, GRID)

    assert result.search is not None
    assert _summary(result)["candidates"] == 4
    assert _summary(result)["method"] == "grid"
    assert _summary(result)["scoring"] == "roc_auc"
    assert _summary(result)["best_params"]["max_depth"] in (2, 4)
    assert _summary(result)["best_params"]["n_estimators"] in (5, 10)
    assert 0.5 < _summary(result)["best_score"] <= 1.0
    assert result.metrics["roc_auc"] is not None
    assert result.metrics["roc_auc"] > 0.9
    json.dumps(result.search, allow_nan=False)


def test_served_pipeline_uses_best_params(breast_cancer_csv):
    result = _train_search(breast_cancer_csv, GRID)

    model = result.pipeline.named_steps["model"]
    assert model.max_depth == _summary(result)["best_params"]["max_depth"]
    assert model.n_estimators == _summary(result)["best_params"]["n_estimators"]


def test_same_seed_gives_same_best_params(breast_cancer_csv):
    search = {**GRID, "method": "random", "iterations": 3}

    first = _train_search(breast_cancer_csv, search)
    second = _train_search(breast_cancer_csv, search)

    assert _summary(first)["candidates"] == 3
    assert _summary(first)["best_params"] == _summary(second)["best_params"]
    assert _summary(first)["best_score"] == _summary(second)["best_score"]


def test_search_never_sees_holdout_rows(breast_cancer_csv):
    recipe = RECIPES["logistic_regression"]
    frame = pd.read_csv(breast_cancer_csv)
    search = {"method": "grid", "space": {"C": [0.1, 1.0]}, "folds": 3}

    result = train(
        dataset_path=breast_cancer_csv,
        dataset_format="csv",
        target="diagnosis",
        feature_columns=[c for c in frame.columns if c != "diagnosis"],
        recipe=recipe,
        params=recipe_params_validate(recipe, {"search": search}),
        seed=7,
        test_size=0.2,
        task_type="classification",
    )

    scaler = result.pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    assert result.train_rows + result.holdout_rows == len(frame)
    assert _summary(result)["rows"] == result.train_rows
    # The refitted best pipeline scaled exactly the training rows.
    assert scaler.named_steps["scale"].n_samples_seen_ == result.train_rows


def test_search_summary_becomes_mlflow_params(breast_cancer_csv):
    result = _train_search(breast_cancer_csv, GRID)

    flat = search_mlflow_params(result.search)

    assert flat["search.best.max_depth"] == _summary(result)["best_params"]["max_depth"]
    assert flat["search.best.n_estimators"] == _summary(result)["best_params"]["n_estimators"]
    assert flat["search.candidates"] == 4
    assert search_mlflow_params(None) == {}


def test_regression_search_uses_rmse(diabetes_csv):
    recipe = RECIPES["ridge"]
    frame = pd.read_csv(diabetes_csv)
    search = {"method": "grid", "space": {"alpha": [0.1, 10.0]}, "folds": 3}

    result = train(
        dataset_path=diabetes_csv,
        dataset_format="csv",
        target="progression",
        feature_columns=[c for c in frame.columns if c != "progression"],
        recipe=recipe,
        params=recipe_params_validate(recipe, {"search": search}),
        seed=7,
        test_size=0.2,
        task_type="regression",
    )

    assert _summary(result)["scoring"] == "rmse"
    assert _summary(result)["best_score"] < 0
    assert result.metrics["rmse"] is not None


@pytest.mark.parametrize("scoring", ["f1", "precision", "recall", "pr_auc", "log_loss"])
def test_string_labels_score_the_larger_label(tmp_path, scoring):
    frame = pd.DataFrame({"amount": range(60), "label": ["fraud", "ok"] * 30})
    frame.loc[frame["amount"] > 40, "label"] = "ok"
    path = tmp_path / "payments.csv"
    frame.to_csv(path, index=False)
    recipe = RECIPES["logistic_regression"]
    search = {"method": "grid", "space": {"C": [0.1, 1.0]}, "folds": 3, "scoring": scoring}

    result = train(
        dataset_path=path,
        dataset_format="csv",
        target="label",
        feature_columns=["amount"],
        recipe=recipe,
        params=recipe_params_validate(recipe, {"search": search}),
        seed=1,
        test_size=0.2,
        task_type="classification",
    )

    assert _summary(result)["scoring"] == scoring
    assert _summary(result)["best_score"] is not None


@pytest.mark.parametrize("scoring", ["roc_auc", "f1", "pr_auc"])
def test_multiclass_search_uses_macro_scores(tmp_path, scoring):
    from sklearn.datasets import load_iris

    path = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)
    recipe = RECIPES["logistic_regression"]
    search = {"method": "grid", "space": {"C": [0.1, 1.0]}, "folds": 3, "scoring": scoring}

    result = train(
        dataset_path=path,
        dataset_format="csv",
        target="target",
        feature_columns=["sepal length (cm)", "sepal width (cm)", "petal length (cm)"],
        recipe=recipe,
        params=recipe_params_validate(recipe, {"search": search}),
        seed=1,
        test_size=0.2,
        task_type="classification",
    )

    assert 0.5 < _summary(result)["best_score"] <= 1.0


def test_too_many_folds_fail_training(tmp_path):
    path = tmp_path / "small.csv"
    pd.DataFrame({"x": range(12), "label": [0, 1] * 6}).to_csv(path, index=False)
    recipe = RECIPES["logistic_regression"]
    search = {"method": "grid", "space": {"C": [0.1, 1.0]}, "folds": 10}

    with pytest.raises(TrainingError, match="could not be fitted"):
        train(
            dataset_path=path,
            dataset_format="csv",
            target="label",
            feature_columns=["x"],
            recipe=recipe,
            params=recipe_params_validate(recipe, {"search": search}),
            seed=1,
            test_size=0.2,
            task_type="classification",
        )


def test_scoring_for_other_task_type_fails_training(breast_cancer_csv):
    # Validation without a task type accepts rmse for a recipe that trains both task types.
    search = {**GRID, "scoring": "rmse"}
    recipe = RECIPES["random_forest"]
    frame = pd.read_csv(breast_cancer_csv)

    with pytest.raises(TrainingError, match="does not apply to classification"):
        train(
            dataset_path=breast_cancer_csv,
            dataset_format="csv",
            target="diagnosis",
            feature_columns=[c for c in frame.columns if c != "diagnosis"],
            recipe=recipe,
            params=recipe_params_validate(recipe, {"search": search}),
            seed=7,
            test_size=0.2,
            task_type="classification",
        )
