import math
from typing import Any

from apps.dashboards.figures import (
    MilestonePoint,
    Series,
    confusion_matrix_figure,
    expected_cost_figure,
    feature_importance_figure,
    health_counts_figure,
    metric_trend_figure,
    milestone_figure,
    roc_figure,
    stage_funnel_figure,
)


def _lines(figure: dict[str, Any]) -> list[dict[str, Any]]:
    return [shape for shape in figure["layout"]["shapes"] if shape["type"] == "line"]


def test_trend_draws_target_as_horizontal_line() -> None:
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[1, 2],
        values=[0.91, 0.96],
        target=0.95,
    )

    lines = _lines(figure)
    assert len(lines) == 1
    assert lines[0]["y0"] == 0.95
    assert lines[0]["y1"] == 0.95
    assert lines[0]["xref"] == "x domain"


def test_trend_draws_minimum_line_and_band() -> None:
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[1],
        values=[0.91],
        target=0.95,
        minimum=0.9,
    )

    levels = sorted(shape["y0"] for shape in _lines(figure))
    bands = [shape for shape in figure["layout"]["shapes"] if shape["type"] == "rect"]
    assert levels == [0.9, 0.95]
    assert len(bands) == 1
    assert (bands[0]["y0"], bands[0]["y1"]) == (0.9, 0.95)


def test_trend_keeps_undefined_values_as_gaps() -> None:
    figure = metric_trend_figure(
        title="Recall",
        direction="higher",
        iteration_numbers=[1, 2, 3, 4],
        values=[0.8, None, math.nan, math.inf],
        target=0.9,
    )

    trace = figure["data"][0]
    assert trace["x"] == [1, 2, 3, 4]
    assert trace["y"] == [0.8, None, None, None]
    assert trace["connectgaps"] is False


def test_trend_labels_lower_is_better_axis() -> None:
    figure = metric_trend_figure(
        title="RMSE",
        direction="lower",
        iteration_numbers=[1],
        values=[60.0],
        target=55.0,
        minimum=65.0,
        unit="days",
    )

    assert figure["layout"]["yaxis"]["title"]["text"] == "days (lower is better)"
    band = next(shape for shape in figure["layout"]["shapes"] if shape["type"] == "rect")
    assert (band["y0"], band["y1"]) == (55.0, 65.0)


def test_trend_with_no_iterations_still_shows_target() -> None:
    figure = metric_trend_figure(
        title="ROC AUC", direction="higher", iteration_numbers=[], values=[], target=0.95
    )

    assert figure["data"][0]["x"] == []
    assert _lines(figure)[0]["y0"] == 0.95


def _trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    return next(trace for trace in figure["data"] if trace.get("name") == name)


def test_trend_draws_stretch_band_above_target() -> None:
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[1],
        values=[0.91],
        target=0.95,
        minimum=0.9,
        stretch=0.98,
    )

    bands = [shape for shape in figure["layout"]["shapes"] if shape["type"] == "rect"]
    levels = sorted(shape["y0"] for shape in _lines(figure))
    labels = [annotation["text"] for annotation in figure["layout"]["annotations"]]
    assert [(band["y0"], band["y1"]) for band in bands] == [(0.9, 0.95), (0.95, 0.98)]
    assert levels == [0.9, 0.95, 0.98]
    assert labels == ["Minimum 0.9", "Target 0.95", "Stretch 0.98"]


def test_trend_marks_baseline_level_and_iterations() -> None:
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[2, 3],
        values=[0.91, 0.93],
        target=0.95,
        baseline=0.7,
        baseline_points=[(1, 0.7)],
    )

    baseline_line = [shape for shape in _lines(figure) if shape["y0"] == 0.7]
    baseline_trace = _trace(figure, "Non-ML baseline")
    assert len(baseline_line) == 1
    assert baseline_trace["x"] == [1]
    assert baseline_trace["y"] == [0.7]
    assert figure["data"][0]["x"] == [2, 3]


def test_trend_marks_production_iteration() -> None:
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[1, 2, 3],
        values=[0.91, None, 0.96],
        target=0.95,
        production_number=3,
    )

    star = _trace(figure, "In production")
    vertical = [shape for shape in figure["layout"]["shapes"] if shape["x0"] == 3]
    assert star["x"] == [3]
    assert star["y"] == [0.96]
    assert star["marker"]["symbol"] == "star"
    assert len(vertical) == 1
    assert vertical[0]["yref"] == "y domain"


