from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.core.errors import PortalError
from apps.core.users import authenticated_user
from apps.deployments.selectors import (
    live_deployment,
    project_batches,
    project_deployments,
    project_rollouts,
    rollout_comparison,
)
from apps.deployments.services import deployment_rollback


@login_required
def deployment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    rollouts = list(project_rollouts(project=project)[:10])
    open_rollout = next((r for r in rollouts if r.status == "active"), None)
    return render(
        request,
        "deployments/deployment_list.html",
        {
            "project": project,
            "deployments": list(project_deployments(project=project)),
            "live": live_deployment(project=project),
            "rollouts": rollouts,
            "open_rollout": open_rollout,
            "comparison": rollout_comparison(rollout=open_rollout) if open_rollout else None,
            "batches": list(project_batches(project=project)[:10]),
            "can_roll_back": Action.ROLL_BACK in project.user_actions,
        },
    )


@login_required
@require_POST
def deployment_rollback_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.ROLL_BACK)
    try:
        restored = deployment_rollback(project=project, user=authenticated_user(request))
    except PortalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Model version {restored.model_version} is live again.")
    return redirect("deployment-list", slug=project.slug)
