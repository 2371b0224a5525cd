"""Plotly figures for the dashboards, built from plain data and returned as JSON-ready dicts.

The browser draws them with the vendored plotly.js (static/portal/charts.js), so each builder
returns ``json.loads(fig.to_json())``: plain lists, numbers and ``None``, which the template
embeds as a JSON script element.

Each figure is built in one ``go.Figure(data=..., layout=...)`` call. Adding shapes one by
one with ``add_hline`` validates the whole layout again at each call, which made a chart of
500 points cost about 18 ms instead of about 3 ms (plotly 7.1).
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from apps.projects.models import Direction

MEASURED_COLOUR = "#1d4e89"
TARGET_COLOUR = "#1f7a4d"
MINIMUM_COLOUR = "#b7791f"
STRETCH_COLOUR = "#0b5d3b"
BASELINE_COLOUR = "#7b8794"
PRODUCTION_COLOUR = "#6b2fa3"
CHANCE_COLOUR = "#9aa5b1"

# Okabe-Ito colours stay distinguishable for the common forms of colour blindness.
SERIES_COLOURS = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
    "#f0e442",
)

HEALTH_COLOURS = {"on_track": "#1f7a4d", "at_risk": "#b7791f", "off_track": "#b42318"}

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
GRID = "#eef1f4"

# A horizontal legend under the x axis title, with room for up to eight entries.
_LEGEND_BELOW = {"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0}
_MARGIN_WITH_LEGEND = {"l": 56, "r": 24, "t": 56, "b": 120}

# Past this many iterations the x axis lets plotly choose ticks instead of labelling each one.
MAX_LABELLED_TICKS = 30


@dataclass(frozen=True)
class Series:
    """One iteration's curve in a comparison chart: its label and the points to draw."""

    label: str
    x: Sequence[float | None]
    y: Sequence[float | None]
    summary: float | None = None


def series_colour(index: int) -> str:
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a float, or None when it is missing, not a number or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _base_layout(title: str, *, height: int = 300, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "none",
        "title": {"text": title, "x": 0.02, "font": {"size": 15}},
        "margin": {"l": 56, "r": 24, "t": 48, "b": 44},
        "height": height,
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "font": FONT,
    }
    layout.update(extra)
    return layout


def _to_json(data: Sequence[Any], layout: Mapping[str, Any]) -> dict[str, Any]:
    figure = go.Figure(data=list(data), layout=dict(layout))
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


def _level_line(y: float, colour: str, dash: str, width: float = 1.5) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x domain",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": y,
        "y1": y,
        "line": {"color": colour, "dash": dash, "width": width},
    }


def _level_label(y: float, text: str, colour: str, *, above: bool) -> dict[str, Any]:
    return {
        "xref": "x domain",
        "x": 1,
        "xanchor": "right",
        "yref": "y",
        "y": y,
        "yanchor": "bottom" if above else "top",
        "text": text,
        "showarrow": False,
        "font": {"color": colour, "size": 11},
    }


def _band(low: float, high: float, colour: str, opacity: float) -> dict[str, Any]:
    return {
        "type": "rect",
        "xref": "x domain",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": min(low, high),
        "y1": max(low, high),
        "fillcolor": colour,
        "opacity": opacity,
        "line": {"width": 0},
        "layer": "below",
    }


