"""Wide datasets, cooperative cancel, non-finite costs and plain failure reasons."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from apps.iterations.evaluation import (
    PERMUTATION_MAX_COLUMN_SCORINGS,
    PERMUTATION_REPEATS,
    ImportanceCancelled,
    feature_importance,
    permutation_plan,
)
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.progress import cancel_checker
from apps.iterations.recipes import RECIPES, recipe_params_validate
from apps.iterations.services import (
    iteration_cancel,
    iteration_run,
    iteration_start,
    time_limit_reason,
    unexpected_failure_reason,
)
from apps.iterations.tests.uploads import cancer_dataset
from apps.iterations.training import TrainingCancelled, TrainingResult, threshold_choose, train

__all__ = ["cancer_dataset"]

WIDE_ROWS = 30
WIDE_COLUMNS = 3000


@pytest.fixture
def wide_csv(tmp_path: Path) -> Path:
    generator = np.random.default_rng(0)
    frame = pd.DataFrame(
        generator.normal(size=(WIDE_ROWS, WIDE_COLUMNS)),
        columns=[f"x{index}" for index in range(WIDE_COLUMNS)],
    )
    frame["label"] = [0, 1] * (WIDE_ROWS // 2)
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    return path


def _train(path: Path, target: str, recipe: str, **extra: Any) -> TrainingResult:
    columns = [c for c in pd.read_csv(path, nrows=0).columns if c != target]
    options: dict[str, Any] = {
        "dataset_path": path,
        "dataset_format": "csv",
        "target": target,
        "feature_columns": columns,
        "recipe": RECIPES[recipe],
        "params": recipe_params_validate(RECIPES[recipe], extra.pop("params", {})),
        "seed": 7,
        "test_size": 0.2,
        "task_type": "classification",
    }
    options.update(extra)
    return train(**options)


def _cancelled_after(calls: int):
    """Return a cancel check that turns True on its ``calls``-th call."""
    count = {"calls": 0}

    def check() -> bool:
        count["calls"] += 1
        return count["calls"] >= calls

    return check


def test_plan_keeps_all_repeats_for_narrow_data() -> None:
    plan = permutation_plan([f"x{i}" for i in range(30)], seed=0)

    assert len(plan.columns) == 30
    assert plan.repeats == PERMUTATION_REPEATS
    assert plan.note is None


def test_plan_drops_repeats_before_columns() -> None:
    plan = permutation_plan([f"x{i}" for i in range(150)], seed=0)

    assert len(plan.columns) == 150
    assert 1 <= plan.repeats < PERMUTATION_REPEATS
    assert "150 columns" in (plan.note or "")


def test_plan_samples_columns_of_wide_data() -> None:
    plan = permutation_plan([f"x{i}" for i in range(WIDE_COLUMNS)], seed=0)

    assert plan.repeats == 1
    assert len(plan.columns) * WIDE_COLUMNS <= PERMUTATION_MAX_COLUMN_SCORINGS
    assert "random sample" in (plan.note or "")


def test_plan_skips_very_wide_data() -> None:
    plan = permutation_plan([f"x{i}" for i in range(20_000)], seed=0)

    assert plan.columns == []
    assert "skipped" in (plan.note or "")


@pytest.mark.parametrize("columns", [30, 150, WIDE_COLUMNS, 20_000])
def test_plan_stays_within_budget(columns: int) -> None:
    plan = permutation_plan([f"x{i}" for i in range(columns)], seed=0)

    assert len(plan.columns) * plan.repeats * columns <= PERMUTATION_MAX_COLUMN_SCORINGS


def test_majority_baseline_skips_importance_on_wide_data(wide_csv: Path) -> None:
    result = _train(wide_csv, "label", "baseline")

    assert "feature_importance" not in result.evaluation
    assert "feature_importance_note" not in result.evaluation


def test_one_feature_rule_reports_model_importance(wide_csv: Path) -> None:
    result = _train(wide_csv, "label", "one_feature_rule")

    assert result.evaluation["feature_importance_method"] == "model"
    assert result.evaluation["feature_importance"][0]["importance"] > 0


def test_wide_model_records_importance_note(wide_csv: Path) -> None:
    result = _train(wide_csv, "label", "hist_gradient_boosting")

    assert result.evaluation["feature_importance_method"] == "permutation"
    assert "random sample" in result.evaluation["feature_importance_note"]
    assert len(result.evaluation["feature_importance"]) <= 30


def test_importance_stops_between_repeats(breast_cancer_csv: Path) -> None:
    result = _train(breast_cancer_csv, "diagnosis", "hist_gradient_boosting")
    frame = pd.read_csv(breast_cancer_csv)

    with pytest.raises(ImportanceCancelled):
        feature_importance(
            result.pipeline,
            frame.drop(columns="diagnosis"),
            frame["diagnosis"],
            seed=0,
            cancel_check=_cancelled_after(3),
        )


def test_train_stops_between_search_candidates(breast_cancer_csv: Path) -> None:
    search = {"method": "grid", "space": {"C": [0.1, 1.0, 10.0]}, "folds": 3}
    check = _cancelled_after(3)

    with pytest.raises(TrainingCancelled):
        _train(
            breast_cancer_csv,
            "diagnosis",
            "logistic_regression",
            params={"search": search},
            cancel_check=check,
        )


def test_train_stops_before_fitting(breast_cancer_csv: Path) -> None:
    with pytest.raises(TrainingCancelled):
        _train(breast_cancer_csv, "diagnosis", "random_forest", cancel_check=lambda: True)


def test_cancel_checker_sees_cancel(project, alice, cancer_dataset) -> None:
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="baseline",
        params={},
        seed=0,
    )
    Iteration.objects.filter(pk=iteration.pk).update(status=IterationStatus.RUNNING)
    check = cancel_checker(iteration.pk, interval_s=0)

    assert check() is False
    iteration_cancel(iteration=iteration, user=alice)
    assert check() is True


def test_threshold_cost_overflow_is_undefined() -> None:
    choice = threshold_choose(
        y_true=np.array([0, 1, 0, 1]),
        scores=np.array([0.9, 0.1, 0.8, 0.2]),
        cost_false_positive=1.7e308,
        cost_false_negative=1.7e308,
    )

    assert choice.expected_cost is None


def test_run_with_huge_costs_stores_null_cost(project, alice, cancer_dataset) -> None:
    # Older rows may hold costs above today's bound, so training must still cope.
    type(project).objects.filter(pk=project.pk).update(
        cost_false_positive=1.7e308, cost_false_negative=1.7e308
    )
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="baseline",
        params={},
        seed=0,
    )

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == IterationStatus.SUCCEEDED, iteration.status_reason
    assert iteration.expected_cost is None
    assert iteration.metrics["expected_cost"] is None


def test_unexpected_error_gets_plain_reason(
    project, alice, cancer_dataset, settings, tmp_path
) -> None:
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="baseline",
        params={},
        seed=0,
    )
    # A tracking store that cannot be opened fails inside MLflow and SQLAlchemy, whose
    # messages name internals that the user cannot act on.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{blocker}/mlflow.db"

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == IterationStatus.FAILED
    assert iteration.status_reason == unexpected_failure_reason()
    assert "sqlite" not in iteration.status_reason.lower()


def test_time_limit_reason_names_limit() -> None:
    assert "longer than the limit of 60 minutes" in time_limit_reason()
