"""Policies that can be met, and approvals counted by each decision maker's latest verdict."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.approvals.models import ApprovalPolicy, ApprovalRequest, Decision, Gate, RequestStatus
from apps.approvals.policies import policy_update
from apps.approvals.services import promotion_request
from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput
from apps.deployments.models import Deployment
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

ApiClientFor = Callable[[User], APIClient]
MakeIteration = Callable[..., Iteration]

GOOD_METRICS = {"roc_auc": 0.96, "recall": 0.91}


def _policy_url(project: Project) -> str:
    return f"/api/v1/projects/{project.slug}/policies/promotion/"


def _decide_url(approval: ApprovalRequest, verdict: str) -> str:
    return f"/api/v1/approvals/{approval.pk}/{verdict}/"


@pytest.fixture
def promotion(project: Project, alice: User, make_iteration: MakeIteration) -> ApprovalRequest:
    iteration = make_iteration(1, GOOD_METRICS)
    return promotion_request(iteration=iteration, user=alice, comment="Meets the targets.")


def test_policy_above_named_approvers_is_rejected(
    api_client_for: ApiClientFor, project: Project, alice: User
) -> None:
    client = api_client_for(alice)
    narrowed = client.patch(_policy_url(project), {"approvers": ["dana"]}, format="json")
    assert narrowed.status_code == 200, narrowed.json()

    response = client.patch(_policy_url(project), {"approvals_required": 3}, format="json")

    assert response.status_code == 400, response.json()
    assert "approvals_required" in response.json()["errors"]
    assert "only 1 approvers named" in response.json()["detail"]
    assert ApprovalPolicy.objects.get(project=project, gate=Gate.PROMOTION).approvals_required == 1


def test_policy_above_all_decision_makers_is_rejected(project: Project, alice: User) -> None:
    # The project has two decision makers, dana and dave, and names no approvers.
    with pytest.raises(InvalidInput) as raised:
        policy_update(
            project=project, gate=Gate.PROMOTION, user=alice, changes={"approvals_required": 3}
        )

    assert "approvals_required" in raised.value.errors
    assert not ApprovalPolicy.objects.filter(project=project).exists()


def test_narrowing_approvers_below_required_is_rejected(project: Project, dana: User) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )

    with pytest.raises(InvalidInput) as raised:
        policy_update(
            project=project, gate=Gate.PROMOTION, user=dana, changes={"approvers": ["dana"]}
        )

    assert "approvals_required" in raised.value.errors
    policy = ApprovalPolicy.objects.get(project=project, gate=Gate.PROMOTION)
    assert list(policy.approvers.all()) == []


def test_policy_equal_to_decision_makers_is_accepted(project: Project, alice: User) -> None:
    policy = policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"approvals_required": 2}
    )

    assert policy.approvals_required == 2


def test_repeat_approval_completes_loosened_policy(
    api_client_for: ApiClientFor, promotion: ApprovalRequest, project: Project, dana: User
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )
    first = api_client_for(dana).post(_decide_url(promotion, "approve"))
    assert first.json()["status"] == RequestStatus.PENDING
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 1}
    )

    again = api_client_for(dana).post(_decide_url(promotion, "approve"))

    assert again.status_code == 200, again.json()
    assert again.json()["status"] == RequestStatus.APPROVED
    assert Decision.objects.filter(request=promotion).count() == 1
    assert Deployment.objects.filter(approval=promotion).count() == 1
    completed = AuditEvent.objects.get(action="promotion.approval_completed")
    assert completed.actor == dana
    assert completed.after["approvals"] == 1
    assert completed.after["approvals_required"] == 1


def test_repeat_approval_short_of_policy_is_409(
    api_client_for: ApiClientFor, promotion: ApprovalRequest, project: Project, dana: User
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )
    api_client_for(dana).post(_decide_url(promotion, "approve"))

    again = api_client_for(dana).post(_decide_url(promotion, "approve"))

    assert again.status_code == 409
    assert "1 of the 2 approvals" in again.json()["detail"]
    promotion.refresh_from_db()
    assert promotion.status == RequestStatus.PENDING


def test_request_changes_withdraws_earlier_approval(
    api_client_for: ApiClientFor,
    promotion: ApprovalRequest,
    project: Project,
    dana: User,
    dave: User,
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )
    api_client_for(dana).post(_decide_url(promotion, "approve"))
    changes = api_client_for(dana).post(
        _decide_url(promotion, "request-changes"),
        {"comment": "Show the recall on the night-shift samples."},
        format="json",
    )
    assert changes.status_code == 200

    second = api_client_for(dave).post(_decide_url(promotion, "approve"))

    assert second.status_code == 200, second.json()
    assert second.json()["status"] == RequestStatus.PENDING
    assert not Deployment.objects.filter(approval=promotion).exists()


def test_withdrawn_approval_cannot_be_repeated(
    api_client_for: ApiClientFor, promotion: ApprovalRequest, project: Project, dana: User
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )
    api_client_for(dana).post(_decide_url(promotion, "approve"))
    api_client_for(dana).post(
        _decide_url(promotion, "request-changes"), {"comment": "Add a holdout."}, format="json"
    )
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 1}
    )

    again = api_client_for(dana).post(_decide_url(promotion, "approve"))

    assert again.status_code == 409
    assert "asked for changes after approving" in again.json()["detail"]
    promotion.refresh_from_db()
    assert promotion.status == RequestStatus.PENDING


def test_approval_after_request_changes_counts(
    api_client_for: ApiClientFor,
    promotion: ApprovalRequest,
    project: Project,
    dana: User,
    dave: User,
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 2}
    )
    api_client_for(dave).post(
        _decide_url(promotion, "request-changes"), {"comment": "Add a holdout."}, format="json"
    )
    api_client_for(dana).post(_decide_url(promotion, "approve"))

    last = api_client_for(dave).post(_decide_url(promotion, "approve"))

    assert last.status_code == 200, last.json()
    assert last.json()["status"] == RequestStatus.APPROVED