def metric_trend_figure(
    *,
    title: str,
    direction: str,
    iteration_numbers: Sequence[int],
    values: Sequence[float | None],
    target: float,
    minimum: float | None = None,
    stretch: float | None = None,
    baseline: float | None = None,
    baseline_points: Sequence[tuple[int, float | None]] = (),
    production_number: int | None = None,
    unit: str = "",
) -> dict[str, Any]:
    """Build a line chart of one metric across iterations, ordered by time, against its targets.

    The minimum, target and stretch levels are lines, with a band from the minimum to the
    target ("acceptable") and from the target to the stretch ("exceeds"). ``baseline`` is the
    non-ML baseline's value and ``baseline_points`` the automatic baseline iterations; both
    are drawn in grey. The iteration in production gets a star and a vertical line.

    Undefined values (``None``, NaN or infinity) are drawn as gaps, never as zeros, so a
    metric that could not be computed does not look like a bad score.
    """
    numbers = list(iteration_numbers)
    y_values = [finite_or_none(value) for value in values]
    better = "higher" if direction == Direction.HIGHER else "lower"
    axis_title = f"{unit} ({better} is better)" if unit else f"{better} is better"
    # Labels go on the side of the line where values are better, away from the band.
    labels_above = direction == Direction.HIGHER

    data: list[Any] = [
        go.Scatter(
            x=numbers,
            y=y_values,
            mode="lines+markers",
            name=title,
            connectgaps=False,
            line={"color": MEASURED_COLOUR, "width": 2},
            marker={"size": 7 if len(numbers) <= 100 else 4},
            hovertemplate="Iteration %{x}: %{y:.4g}<extra></extra>",
        )
    ]
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []

    if minimum is not None:
        # The band between the minimum and the target is "acceptable but not yet good enough".
        shapes.append(_band(minimum, target, MINIMUM_COLOUR, 0.08))
        shapes.append(_level_line(minimum, MINIMUM_COLOUR, "dot"))
        annotations.append(
            _level_label(minimum, f"Minimum {minimum:g}", MINIMUM_COLOUR, above=not labels_above)
        )
    shapes.append(_level_line(target, TARGET_COLOUR, "dash", width=2))
    annotations.append(
        _level_label(target, f"Target {target:g}", TARGET_COLOUR, above=labels_above)
    )
    if stretch is not None:
        shapes.append(_band(target, stretch, TARGET_COLOUR, 0.08))
        shapes.append(_level_line(stretch, STRETCH_COLOUR, "longdash"))
        # Stretch and target are often close, so their labels go on opposite sides.
        annotations.append(
            {
                **_level_label(stretch, f"Stretch {stretch:g}", STRETCH_COLOUR, above=labels_above),
                "x": 0,
                "xanchor": "left",
            }
        )

    baseline_value = finite_or_none(baseline)
    if baseline_value is not None:
        shapes.append(_level_line(baseline_value, BASELINE_COLOUR, "dashdot", width=1))
        annotations.append(
            {
                **_level_label(
                    baseline_value,
                    f"Non-ML baseline {baseline_value:g}",
                    BASELINE_COLOUR,
                    above=labels_above,
                ),
                "x": 0,
                "xanchor": "left",
            }
        )
    if baseline_points:
        data.append(
            go.Scatter(
                x=[number for number, _ in baseline_points],
                y=[finite_or_none(value) for _, value in baseline_points],
                mode="markers",
                name="Non-ML baseline",
                marker={"color": BASELINE_COLOUR, "symbol": "diamond", "size": 9},
                hovertemplate="Baseline iteration %{x}: %{y:.4g}<extra></extra>",
            )
        )

    if production_number is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "x0": production_number,
                "x1": production_number,
                "yref": "y domain",
                "y0": 0,
                "y1": 1,
                "line": {"color": PRODUCTION_COLOUR, "dash": "dot", "width": 1.5},
            }
        )
        production_value = next(
            (y for x, y in zip(numbers, y_values, strict=True) if x == production_number), None
        )
        annotations.append(
            {
                "xref": "x",
                "x": production_number,
                "yref": "y domain",
                "y": 1,
                "yanchor": "bottom",
                "text": "In production",
                "showarrow": False,
                "font": {"color": PRODUCTION_COLOUR, "size": 11},
            }
        )
        data.append(
            go.Scatter(
                x=[production_number],
                y=[production_value],
                mode="markers",
                name="In production",
                marker={
                    "color": PRODUCTION_COLOUR,
                    "symbol": "star",
                    "size": 15,
                    "line": {"color": "#ffffff", "width": 1},
                },
                hovertemplate="In production: iteration %{x}, %{y:.4g}<extra></extra>",
            )
        )

    xaxis: dict[str, Any] = {"title": {"text": "Iteration"}, "gridcolor": GRID, "zeroline": False}
    drawn = sorted({*numbers, *(number for number, _ in baseline_points)})
    if drawn:
        # Padding keeps the first and last markers off the plot's edges, and the extra room on
        # the right keeps the newest iteration clear of the level labels drawn there.
        span = max(drawn[-1] - drawn[0], 1)
        xaxis["range"] = [drawn[0] - 0.5 - 0.04 * span, drawn[-1] + 0.5 + 0.12 * span]
    if len(drawn) <= MAX_LABELLED_TICKS:
        xaxis.update({"tickmode": "array", "tickvals": drawn})
    layout = _base_layout(
        title,
        showlegend=False,
        shapes=shapes,
        annotations=annotations,
        xaxis=xaxis,
        yaxis={"title": {"text": axis_title}, "gridcolor": GRID, "zeroline": False},
    )
    return _to_json(data, layout)


