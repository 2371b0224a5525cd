from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_deployments_page_opens_for_members(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    make_user: Callable[[str], User],
    username: str,
) -> None:
    first = make_iteration(1)
    second = make_iteration(2)
    Deployment.objects.create(
        project=project, iteration=first, status=DeploymentStatus.RETIRED, model_version="1"
    )
    Deployment.objects.create(
        project=project, iteration=second, status=DeploymentStatus.LIVE, model_version="2"
    )

    response = client_for(make_user(username)).get(reverse("deployment-list", args=[project.slug]))

    assert response.status_code == 200
    assert "Iteration 2 (model version 2) serves predictions" in response.text
    assert response.text.count('class="highlight"') == 1


def test_deployments_page_without_deployments(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    response = client_for(sam).get(reverse("deployment-list", args=[project.slug]))

    assert response.status_code == 200
    assert "No version is serving predictions." in response.text


def test_deployments_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("deployment-list", args=[project.slug]))

    assert response.status_code == 404


def test_rollback_button_restores_previous_version(client, project, alice, make_iteration):
    from apps.deployments.models import Deployment

    first = Deployment.objects.create(
        project=project, iteration=make_iteration(number=1), status="retired", model_version="1"
    )
    Deployment.objects.create(
        project=project,
        iteration=make_iteration(number=2),
        status="live",
        model_version="2",
        previous_live=first,
    )
    client.force_login(alice)

    response = client.post(f"/projects/{project.slug}/deployments/rollback/")

    assert response.status_code == 302
    live = Deployment.objects.get(project=project, status="live")
    assert live.model_version == "1"


def test_stakeholder_cannot_use_rollback_button(client, project, sam):
    client.force_login(sam)

    response = client.post(f"/projects/{project.slug}/deployments/rollback/")

    assert response.status_code == 403
