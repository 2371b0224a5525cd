from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.approvals.selectors import inbox_for_user
from apps.dashboards.selectors import (
    project_dashboard,
    user_is_decision_maker,
    user_projects,
)
from apps.projects.views import discussion_context


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
    dashboard = project_dashboard(project=project)
    return render(
        request,
        "dashboards/project_detail.html",
        {
            **discussion_context(project=project, iteration=None, comments=dashboard.comments),
            "project": project,
            "dashboard": dashboard,
            "actions": project.user_actions,
        },
    )