def _overlay_figure(
    *,
    title: str,
    series: Sequence[Series],
    x_title: str,
    y_title: str,
    summary_name: str,
    diagonal: tuple[float, float, float, float] | None,
    mode: str = "lines",
) -> dict[str, Any]:
    data: list[Any] = []
    for index, item in enumerate(series):
        label = item.label
        if item.summary is not None:
            label = f"{item.label} ({summary_name} {item.summary:.3f})"
        data.append(
            go.Scatter(
                x=[finite_or_none(value) for value in item.x],
                y=[finite_or_none(value) for value in item.y],
                mode=mode,
                name=label,
                line={"color": series_colour(index), "width": 2},
                marker={"color": series_colour(index), "size": 6},
                hovertemplate=f"{item.label}<br>{x_title} %{{x:.3f}}, {y_title} %{{y:.3f}}"
                "<extra></extra>",
            )
        )
    shapes = []
    if diagonal is not None:
        x0, y0, x1, y1 = diagonal
        shapes.append(
            {
                "type": "line",
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "line": {"color": CHANCE_COLOUR, "dash": "dash", "width": 1},
            }
        )
    layout = _base_layout(
        title,
        height=400,
        shapes=shapes,
        legend=_LEGEND_BELOW,
        margin=_MARGIN_WITH_LEGEND,
        xaxis={"title": {"text": x_title}, "range": [0, 1], "gridcolor": GRID},
        yaxis={"title": {"text": y_title}, "range": [0, 1.02], "gridcolor": GRID},
    )
    return _to_json(data, layout)


def roc_figure(*, series: Sequence[Series]) -> dict[str, Any]:
    """Overlay ROC curves, false positive rate against true positive rate, with chance."""
    return _overlay_figure(
        title="ROC curve",
        series=series,
        x_title="False positive rate",
        y_title="True positive rate",
        summary_name="AUC",
        diagonal=(0, 0, 1, 1),
    )


def precision_recall_figure(*, series: Sequence[Series]) -> dict[str, Any]:
    """Overlay precision-recall curves, recall on x and precision on y."""
    return _overlay_figure(
        title="Precision and recall",
        series=series,
        x_title="Recall",
        y_title="Precision",
        summary_name="AP",
        diagonal=None,
    )


def calibration_figure(*, series: Sequence[Series]) -> dict[str, Any]:
    """Overlay reliability curves: mean predicted probability against observed positive share."""
    return _overlay_figure(
        title="Calibration",
        series=series,
        x_title="Mean predicted probability",
        y_title="Fraction of positives",
        summary_name="",
        diagonal=(0, 0, 1, 1),
        mode="lines+markers",
    )


def confusion_matrix_figure(
    *, title: str, labels: Sequence[str], matrix: Sequence[Sequence[float]]
) -> dict[str, Any]:
    """Build a heatmap of one confusion matrix: actual classes as rows, predicted as columns."""
    names = [str(label) for label in labels]
    values = [[finite_or_none(cell) for cell in row] for row in matrix]
    data = [
        go.Heatmap(
            z=values,
            x=[f"Predicted {name}" for name in names],
            y=[f"Actual {name}" for name in names],
            text=[["" if cell is None else f"{cell:g}" for cell in row] for row in values],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="%{y}, %{x}: %{z}<extra></extra>",
        )
    ]
    layout = _base_layout(
        title,
        height=260,
        margin={"l": 90, "r": 16, "t": 48, "b": 40},
        yaxis={"autorange": "reversed"},
    )
    return _to_json(data, layout)


