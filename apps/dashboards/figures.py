"""Plotly figures for the dashboards, built from plain data and returned as JSON-ready dicts.

The browser draws them with the vendored plotly.js (static/portal/charts.js), so each builder
returns ``json.loads(fig.to_json())``: plain lists, numbers and ``None``, which the template
embeds as a JSON script element.
"""

import json
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from apps.projects.models import Direction

MEASURED_COLOUR = "#1d4e89"
TARGET_COLOUR = "#1f7a4d"
MINIMUM_COLOUR = "#b7791f"


def _finite_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metric_trend_figure(
    *,
    title: str,
    direction: str,
    iteration_numbers: Sequence[int],
    values: Sequence[float | None],
    target: float,
    minimum: float | None = None,
    unit: str = "",
) -> dict[str, Any]:
    """Build a line chart of one metric across iterations, with its target and minimum.

    Undefined values (``None``, NaN or infinity) are drawn as gaps, never as zeros, so a
    metric that could not be computed does not look like a bad score.
    """
    y_values = [_finite_or_none(value) for value in values]
    better = "higher" if direction == Direction.HIGHER else "lower"
    axis_title = f"{unit} ({better} is better)" if unit else f"{better} is better"

    figure = go.Figure(layout={"template": "none"})
    figure.add_trace(
        go.Scatter(
            x=list(iteration_numbers),
            y=y_values,
            mode="lines+markers",
            name=title,
            connectgaps=False,
            line={"color": MEASURED_COLOUR, "width": 2},
            marker={"size": 8},
            hovertemplate="Iteration %{x}: %{y:.4g}<extra></extra>",
        )
    )
    if minimum is not None:
        # The band between the minimum and the target is "acceptable but not yet good enough".
        figure.add_hrect(
            y0=min(minimum, target),
            y1=max(minimum, target),
            fillcolor=MINIMUM_COLOUR,
            opacity=0.08,
            line_width=0,
            layer="below",
        )
        figure.add_hline(
            y=minimum,
            line={"color": MINIMUM_COLOUR, "dash": "dot", "width": 1.5},
            annotation_text=f"Minimum {minimum:g}",
            annotation_position="bottom right",
            annotation_font_color=MINIMUM_COLOUR,
        )
    figure.add_hline(
        y=target,
        line={"color": TARGET_COLOUR, "dash": "dash", "width": 2},
        annotation_text=f"Target {target:g}",
        annotation_position="top right",
        annotation_font_color=TARGET_COLOUR,
    )
    figure.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 15}},
        margin={"l": 56, "r": 24, "t": 48, "b": 44},
        height=300,
        showlegend=False,
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        xaxis={
            "title": {"text": "Iteration"},
            "tickmode": "array",
            "tickvals": list(iteration_numbers),
            "gridcolor": "#eef1f4",
            "zeroline": False,
        },
        yaxis={"title": {"text": axis_title}, "gridcolor": "#eef1f4", "zeroline": False},
    )
    result: dict[str, Any] = json.loads(figure.to_json())
    return result