def test_trend_with_many_iterations_lets_plotly_pick_ticks() -> None:
    numbers = list(range(1, 501))
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=numbers,
        values=[0.9] * 500,
        target=0.95,
    )

    assert "tickvals" not in figure["layout"]["xaxis"]
    assert len(figure["data"][0]["y"]) == 500


def test_roc_overlays_each_iteration_with_chance_line() -> None:
    figure = roc_figure(
        series=[
            Series(label="#1", x=[0, 0.5, 1], y=[0, 0.8, 1], summary=0.85),
            Series(label="#2", x=[0, 0.5, 1], y=[0, 0.9, 1], summary=0.92),
        ]
    )

    assert [trace["name"] for trace in figure["data"]] == ["#1 (AUC 0.850)", "#2 (AUC 0.920)"]
    diagonal = figure["layout"]["shapes"][0]
    assert (diagonal["x0"], diagonal["y0"], diagonal["x1"], diagonal["y1"]) == (0, 0, 1, 1)


def test_cost_curve_marks_each_chosen_threshold() -> None:
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    figure = expected_cost_figure(
        series=[
            Series(label="#1", x=grid, y=[50, 20, 30, 40, 90]),
            Series(label="#2", x=grid, y=[60, 30, 10, 40, 90]),
        ],
        chosen_thresholds=[0.25, 0.5],
        cost_false_positive=1.0,
        cost_false_negative=20.0,
    )

    verticals = [shape["x0"] for shape in figure["layout"]["shapes"]]
    markers = [trace for trace in figure["data"] if trace["mode"] == "markers"]
    assert verticals == [0.25, 0.5]
    assert [(marker["x"], marker["y"]) for marker in markers] == [([0.25], [20]), ([0.5], [10])]
    subtitle = figure["layout"]["title"]["subtitle"]["text"]
    assert subtitle == "Cost of a false positive 1 and of a false negative 20"


def test_cost_curve_without_threshold_has_no_marker() -> None:
    figure = expected_cost_figure(
        series=[Series(label="#1", x=[0.0, 1.0], y=[5, 6])],
        chosen_thresholds=[None],
        cost_false_positive=None,
        cost_false_negative=None,
    )

    assert figure["layout"].get("shapes", []) == []
    assert len(figure["data"]) == 1


def test_confusion_matrix_prints_counts() -> None:
    figure = confusion_matrix_figure(
        title="#1 at threshold 0.300", labels=["0", "1"], matrix=[[50, 5], [3, 42]]
    )

    heatmap = figure["data"][0]
    assert heatmap["z"] == [[50, 5], [3, 42]]
    assert heatmap["text"] == [["50", "5"], ["3", "42"]]
    assert heatmap["y"] == ["Actual 0", "Actual 1"]


def test_feature_importance_groups_bars_by_iteration() -> None:
    figure = feature_importance_figure(
        importances=[("#1", {"radius": 0.6, "texture": 0.3}), ("#2", {"radius": 0.2, "area": 0.7})]
    )

    assert [trace["name"] for trace in figure["data"]] == ["#1", "#2"]
    # The strongest feature is drawn at the top, which is last for horizontal bars.
    assert figure["data"][0]["y"] == ["texture", "radius", "area"]
    assert figure["data"][1]["x"] == [None, 0.2, 0.7]
    assert figure["layout"]["barmode"] == "group"


def test_portfolio_figures_carry_counts() -> None:
    funnel = stage_funnel_figure(stages=[("Framed", 10), ("In production", 2)])
    health = health_counts_figure(counts=[("on_track", "On track", 4), ("at_risk", "At risk", 1)])
    milestones = milestone_figure(
        first_model=[MilestonePoint("A", expected_days=30, actual_days=45, reached=True)],
        production=[MilestonePoint("A", expected_days=90, actual_days=50, reached=False)],
    )

    assert funnel["data"][0]["x"] == [10, 2]
    assert health["data"][0]["y"] == [4, 1]
    assert milestones["data"][0]["y"] == [45]
    assert milestones["data"][1]["marker"]["symbol"] == ["circle-open"]


def test_metric_chart_pads_x_axis():
    figure = metric_trend_figure(
        title="ROC AUC",
        direction="higher",
        iteration_numbers=[3],
        values=[0.99],
        target=0.97,
        baseline_points=[(1, 0.5), (2, 0.88)],
    )

    xaxis = figure["layout"]["xaxis"]
    assert xaxis["tickvals"] == [1, 2, 3]
    assert xaxis["range"][0] < 1
    assert xaxis["range"][1] > 3.5