def feature_importance_figure(
    *, importances: Sequence[tuple[str, Mapping[str, float]]], limit: int = 20
) -> dict[str, Any]:
    """Draw feature importances of several iterations side by side as grouped bars.

    ``importances`` pairs each iteration's label with its feature-to-importance map. The
    features shown are the ``limit`` with the largest importance in any iteration.
    """
    strongest: dict[str, float] = {}
    for _, values in importances:
        for feature, importance in values.items():
            value = finite_or_none(importance)
            if value is not None:
                strongest[feature] = max(strongest.get(feature, 0.0), abs(value))
    features = sorted(strongest, key=lambda name: strongest[name], reverse=True)[:limit]
    # Horizontal bars draw the first category at the bottom, so reverse to put the top first.
    features.reverse()
    data = [
        go.Bar(
            x=[finite_or_none(values.get(feature)) for feature in features],
            y=features,
            orientation="h",
            name=label,
            marker={"color": series_colour(index)},
            hovertemplate=f"{label}<br>%{{y}}: %{{x:.4g}}<extra></extra>",
        )
        for index, (label, values) in enumerate(importances)
    ]
    layout = _base_layout(
        "Feature importance",
        height=max(400, 180 + 18 * len(features) * max(1, len(importances))),
        barmode="group",
        legend=_LEGEND_BELOW,
        margin={**_MARGIN_WITH_LEGEND, "l": 160},
        xaxis={"title": {"text": "Importance"}, "gridcolor": GRID},
        yaxis={"automargin": True},
    )
    return _to_json(data, layout)


def residuals_figure(*, series: Sequence[Series]) -> dict[str, Any]:
    """Overlay residuals (actual minus predicted) against the predicted value, per iteration."""
    data = [
        go.Scatter(
            x=[finite_or_none(value) for value in item.x],
            y=[finite_or_none(value) for value in item.y],
            mode="markers",
            name=item.label,
            marker={"color": series_colour(index), "size": 5, "opacity": 0.6},
            hovertemplate=f"{item.label}<br>predicted %{{x:.4g}}, residual %{{y:.4g}}"
            "<extra></extra>",
        )
        for index, item in enumerate(series)
    ]
    zero = {
        "type": "line",
        "xref": "x domain",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": 0,
        "y1": 0,
        "line": {"color": CHANCE_COLOUR, "dash": "dash", "width": 1},
    }
    layout = _base_layout(
        "Residuals",
        height=400,
        shapes=[zero],
        legend=_LEGEND_BELOW,
        margin=_MARGIN_WITH_LEGEND,
        xaxis={"title": {"text": "Predicted"}, "gridcolor": GRID},
        yaxis={"title": {"text": "Actual minus predicted"}, "gridcolor": GRID},
    )
    return _to_json(data, layout)


def expected_cost_figure(
    *,
    series: Sequence[Series],
    chosen_thresholds: Sequence[float | None],
    cost_false_positive: float | None,
    cost_false_negative: float | None,
) -> dict[str, Any]:
    """Draw expected cost over decision thresholds, one curve per iteration.

    Each iteration's chosen threshold is a vertical dotted line in its colour with a marker
    where it meets its curve. The subtitle states the error costs the curves were computed with.
    """
    data: list[Any] = []
    shapes: list[dict[str, Any]] = []
    for index, item in enumerate(series):
        colour = series_colour(index)
        xs = [finite_or_none(value) for value in item.x]
        ys = [finite_or_none(value) for value in item.y]
        data.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=item.label,
                line={"color": colour, "width": 2},
                hovertemplate=f"{item.label}<br>threshold %{{x:.3f}}: cost %{{y:.4g}}"
                "<extra></extra>",
            )
        )
        chosen = (
            finite_or_none(chosen_thresholds[index]) if index < len(chosen_thresholds) else None
        )
        if chosen is None:
            continue
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "x0": chosen,
                "x1": chosen,
                "yref": "y domain",
                "y0": 0,
                "y1": 1,
                "line": {"color": colour, "dash": "dot", "width": 1.5},
            }
        )
        data.append(
            go.Scatter(
                x=[chosen],
                y=[_value_at(xs, ys, chosen)],
                mode="markers",
                name=f"{item.label} chosen threshold {chosen:.3f}",
                marker={"color": colour, "size": 11, "symbol": "diamond"},
                showlegend=False,
                hovertemplate=f"{item.label} chosen threshold %{{x:.3f}}: cost %{{y:.4g}}"
                "<extra></extra>",
            )
        )
    costs = []
    if cost_false_positive is not None:
        costs.append(f"false positive {cost_false_positive:g}")
    if cost_false_negative is not None:
        costs.append(f"false negative {cost_false_negative:g}")
    layout = _base_layout(
        "Expected cost over thresholds",
        height=400,
        shapes=shapes,
        legend=_LEGEND_BELOW,
        margin=_MARGIN_WITH_LEGEND,
        xaxis={"title": {"text": "Decision threshold"}, "range": [0, 1], "gridcolor": GRID},
        yaxis={"title": {"text": "Expected cost"}, "gridcolor": GRID, "rangemode": "tozero"},
    )
    if costs:
        layout["title"]["subtitle"] = {"text": f"Cost of a {' and of a '.join(costs)}"}
    return _to_json(data, layout)


