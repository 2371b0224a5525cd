"""Who may widen a canary, complete it or reuse an approval.

A canary's promotion approves a share of the traffic. Raising the share above it, or
completing the canary so that it replaces the live version, widens that approval, so it
needs a decision maker who could have approved the promotion. Lowering the share and
stopping stay open to every user who manages rollouts. Each approval starts one rollout or
deployment.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import Membership, Role
from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.approvals.services import promotion_approve, promotion_request
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed
from apps.deployments.models import Deployment, DeploymentStatus, Rollout, RolloutStatus
from apps.deployments.services import (
    deployment_rollback,
    rollout_complete,
    rollout_run,
    rollout_share_set,
    rollout_start,
    rollout_stop,
)
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def candidate(train: Callable[..., Iteration], live_deployment: Deployment) -> Iteration:
    return train(seed=7)


@pytest.fixture
def canary(candidate: Iteration, alice: User, dana: User) -> Rollout:
    """A 20% canary of ``candidate``: alice requested it, dana approved it."""
    approval = promotion_request(iteration=candidate, user=alice, canary_share=0.2)
    promotion_approve(approval=approval, user=dana)
    rollout = Rollout.objects.get(approval=approval)
    rollout_run(rollout_id=rollout.pk)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ACTIVE, rollout.status_reason
    return rollout


def _live(project: Project) -> Deployment:
    return Deployment.objects.get(project=project, status=DeploymentStatus.LIVE)


def _api(project: Project, path: str) -> str:
    return f"/api/v1/projects/{project.slug}/{path}"


def test_data_scientist_cannot_raise_share_above_approval(canary: Rollout, alice: User):
    with pytest.raises(NotAllowed, match="needs a decision maker") as raised:
        rollout_share_set(rollout=canary, user=alice, share=0.5)

    assert "above the 0.2 approved" in raised.value.message
    canary.refresh_from_db()
    assert canary.share == 0.2


def test_data_scientist_may_lower_share_and_raise_it_back(canary: Rollout, alice: User):
    rollout_share_set(rollout=canary, user=alice, share=0.05)
    raised = rollout_share_set(rollout=canary, user=alice, share=0.2)

    assert raised.share == 0.2


def test_decision_maker_raises_share_above_approval(canary: Rollout, dave: User):
    updated = rollout_share_set(rollout=canary, user=dave, share=0.5)

    assert updated.share == 0.5
    event = AuditEvent.objects.filter(action="rollout.share_changed").latest("id")
    assert event.actor_id == dave.pk
    assert event.before == {"share": 0.2}
    assert event.after["share"] == 0.5
    assert event.after["approved_share"] == 0.2
    assert event.after["above_approval"] is True
    assert event.after["approval"] == canary.approval_id


def test_requester_with_decision_role_cannot_raise_share(
    project: Project, canary: Rollout, alice: User
):
    Membership.objects.create(project=project, user=alice, role=Role.DECISION_MAKER)

    with pytest.raises(NotAllowed, match="You requested this production promotion"):
        rollout_share_set(rollout=canary, user=alice, share=0.5)


def test_data_scientist_cannot_complete_canary(
    project: Project, canary: Rollout, live_deployment: Deployment, alice: User
):
    with pytest.raises(NotAllowed, match="replaces the live version") as raised:
        rollout_complete(rollout=canary, user=alice)

    assert "decision maker" in raised.value.message
    canary.refresh_from_db()
    assert canary.status == RolloutStatus.ACTIVE
    assert _live(project).pk == live_deployment.pk


def test_decision_maker_completes_canary_and_is_recorded(
    project: Project, canary: Rollout, dave: User
):
    rollout_complete(rollout=canary, user=dave)

    live = _live(project)
    assert live.iteration_id == canary.iteration_id
    assert live.created_by_id == dave.pk
    assert live.live_at == live.created_at
    event = AuditEvent.objects.get(action="deployment.live", object_id=str(live.pk))
    assert event.actor_id == dave.pk
    assert event.after["rollout"] == canary.pk
    assert event.after["approval"] == canary.approval_id


def test_data_scientist_may_stop_canary(canary: Rollout, alice: User):
    stopped = rollout_stop(rollout=canary, user=alice)

    assert stopped.status == RolloutStatus.STOPPED


def test_used_approval_cannot_start_second_canary(
    project: Project, canary: Rollout, candidate: Iteration, alice: User, dana: User
):
    rollout_stop(rollout=canary, user=alice)

    for user in (alice, dana):
        with pytest.raises(Conflict, match="was already used"):
            rollout_start(project=project, user=user, iteration=candidate, mode="canary", share=0.1)

    assert Rollout.objects.filter(status=RolloutStatus.PENDING).count() == 0


def test_unused_approval_starts_canary_once(
    project: Project, candidate: Iteration, alice: User, dana: User
):
    # Every approval through the services starts its rollout or deployment at once, so an
    # approved promotion that started nothing only comes from data written before that rule.
    approval = ApprovalRequest.objects.create(
        project=project,
        gate=Gate.PROMOTION,
        iteration=candidate,
        requested_by=alice,
        canary_share=0.2,
        status=RequestStatus.APPROVED,
        decided_at=timezone.now(),
    )

    with pytest.raises(NotAllowed, match=r"above the 0\.2 approved"):
        rollout_start(project=project, user=alice, iteration=candidate, mode="canary", share=0.5)
    rollout = rollout_start(
        project=project, user=alice, iteration=candidate, mode="canary", share=0.2
    )
    rollout_stop(rollout=rollout, user=alice)

    assert rollout.approval_id == approval.pk
    with pytest.raises(Conflict, match="was already used"):
        rollout_start(project=project, user=alice, iteration=candidate, mode="canary", share=0.2)


def test_canary_cannot_be_widened_or_reused_through_api(
    api_client_for,
    project: Project,
    canary: Rollout,
    live_deployment: Deployment,
    alice: User,
    dave: User,
):
    client = api_client_for(alice)

    raised = client.patch(_api(project, f"rollouts/{canary.pk}/"), {"share": 0.5}, format="json")
    completed = client.post(_api(project, f"rollouts/{canary.pk}/complete/"))

    assert raised.status_code == 403
    assert "decision maker" in raised.json()["detail"]
    assert completed.status_code == 403
    assert "decision maker" in completed.json()["detail"]

    by_dave = api_client_for(dave).post(_api(project, f"rollouts/{canary.pk}/complete/"))
    assert by_dave.status_code == 200
    assert client.post(_api(project, "deployments/rollback/")).status_code == 201
    assert _live(project).model_version == live_deployment.model_version

    reused = client.post(
        _api(project, "rollouts/"),
        {"iteration": canary.iteration.number, "mode": "canary", "share": 0.9},
        format="json",
    )

    assert reused.status_code == 409
    assert "was already used" in reused.json()["detail"]
    assert "Request a new promotion" in reused.json()["detail"]
    assert not Rollout.objects.filter(status__in=["pending", "active"]).exists()


def test_rollback_does_not_free_used_approval(
    project: Project, canary: Rollout, alice: User, dave: User
):
    rollout_complete(rollout=canary, user=dave)
    deployment_rollback(project=project, user=alice)

    with pytest.raises(Conflict, match="was already used"):
        rollout_start(
            project=project, user=alice, iteration=canary.iteration, mode="canary", share=0.2
        )
