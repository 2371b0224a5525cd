"""Promotion requests that no approval could carry out are rejected when they are made."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from apps.approvals.models import ApprovalRequest
from apps.approvals.services import approval_approve, retirement_request
from apps.audit.models import AuditEvent
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage

pytestmark = pytest.mark.django_db

ApiClientFor = Callable[[User], APIClient]
MakeIteration = Callable[..., Iteration]

GOOD_METRICS = {"roc_auc": 0.96, "recall": 0.91}


def _promotions_url(project: Project, iteration: Iteration) -> str:
    return f"/api/v1/projects/{project.slug}/iterations/{iteration.number}/promotions/"


def _live(project: Project, iteration: Iteration) -> Deployment:
    return Deployment.objects.create(
        project=project,
        iteration=iteration,
        status=DeploymentStatus.LIVE,
        model_version=iteration.model_version,
        live_at=timezone.now(),
    )


def _assert_nothing_stored(project: Project) -> None:
    assert not ApprovalRequest.objects.filter(project=project, gate="promotion").exists()
    assert not AuditEvent.objects.filter(project=project, action="promotion.requested").exists()


def test_retired_project_rejects_promotion_request(
    api_client_for: ApiClientFor,
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
) -> None:
    iteration = make_iteration(4, GOOD_METRICS)
    retirement = retirement_request(project=project, user=alice, comment="The pilot ended.")
    approval_approve(approval=retirement, user=dana)
    project.refresh_from_db()
    assert project.stage == Stage.RETIRED

    response = api_client_for(alice).post(_promotions_url(project, iteration), {}, format="json")

    assert response.status_code == 409, response.json()
    assert "retired" in response.json()["detail"]
    assert "stage" in response.json()["errors"]
    _assert_nothing_stored(project)


def test_canary_of_live_iteration_is_rejected(
    api_client_for: ApiClientFor, project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    live = make_iteration(3, GOOD_METRICS)
    _live(project, live)

    response = api_client_for(alice).post(
        _promotions_url(project, live), {"canary_share": 0.1}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert "Iteration 3 is already the live version" in response.json()["detail"]
    _assert_nothing_stored(project)


def test_canary_without_live_version_is_rejected(
    api_client_for: ApiClientFor, project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    iteration = make_iteration(2, GOOD_METRICS)

    response = api_client_for(alice).post(
        _promotions_url(project, iteration), {"canary_share": 0.1}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert "no version of this project is live" in response.json()["detail"]
    assert "canary_share" in response.json()["errors"]
    _assert_nothing_stored(project)


def test_full_promotion_of_live_iteration_is_rejected(
    api_client_for: ApiClientFor, project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    live = make_iteration(3, GOOD_METRICS)
    _live(project, live)

    response = api_client_for(alice).post(_promotions_url(project, live), {}, format="json")

    assert response.status_code == 409, response.json()
    assert "Iteration 3 is already the live version" in response.json()["detail"]
    _assert_nothing_stored(project)


def test_canary_of_other_iteration_is_accepted(
    api_client_for: ApiClientFor, project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    _live(project, make_iteration(3, GOOD_METRICS))
    candidate = make_iteration(4, GOOD_METRICS)

    canary = api_client_for(alice).post(
        _promotions_url(project, candidate), {"canary_share": 0.1}, format="json"
    )

    assert canary.status_code == 201, canary.json()
    assert canary.json()["status"] == "pending"
    assert canary.json()["canary_share"] == 0.1


def test_full_promotion_of_other_iteration_is_accepted(
    api_client_for: ApiClientFor, project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    _live(project, make_iteration(3, GOOD_METRICS))
    candidate = make_iteration(4, GOOD_METRICS)

    response = api_client_for(alice).post(_promotions_url(project, candidate), {}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"


def test_canary_request_other_columns_rejected(
    api_client_for: ApiClientFor,
    project: Project,
    alice: User,
    make_iteration: MakeIteration,
) -> None:
    _live(project, make_iteration(1, GOOD_METRICS, feature_columns=["age", "income"]))
    candidate = make_iteration(2, GOOD_METRICS, feature_columns=["age", "postcode"])

    response = api_client_for(alice).post(
        _promotions_url(project, candidate), {"canary_share": 0.2}, format="json"
    )

    assert response.status_code == 409
    assert "income" in response.json()["detail"]
    _assert_nothing_stored(project)