def _value_at(xs: Sequence[float | None], ys: Sequence[float | None], x: float) -> float | None:
    """Return the curve's value at the point nearest to ``x``, or None if it has no points."""
    points = [(px, py) for px, py in zip(xs, ys, strict=False) if px is not None]
    if not points:
        return None
    return min(points, key=lambda point: abs(point[0] - x))[1]


def stage_funnel_figure(*, stages: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Build a funnel of project counts by lifecycle stage, in lifecycle order."""
    data = [
        go.Funnel(
            y=[label for label, _ in stages],
            x=[count for _, count in stages],
            textinfo="value",
            marker={"color": MEASURED_COLOUR},
            hovertemplate="%{y}: %{x} projects<extra></extra>",
        )
    ]
    layout = _base_layout(
        "Projects by stage", height=300, margin={"l": 130, "r": 24, "t": 48, "b": 30}
    )
    return _to_json(data, layout)


def health_counts_figure(*, counts: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """Build a bar chart of project counts by health; ``counts`` contains (status, label, count)."""
    data = [
        go.Bar(
            x=[label for _, label, _ in counts],
            y=[count for _, _, count in counts],
            marker={
                "color": [HEALTH_COLOURS.get(status, BASELINE_COLOUR) for status, _, _ in counts]
            },
            text=[str(count) for _, _, count in counts],
            textposition="auto",
            hovertemplate="%{x}: %{y} projects<extra></extra>",
        )
    ]
    layout = _base_layout(
        "Health of active projects",
        height=300,
        showlegend=False,
        yaxis={"title": {"text": "Projects"}, "gridcolor": GRID, "rangemode": "tozero"},
    )
    return _to_json(data, layout)


@dataclass(frozen=True)
class MilestonePoint:
    """Days a project took (or has taken so far) to reach a milestone, and the days agreed."""

    project: str
    expected_days: int
    actual_days: int
    reached: bool


def milestone_figure(
    *, first_model: Sequence[MilestonePoint], production: Sequence[MilestonePoint]
) -> dict[str, Any]:
    """Plot days taken against days expected; points above the diagonal are late.

    Hollow markers are milestones not reached yet, drawn at the days elapsed so far.
    """
    data: list[Any] = []
    largest = 1
    for name, points, colour in (
        ("First model", first_model, SERIES_COLOURS[0]),
        ("Production", production, SERIES_COLOURS[1]),
    ):
        largest = max(
            [largest, *(p.expected_days for p in points), *(p.actual_days for p in points)]
        )
        data.append(
            go.Scatter(
                x=[point.expected_days for point in points],
                y=[point.actual_days for point in points],
                mode="markers",
                name=name,
                text=[
                    point.project if point.reached else f"{point.project} (not reached yet)"
                    for point in points
                ],
                marker={
                    "color": colour,
                    "size": 9,
                    "symbol": ["circle" if point.reached else "circle-open" for point in points],
                },
                hovertemplate=f"%{{text}}<br>{name}: %{{y}} days, expected %{{x}}<extra></extra>",
            )
        )
    diagonal = {
        "type": "line",
        "x0": 0,
        "y0": 0,
        "x1": largest,
        "y1": largest,
        "line": {"color": CHANCE_COLOUR, "dash": "dash", "width": 1},
    }
    layout = _base_layout(
        "Days to milestones vs agreed",
        height=400,
        shapes=[diagonal],
        legend=_LEGEND_BELOW,
        margin=_MARGIN_WITH_LEGEND,
        xaxis={"title": {"text": "Days expected"}, "gridcolor": GRID, "rangemode": "tozero"},
        yaxis={"title": {"text": "Days taken"}, "gridcolor": GRID, "rangemode": "tozero"},
    )
    return _to_json(data, layout)
