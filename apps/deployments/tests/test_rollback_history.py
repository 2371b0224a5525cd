"""Repeated rollbacks walk back through every earlier live version.

The history is built through the services: promotions approved by dana and deployed by the
deploy task's body, a retirement approved through the retirement gate, and a deployment
whose checks fail.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import approval_approve, promotion_approve, promotion_request
from apps.approvals.services import retirement_request as retirement_request_open
from apps.core.errors import Conflict
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.services import deployment_rollback, deployment_run
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _live(project: Project) -> Deployment:
    return Deployment.objects.get(project=project, status=DeploymentStatus.LIVE)


def _failed_deploy(iteration: Iteration, *, alice: User, dana: User) -> Deployment:
    """Promote ``iteration`` with a held-out replay that cannot match, so its checks fail."""
    sample = dict(iteration.holdout_sample)
    sample["predictions"] = [1 - int(label) for label in sample["predictions"]]
    Iteration.objects.filter(pk=iteration.pk).update(holdout_sample=sample)
    approval = promotion_request(iteration=iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    deployment = Deployment.objects.get(approval=approval)
    deployment_run(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    return deployment


def _deployment_retire(deployment: Deployment, *, alice: User, dana: User) -> None:
    request = retirement_request_open(
        project=deployment.project,
        user=alice,
        deployment=deployment,
        comment="Its error rate doubled.",
    )
    approval_approve(approval=request, user=dana)


def test_rollback_walks_back_across_retirement_and_failure(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    alice: User,
    dana: User,
):
    first = deploy(train(seed=0))
    second = deploy(train(seed=1))
    _deployment_retire(second, alice=alice, dana=dana)
    third = deploy(train(seed=2))
    _failed_deploy(train(seed=3), alice=alice, dana=dana)
    fourth = deploy(train(seed=4))

    back_once = deployment_rollback(project=project, user=dana)
    back_twice = deployment_rollback(project=project, user=dana)

    assert third.previous_live_id == first.pk
    assert back_once.model_version == third.model_version
    assert back_once.previous_live_id == first.pk
    assert back_twice.model_version == first.model_version
    assert back_twice.previous_live_id is None
    assert _live(project).pk == back_twice.pk
    with pytest.raises(Conflict, match="no earlier live version"):
        deployment_rollback(project=project, user=dana)
    assert _live(project).pk == back_twice.pk
    assert fourth.previous_live_id == third.pk


def test_rollback_after_rollback_keeps_going_back(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    dana: User,
):
    versions = [deploy(train(seed=seed)) for seed in range(4)]

    restored = [deployment_rollback(project=project, user=dana) for _ in range(3)]

    assert [item.model_version for item in restored] == [
        versions[2].model_version,
        versions[1].model_version,
        versions[0].model_version,
    ]
    assert restored[0].previous_live_id == versions[1].pk
    assert restored[1].previous_live_id == versions[0].pk


def test_rollback_deployment_goes_live_when_created(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    dana: User,
):
    first = deploy(train(seed=0))
    second = deploy(train(seed=1))

    restored = deployment_rollback(project=project, user=dana)

    restored.refresh_from_db()
    second.refresh_from_db()
    assert restored.live_at == restored.created_at
    assert second.retired_at == restored.live_at
    assert restored.created_at >= first.created_at
