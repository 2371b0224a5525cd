"""Retiring a whole project takes it out of service for good.

An approved retirement retires the live deployment, fails the deployments still queued and
stops the open rollouts in the same transaction, and moves the project to the retired stage.
A deploy task that finishes afterwards cannot put a version live again.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import (
    approval_approve,
    promotion_approve,
    promotion_request,
    retirement_request,
)
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict
from apps.deployments.models import Deployment, DeploymentStatus, Rollout, RolloutStatus
from apps.deployments.services import deployment_run, rollout_start
from apps.iterations.models import Iteration
from apps.projects.models import STAGE_TRANSITIONS, Project, Stage
from apps.projects.services import project_stage_transition

pytestmark = pytest.mark.django_db


def _queued_deployment(iteration: Iteration, *, alice: User, dana: User) -> Deployment:
    """Approve a promotion of ``iteration`` whose deploy task has not run yet."""
    approval = promotion_request(iteration=iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    return Deployment.objects.get(approval=approval)


def test_project_retirement_fails_queued_deployment(
    project: Project,
    train: Callable[..., Iteration],
    live_deployment: Deployment,
    alice: User,
    dana: User,
):
    queued = _queued_deployment(train(seed=1), alice=alice, dana=dana)
    shadow = rollout_start(project=project, user=alice, iteration=train(seed=2), mode="shadow")
    request = retirement_request(project=project, user=alice, comment="The product was dropped.")

    approval_approve(approval=request, user=dana)

    live_deployment.refresh_from_db()
    queued.refresh_from_db()
    shadow.refresh_from_db()
    project.refresh_from_db()
    assert live_deployment.status == DeploymentStatus.RETIRED
    assert queued.status == DeploymentStatus.FAILED
    assert f"Retirement request {request.pk}" in queued.status_reason
    assert shadow.status == RolloutStatus.STOPPED
    assert f"Retirement request {request.pk}" in shadow.status_reason
    assert project.stage == Stage.RETIRED
    failed = AuditEvent.objects.get(action="deployment.failed", object_id=str(queued.pk))
    assert failed.actor_id == dana.pk

    deployment_run(deployment_id=queued.pk)

    queued.refresh_from_db()
    assert queued.status == DeploymentStatus.FAILED
    assert not Deployment.objects.filter(project=project, status=DeploymentStatus.LIVE).exists()


def test_deploy_task_refuses_retired_project(
    project: Project,
    train: Callable[..., Iteration],
    live_deployment: Deployment,
    alice: User,
    dana: User,
):
    queued = _queued_deployment(train(seed=1), alice=alice, dana=dana)
    # The project is retired while the deployment waits, without failing it, as happens
    # when the retirement commits while the deploy task is already running its checks.
    project_stage_transition(project=project, user=dana, stage=Stage.RETIRED)

    deployment_run(deployment_id=queued.pk)

    queued.refresh_from_db()
    live_deployment.refresh_from_db()
    assert queued.status == DeploymentStatus.FAILED
    assert "project was retired" in queued.status_reason
    assert live_deployment.status == DeploymentStatus.LIVE


def test_retired_project_refuses_new_rollout(
    project: Project,
    train: Callable[..., Iteration],
    live_deployment: Deployment,
    alice: User,
    dana: User,
):
    candidate = train(seed=1)
    project_stage_transition(project=project, user=dana, stage=Stage.RETIRED)

    with pytest.raises(Conflict, match="project is retired"):
        rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")

    assert not Rollout.objects.exists()


def test_project_retirement_moves_framing_stage_to_retired(
    project: Project, live_deployment: Deployment, alice: User, dana: User
):
    project.refresh_from_db()
    assert project.stage == Stage.FRAMING
    request = retirement_request(project=project, user=alice, comment="Abandoned.")

    approval_approve(approval=request, user=dana)

    project.refresh_from_db()
    assert project.stage == Stage.RETIRED


def test_every_stage_but_retired_may_retire():
    for stage in Stage.values:
        allowed = Stage.RETIRED in STAGE_TRANSITIONS[stage]
        assert allowed == (stage != Stage.RETIRED), stage


def test_live_deployment_leaves_framing_stage_unchanged(
    project: Project, live_deployment: Deployment
):
    project.refresh_from_db()

    assert project.stage == Stage.FRAMING
