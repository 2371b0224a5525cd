from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.deployments.selectors import live_deployment, project_deployments


@login_required
def deployment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(
        request,
        "deployments/deployment_list.html",
        {
            "project": project,
            "deployments": list(project_deployments(project=project)),
            "live": live_deployment(project=project),
        },
    )
