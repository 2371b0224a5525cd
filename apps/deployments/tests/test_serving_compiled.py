"""The compiled scoring path matches the fitted pipeline, or is not used."""

import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from apps.deployments import serving
from apps.deployments.models import Deployment
from apps.deployments.scoring import model_predict
from apps.deployments.serving_compiled import (
    NotCompilable,
    compiled_verify,
    pipeline_compile,
    verification_rows,
)
from apps.iterations.recipes import RECIPES, pipeline_build, recipe_params_validate

CLASSIFICATION = "classification"
REGRESSION = "regression"
CATEGORICAL = ["size", "colour"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.head(240).copy()
    rng = np.random.default_rng(7)
    frame["size"] = rng.choice(["small", "medium", "large"], len(frame))
    frame["colour"] = rng.choice(["red", "blue"], len(frame))
    # Missing values in training make the imputers' statistics matter.
    frame.loc[frame.index[:25], "mean radius"] = np.nan
    frame.loc[frame.index[10:30], "size"] = np.nan
    frame["three_classes"] = pd.cut(frame["worst area"], 3, labels=["low", "mid", "high"])
    frame["three_classes"] = frame["three_classes"].astype(str)
    frame["amount"] = frame["mean area"] * 0.01 + frame["target"]
    return frame


def _numeric(table: pd.DataFrame) -> list[str]:
    return [str(c) for c in load_breast_cancer().feature_names][:12]


def _fit(table: pd.DataFrame, recipe: str, task: str, target: str, categorical: list[str]) -> Any:
    numeric = _numeric(table)
    pipeline = pipeline_build(
        RECIPES[recipe],
        task_type=task,
        params=recipe_params_validate(RECIPES[recipe], {}),
        seed=0,
        numeric_columns=numeric,
        categorical_columns=categorical,
    )
    return pipeline.fit(table[numeric + categorical], table[target])


def _rows(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    head = table[columns].tail(15).astype(object)
    records = head.where(head.notna(), None).to_dict(orient="records")
    return [{str(key): value for key, value in record.items()} for record in records]


def _frames(columns: list[str], numeric: list[str]) -> Any:
    # The same DataFrame that the generic serving path builds from request rows.
    def build(rows: list[dict[str, Any]]) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for column in numeric:
            frame[column] = pd.to_numeric(frame[column])
        return frame

    return build


CASES = [
    ("logistic_regression", CLASSIFICATION, "target", 0.3),
    ("logistic_regression", CLASSIFICATION, "three_classes", None),
    ("hist_gradient_boosting", CLASSIFICATION, "target", 0.5),
    ("hist_gradient_boosting", CLASSIFICATION, "three_classes", None),
    ("random_forest", CLASSIFICATION, "target", None),
    ("one_feature_rule", CLASSIFICATION, "target", 0.5),
    ("baseline", CLASSIFICATION, "target", 0.5),
    ("ridge", REGRESSION, "amount", None),
    ("hist_gradient_boosting", REGRESSION, "amount", None),
    ("random_forest", REGRESSION, "amount", None),
]


@pytest.mark.parametrize("categorical", [[], CATEGORICAL], ids=["numeric", "mixed"])
@pytest.mark.parametrize(("recipe", "task", "target", "threshold"), CASES)
def test_compiled_scores_equal_pipeline(
    table: pd.DataFrame,
    recipe: str,
    task: str,
    target: str,
    threshold: float | None,
    categorical: list[str],
):
    pipeline = _fit(table, recipe, task, target, categorical)
    numeric = _numeric(table)
    columns = numeric + categorical
    compiled = pipeline_compile(
        pipeline, task_type=task, threshold=threshold, feature_columns=columns
    )
    rows = verification_rows(
        _rows(table, columns), numeric_columns=numeric, categorical=categorical
    )
    frames = _frames(columns, numeric)

    fast = compiled.score_rows(rows)
    generic = model_predict(model=pipeline, frame=frames(rows), task_type=task, threshold=threshold)

    assert fast is not None
    assert any(value is None for row in rows for value in row.values())
    if task == CLASSIFICATION:
        assert fast.predictions == generic.predictions
        np.testing.assert_allclose(
            np.asarray(fast.probabilities), np.asarray(generic.probabilities), rtol=1e-9
        )
    else:
        np.testing.assert_allclose(fast.predictions, generic.predictions, rtol=1e-9)
        assert fast.probabilities is None
    reason = compiled_verify(
        compiled, model=pipeline, frames=frames, rows=rows, task_type=task, threshold=threshold
    )
    assert reason is None
    for row in rows:
        # Single rows take the flattened-tree walk of boosting models; batches do not.
        single = compiled.score_rows([row])
        expected = model_predict(
            model=pipeline, frame=frames([row]), task_type=task, threshold=threshold
        )
        assert single is not None
        if task == CLASSIFICATION:
            assert single.predictions == expected.predictions
            np.testing.assert_allclose(
                np.asarray(single.probabilities), np.asarray(expected.probabilities), rtol=1e-9
            )
        else:
            np.testing.assert_allclose(single.predictions, expected.predictions, rtol=1e-9)


def test_compiled_hands_null_category_to_generic_path(table: pd.DataFrame):
    pipeline = _fit(table, "hist_gradient_boosting", CLASSIFICATION, "target", CATEGORICAL)
    columns = _numeric(table) + CATEGORICAL
    compiled = pipeline_compile(
        pipeline, task_type=CLASSIFICATION, threshold=0.5, feature_columns=columns
    )
    row = {**_rows(table, columns)[0], "size": None}

    assert compiled.score_rows([row]) is None


def test_datetime_branch_is_not_compiled(table: pd.DataFrame):
    frame = table.assign(seen=pd.date_range("2024-01-01", periods=len(table), freq="D"))
    numeric = _numeric(table)
    pipeline = pipeline_build(
        RECIPES["logistic_regression"],
        task_type=CLASSIFICATION,
        params=recipe_params_validate(RECIPES["logistic_regression"], {}),
        seed=0,
        numeric_columns=numeric,
        categorical_columns=[],
        datetime_columns=["seen"],
    ).fit(frame[[*numeric, "seen"]], frame["target"])

    with pytest.raises(NotCompilable, match="datetime"):
        pipeline_compile(
            pipeline,
            task_type=CLASSIFICATION,
            threshold=None,
            feature_columns=[*numeric, "seen"],
        )


def test_verification_reports_a_different_model(table: pd.DataFrame):
    numeric = _numeric(table)
    served = _fit(table, "logistic_regression", CLASSIFICATION, "target", [])
    other = _fit(table.iloc[::-1].head(60), "logistic_regression", CLASSIFICATION, "target", [])
    compiled = pipeline_compile(
        other, task_type=CLASSIFICATION, threshold=0.5, feature_columns=numeric
    )
    rows = verification_rows(_rows(table, numeric), numeric_columns=numeric, categorical=[])

    reason = compiled_verify(
        compiled,
        model=served,
        frames=_frames(numeric, numeric),
        rows=rows,
        task_type=CLASSIFICATION,
        threshold=0.5,
    )

    assert reason is not None
    assert "differ" in reason


@pytest.mark.django_db
def test_live_model_serves_through_compiled_path(live_deployment: Deployment):
    served = serving.model_get(kind="deployment", object_id=live_deployment.pk)
    rows = live_deployment.iteration.holdout_sample["rows"]

    fast = serving._instances_score(rows, served=served)
    generic = model_predict(
        model=served.model,
        frame=serving._instances_frame(rows, served=served),
        task_type=served.task_type,
        threshold=served.threshold,
    )

    assert served.compiled is not None
    assert fast.predictions == generic.predictions
    np.testing.assert_allclose(
        np.asarray(fast.probabilities), np.asarray(generic.probabilities), rtol=1e-9
    )


@pytest.mark.django_db
def test_model_without_holdout_rows_serves_generic_path(
    live_deployment: Deployment, caplog: pytest.LogCaptureFixture
):
    iteration = live_deployment.iteration
    iteration.holdout_sample = {}
    iteration.save(update_fields=["holdout_sample"])

    with caplog.at_level(logging.WARNING, logger="apps.deployments.serving"):
        served = serving.model_get(kind="deployment", object_id=live_deployment.pk)

    assert served.compiled is None
    assert "no holdout rows to verify" in caplog.text
    assert serving._instances_score(
        _rows(pd.DataFrame(load_breast_cancer(as_frame=True).frame), served.feature_columns)[:2],
        served=served,
    ).predictions
