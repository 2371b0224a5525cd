"""Template helpers shared by every page: plotly figures, metric values and the nav badges."""

import json
import math
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.approvals.selectors import inbox_for_user
from apps.dashboards.selectors import unread_notification_count as unread_count_for
from apps.dashboards.selectors import user_is_decision_maker
from apps.projects.framing import ReadinessReport, readiness_verdict
from apps.projects.models import Project

register = template.Library()

# The same escapes as django.utils.html.json_script, so the JSON cannot close the element.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def plotly_figure(figure: dict[str, Any], element_id: str, label: str = "") -> SafeString:
    """Render a plotly figure as a canvas and a JSON script element that charts.js draws."""
    payload = json.dumps(figure, cls=DjangoJSONEncoder).translate(_JSON_SCRIPT_ESCAPES)
    return format_html(
        '<div class="chart-frame"><div class="chart-canvas" id="{}" role="img" '
        'aria-label="{}"></div><script type="application/json" data-plotly-figure>{}</script>'
        "</div>",
        element_id,
        label,
        mark_safe(payload),  # noqa: S308 - escaped above as json_script does
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
