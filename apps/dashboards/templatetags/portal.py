"""Template helpers shared by every page: plotly figures, metric values and the nav badges."""

import json
import math
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
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


@register.filter
def share_percent(value: float | None) -> str:
    """Format a share between 0 and 1 as a percentage with up to four significant digits."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if not math.isfinite(value):
        return "—"
    return f"{value * 100:.4g}%"


# Names a long list shows before its full content is folded away, in a spec diff cell.
SPEC_LIST_PREVIEW = 5


@register.simple_tag
def spec_value(value: Any, other: Any = None) -> SafeString:
    """Render one spec value for a diff table, summarizing a long list against ``other``.

    A list longer than ``SPEC_LIST_PREVIEW`` shows its length, its first names, and the
    names added and removed against ``other`` (when that is a list too), with the full list
    in a collapsed ``<details>``. Other values render as code, broken anywhere when long.
    """
    if value is None:
        return mark_safe('<span class="muted">not set</span>')
    if not isinstance(value, list) or len(value) <= SPEC_LIST_PREVIEW:
        return format_html('<code style="overflow-wrap: anywhere;">{}</code>', value)
    parts = [
        format_html(
            "{} items: <code>{}</code>, …",
            len(value),
            ", ".join(str(item) for item in value[:SPEC_LIST_PREVIEW]),
        )
    ]
    if isinstance(other, list):
        values, others = [str(item) for item in value], {str(item) for item in other}
        own = set(values)
        added = [item for item in values if item not in others]
        lacking = [str(item) for item in other if str(item) not in own]
        parts.append(_names_summary("added", added))
        parts.append(_names_summary("removed", lacking))
    full = ", ".join(str(item) for item in value)
    return format_html(
        '<div class="spec-list">{}<details><summary>All {} items</summary>'
        '<div style="max-height: 12rem; overflow: auto; overflow-wrap: anywhere;">'
        "<code>{}</code></div></details></div>",
        format_html_join(" ", "<div>{}</div>", ((part,) for part in parts)),
        len(value),
        full,
    )


def _names_summary(label: str, names: list[str]) -> SafeString:
    if not names:
        return format_html("0 {}", label)
    shown = ", ".join(names[:SPEC_LIST_PREVIEW])
    more = f", and {len(names) - SPEC_LIST_PREVIEW} more" if len(names) > SPEC_LIST_PREVIEW else ""
    return format_html("{} {}: <code>{}</code>{}", len(names), label, shown, more)
