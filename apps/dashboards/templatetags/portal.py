"""Template helpers shared by every page: plotly figures, metric values and the nav badges."""

import json
import math
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify

from apps.approvals.selectors import inbox_for_user
from apps.dashboards.selectors import unread_notification_count as unread_count_for
from apps.dashboards.selectors import user_is_decision_maker
from apps.projects.framing import ReadinessReport, readiness_verdict
from apps.projects.models import Project

register = template.Library()

# Changes smaller than this, in percent, round to 0.0% at one decimal, so they count as none.
UNCHANGED_PERCENT = 0.05


@register.simple_tag
def plotly_figure(
    figure: dict[str, Any], element_id: str, label: str = "", filename: str = ""
) -> SafeString:
    """Render a plotly figure as a canvas whose ``data-plotly-figure`` attribute charts.js draws.

    The JSON sits in an attribute, not in a script element, because HTMX (configured with
    ``allowScriptTags: false``) removes every script element from the fragments it swaps in.
    ``filename`` names the PNG that the chart's "download as image" button saves, without
    the extension; it defaults to ``element_id``.
    """
    return format_html(
        '<div class="chart-frame"><div class="chart-canvas" id="{}" role="img" '
        'aria-label="{}" data-export-name="{}" data-plotly-figure="{}"></div></div>',
        element_id,
        label,
        slugify(filename or element_id) or "chart",
        json.dumps(figure, cls=DjangoJSONEncoder),
    )


@register.filter
def metric_value(value: float | None, unit: str = "") -> str:
    """Format a metric for a table: four significant digits, a dash when undefined."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if not math.isfinite(value):
        return "—"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


@register.simple_tag(takes_context=True)
def pending_approval_count(context: template.Context) -> int | None:
    """Return how many requests wait for the signed-in user's decision, or None for non-deciders."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user_is_decision_maker(user=user):
        return None
    return inbox_for_user(user=user).count()


@register.simple_tag(takes_context=True)
def unread_notification_count(context: template.Context) -> int:
    """Return how many notifications the signed-in user has not read, in one query."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None:
        return 0
    return unread_count_for(user=user)


@register.filter
def readiness(project: Project) -> ReadinessReport:
    """Judge the project's saved suitability checklist without a database query."""
    return readiness_verdict(project.suitability or {})


@register.filter
def percent_change(value: float | None) -> str:
    """Format a change in percent with its sign, where positive means better; empty if None."""
    if value is None or not math.isfinite(value):
        return ""
    if abs(value) < UNCHANGED_PERCENT:
        return "±0%"
    sign = "+" if value > 0 else "\u2212"  # a typographic minus, as wide as the plus
    return f"{sign}{abs(value):.1f}%"


@register.filter
def change_class(value: float | None) -> str:
    """Return the CSS class for a change: better, worse or unchanged."""
    if value is None or not math.isfinite(value) or abs(value) < UNCHANGED_PERCENT:
        return "change-none"
    return "change-better" if value > 0 else "change-worse"
