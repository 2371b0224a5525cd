"""Checks of decided requests, and the request-changes path under /api/v1/promotions/."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apps.approvals.models import ApprovalRequest, Decision, Gate, RequestStatus
from apps.approvals.policies import policy_update
from apps.approvals.services import promotion_request
from apps.iterations.models import Iteration
from apps.projects.models import Project

ApiClientFor = Callable[[User], APIClient]
ClientFor = Callable[[User], Client]
MakeIteration = Callable[..., Iteration]

GOOD_METRICS = {"roc_auc": 0.96, "recall": 0.91}
# roc_auc below its 0.9 minimum, so the minimums check fails.
WEAK_METRICS = {"roc_auc": 0.85, "recall": 0.91}


@pytest.fixture
def weak_promotion(project: Project, alice: User, make_iteration: MakeIteration) -> ApprovalRequest:
    return promotion_request(iteration=make_iteration(1, WEAK_METRICS), user=alice)


def test_approved_request_shows_recorded_checks(
    weak_promotion: ApprovalRequest, dana: User, api_client_for: ApiClientFor
) -> None:
    client = api_client_for(dana)
    pending = client.get(f"/api/v1/promotions/{weak_promotion.pk}/").json()

    decided = client.post(
        f"/api/v1/promotions/{weak_promotion.pk}/approve/",
        {"override_justification": "The second reading covers the gap for now."},
        format="json",
    ).json()

    decision = Decision.objects.get(request=weak_promotion)
    assert decided["status"] == RequestStatus.APPROVED
    assert decided["checks"] == pending["checks"]
    assert decided["checks"] == decision.checks
    assert {check["key"]: check["status"] for check in decided["checks"]}["minimums"] == "failed"
    assert decided["checks_recorded_at"] is not None
    assert pending["checks_recorded_at"] is None


def test_decided_checks_do_not_follow_later_policy(
    weak_promotion: ApprovalRequest,
    alice: User,
    dana: User,
    api_client_for: ApiClientFor,
) -> None:
    client = api_client_for(dana)
    client.post(
        f"/api/v1/approvals/{weak_promotion.pk}/approve/",
        {"override_justification": "The second reading covers the gap for now."},
        format="json",
    )
    policy_update(
        project=weak_promotion.project,
        gate=Gate.PROMOTION,
        user=dana,
        changes={"check_minimums": False},
    )

    detail = client.get(f"/api/v1/approvals/{weak_promotion.pk}/").json()

    assert detail["status"] == RequestStatus.APPROVED
    keys = [check["key"] for check in detail["checks"]]
    assert "minimums" in keys


def test_withdrawn_request_has_no_checks(
    weak_promotion: ApprovalRequest, alice: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(alice).post(f"/api/v1/promotions/{weak_promotion.pk}/withdraw/")

    assert response.json()["status"] == RequestStatus.WITHDRAWN
    assert response.json()["checks"] == []
    assert response.json()["checks_recorded_at"] is None


def test_approval_page_shows_recorded_checks(
    weak_promotion: ApprovalRequest,
    dana: User,
    api_client_for: ApiClientFor,
    client_for: ClientFor,
) -> None:
    api_client_for(dana).post(
        f"/api/v1/approvals/{weak_promotion.pk}/approve/",
        {"override_justification": "The second reading covers the gap for now."},
        format="json",
    )

    page = client_for(dana).get(f"/approvals/{weak_promotion.pk}/").content.decode()

    assert 'data-check="minimums"' in page
    assert "check-failed" in page
    assert "As recorded when the request was decided" in page


def test_pending_page_has_no_recorded_note(
    weak_promotion: ApprovalRequest, dana: User, client_for: ClientFor
) -> None:
    page = client_for(dana).get(f"/approvals/{weak_promotion.pk}/").content.decode()

    assert 'data-check="minimums"' in page
    assert "As recorded when the request was decided" not in page


REQUEST_CHANGES_MATRIX = [("alice", 403), ("sam", 403), ("dana", 200), ("olga", 404)]


@pytest.mark.parametrize(("persona", "expected"), REQUEST_CHANGES_MATRIX)
def test_promotion_request_changes_path(
    persona: str,
    expected: int,
    project: Project,
    alice: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
    request: pytest.FixtureRequest,
) -> None:
    approval = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(
        f"/api/v1/promotions/{approval.pk}/request-changes/",
        {"comment": "Add the recall on the latest month."},
        format="json",
    )

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["status"] == RequestStatus.PENDING
        assert response.json()["decisions"][0]["verdict"] == "request_changes"


def test_rejected_request_shows_recorded_checks(
    weak_promotion: ApprovalRequest, dana: User, api_client_for: ApiClientFor
) -> None:
    client = api_client_for(dana)

    decided = client.post(
        f"/api/v1/promotions/{weak_promotion.pk}/reject/",
        {"comment": "Below the agreed minimum."},
        format="json",
    ).json()

    assert decided["status"] == RequestStatus.REJECTED
    assert {check["key"]: check["status"] for check in decided["checks"]}["minimums"] == "failed"
    assert decided["checks"] == Decision.objects.get(request=weak_promotion).checks
