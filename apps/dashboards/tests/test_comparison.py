from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.core.errors import InvalidInput, Unprocessable
from apps.dashboards.comparison import (
    comparison_numbers_parse,
    iteration_comparison,
    relative_change,
    spec_diff,
)
from apps.dashboards.tests.conftest import evaluation_for
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration
from apps.projects.models import Project


def test_spec_diff_lists_only_differing_fields(make_iteration: Callable[..., Iteration]) -> None:
    first = make_iteration(
        1,
        params={"max_depth": 3, "learning_rate": 0.1},
        seed=1,
        environment={"python": "3.12.1", "scikit-learn": "1.7.0"},
    )
    second = make_iteration(
        2,
        params={"max_depth": 5, "learning_rate": 0.1},
        seed=1,
        environment={"python": "3.12.1", "scikit-learn": "1.8.0"},
    )

    differences = {d.field: d.values for d in spec_diff(iterations=[first, second])}

    assert differences == {
        "params.max_depth": [3, 5],
        "environment.scikit-learn": ["1.7.0", "1.8.0"],
    }


def test_spec_diff_marks_missing_parameter_as_none(
    make_iteration: Callable[..., Iteration],
) -> None:
    first = make_iteration(1, params={})
    second = make_iteration(2, params={"l2": 0.5}, recipe="hist_gradient_boosting")

    differences = {d.field: d.values for d in spec_diff(iterations=[first, second])}

    assert differences["params.l2"] == [None, 0.5]
    assert differences["recipe"] == ["logistic_regression", "hist_gradient_boosting"]


def test_spec_diff_shows_dataset_change(
    make_iteration: Callable[..., Iteration], dataset: DatasetVersion, alice: User
) -> None:
    newer = DatasetVersion.objects.create(
        project=dataset.project,
        name=dataset.name,
        version=2,
        file="datasets/placeholder-2.csv",
        original_filename="biopsies.csv",
        format="csv",
        sha256="1" * 64,
        size_bytes=2048,
        row_count=600,
        column_count=3,
        schema=dataset.schema,
        target_column="diagnosis",
        created_by=alice,
    )
    first = make_iteration(1)
    second = make_iteration(2, dataset=newer)

    differences = spec_diff(iterations=[first, second])

    assert [d.field for d in differences] == ["dataset"]
    assert "v1" in differences[0].values[0]
    assert "v2" in differences[0].values[1]


def test_spec_diff_of_identical_specs_is_empty(make_iteration: Callable[..., Iteration]) -> None:
    assert spec_diff(iterations=[make_iteration(1), make_iteration(2)]) == []


@pytest.mark.parametrize(
    ("value", "reference", "direction", "expected"),
    [
        (0.99, 0.90, "higher", 10.0),
        (0.81, 0.90, "higher", -10.0),
        (45.0, 50.0, "lower", 10.0),
        (55.0, 50.0, "lower", -10.0),
        (None, 0.9, "higher", None),
        (0.9, None, "higher", None),
        (0.9, 0.0, "higher", None),
        (float("nan"), 0.9, "higher", None),
    ],
)
def test_relative_change_is_positive_when_better(
    value: float | None, reference: float | None, direction: str, expected: float | None
) -> None:
    change = relative_change(value=value, reference=reference, direction=direction)

    if expected is None:
        assert change is None
    else:
        assert change == pytest.approx(expected)


def test_numbers_parse_accepts_commas_and_repeats() -> None:
    assert comparison_numbers_parse("3, 5,3") == [3, 5]
    assert comparison_numbers_parse(["3", "5,7"]) == [3, 5, 7]


@pytest.mark.parametrize(
    "raw", ["3", "", "3,x", "0,1", "-1,2", ",".join(str(n) for n in range(1, 10))]
)
def test_numbers_parse_rejects_bad_input(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        comparison_numbers_parse(raw)

    assert "iterations" in error.value.errors


def test_comparison_builds_every_curve_chart(
    project: Project, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1, evaluation=evaluation_for(threshold=0.3), threshold=0.3)
    make_iteration(2, evaluation=evaluation_for(shift=0.05, threshold=0.4), threshold=0.4)

    comparison = iteration_comparison(project=project, numbers=[2, 1])

    assert [it.number for it in comparison.iterations] == [2, 1]
    assert [chart.element_id for chart in comparison.charts] == [
        "compare-roc",
        "compare-pr",
        "compare-calibration",
        "compare-cost",
        "compare-importance",
    ]
    assert [chart.element_id for chart in comparison.confusion_charts] == [
        "compare-confusion-2",
        "compare-confusion-1",
    ]
    assert comparison.missing_evaluation == []


def test_comparison_deltas_are_against_first(
    project: Project, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1, metrics={"roc_auc": 0.90, "recall": None})
    make_iteration(2, metrics={"roc_auc": 0.99, "recall": 0.8})

    comparison = iteration_comparison(project=project, numbers=[1, 2])

    roc_auc = comparison.metric_deltas[0]
    recall = comparison.metric_deltas[1]
    assert roc_auc.values == [0.90, 0.99]
    assert roc_auc.changes[0] is None
    assert roc_auc.changes[1] == pytest.approx(10.0)
    assert roc_auc.verdicts == ["missed", "met"]
    assert recall.values == [None, 0.8]
    assert recall.changes == [None, None]


def test_comparison_reports_iterations_without_curves(
    project: Project, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1, evaluation=evaluation_for())
    make_iteration(2)

    comparison = iteration_comparison(project=project, numbers=[1, 2])

    assert comparison.missing_evaluation == [2]
    roc = next(chart for chart in comparison.charts if chart.element_id == "compare-roc")
    assert len(roc.figure["data"]) == 1


def test_comparison_of_unknown_iteration_is_unprocessable(
    project: Project, make_iteration: Callable[..., Iteration]
) -> None:
    make_iteration(1)

    with pytest.raises(Unprocessable):
        iteration_comparison(project=project, numbers=[1, 9])
