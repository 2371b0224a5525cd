from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.deployments.models import Deployment
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _url(project: Project) -> str:
    return f"/api/v1/projects/{project.slug}/deployments/"


def test_deployments_list_shows_status_and_version(
    api_client_for, sam: User, project: Project, live_deployment: Deployment
):
    response = api_client_for(sam).get(_url(project))

    assert response.status_code == 200
    [item] = response.json()
    assert item["id"] == live_deployment.pk
    assert item["status"] == "live"
    assert item["iteration"] == live_deployment.iteration.number
    assert item["model_version"] == live_deployment.model_version
    assert item["model_uri"] == live_deployment.model_uri
    assert item["environment"] == "production"
    assert item["live_at"] is not None
    assert item["retired_at"] is None


def test_outsider_cannot_list_deployments(api_client_for, olga: User, project: Project):
    response = api_client_for(olga).get(_url(project))

    assert response.status_code == 404


def test_deployments_list_query_count_is_fixed(
    api_client_for,
    sam: User,
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
):
    client = api_client_for(sam)
    deploy(train(seed=0))
    # The first request of a token records its use, which is one more query.
    client.get(_url(project))
    with CaptureQueriesContext(connection) as one_deployment:
        client.get(_url(project))
    deploy(train(seed=1))

    with CaptureQueriesContext(connection) as two_deployments:
        response = client.get(_url(project))

    assert response.status_code == 200
    assert len(response.json()) == 2
    assert len(two_deployments) == len(one_deployment)
