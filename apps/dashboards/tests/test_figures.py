import math
from typing import Any

from apps.dashboards.figures import metric_trend_figure


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
