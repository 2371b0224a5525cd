import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.approvals.selectors import inbox_for_user
from apps.core.errors import PortalError
from apps.dashboards.comparison import comparison_numbers_parse, iteration_comparison
from apps.dashboards.portfolio import (
    DEFAULT_STALLED_AFTER_DAYS,
    MAX_STALLED_AFTER_DAYS,
    portfolio_for_user,
)
from apps.dashboards.report import project_report_html
from apps.dashboards.selectors import (
    SCORECARD_ROWS,
    dashboard_filters_parse,
    project_dashboard,
    user_is_decision_maker,
    user_projects,
)
from apps.projects.views import discussion_context

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    is_decision_maker = user_is_decision_maker(user=request.user)
    pending = list(inbox_for_user(user=request.user)) if is_decision_maker else []
    return render(
        request,
        "dashboards/home.html",
        {
            "summaries": user_projects(user=request.user),
            "is_decision_maker": is_decision_maker,
            "pending_approvals": pending,
        },
    )


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    filters = dashboard_filters_parse(request.GET)
    dashboard = project_dashboard(project=project, filters=filters)
    show_all_rows = request.GET.get("rows") == "all"
    context = {
        "project": project,
        "dashboard": dashboard,
        "actions": project.user_actions,
        "scorecard_rows": dashboard.rows if show_all_rows else dashboard.scorecard_rows,
        "hidden_row_count": 0 if show_all_rows else dashboard.hidden_row_count,
        "scorecard_size": SCORECARD_ROWS,
    }
    # The filter form swaps only the charts and the scorecard, so HTMX asks for that fragment.
    if request.headers.get("HX-Request") == "true":
        return render(request, "dashboards/project_detail.html#analysis", context)
    context.update(discussion_context(project=project, iteration=None, comments=dashboard.comments))
    return render(request, "dashboards/project_detail.html", context)


@login_required
def iteration_compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    raw = request.GET.getlist("iterations")
    context: dict[str, object] = {"project": project, "requested": ",".join(raw)}
    try:
        numbers = comparison_numbers_parse(raw)
        context["comparison"] = iteration_comparison(project=project, numbers=numbers)
    except PortalError as error:
        context["error"] = error.message
        return render(request, "dashboards/compare.html", context, status=error.status_code)
    return render(request, "dashboards/compare.html", context)


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("stalled_after", "").strip()
    stalled_after = DEFAULT_STALLED_AFTER_DAYS
    if text.isdigit() and 1 <= int(text) <= MAX_STALLED_AFTER_DAYS:
        stalled_after = int(text)
    return render(
        request,
        "dashboards/portfolio.html",
        {
            "portfolio": portfolio_for_user(user=request.user, stalled_after_days=stalled_after),
            "max_stalled_after": MAX_STALLED_AFTER_DAYS,
        },
    )


@login_required
def project_report(request: HttpRequest, slug: str) -> HttpResponse:
    """Send the project's self-contained HTML report as a download for offline reading."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    html = project_report_html(project=project, user=request.user)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    filename = f"{slugify(project.slug) or 'project'}-report.html"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    logger.info("report downloaded for project %s by user %s", project.slug, request.user.pk)
    return response
