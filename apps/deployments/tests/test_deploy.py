from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import promotion_approve, promotion_request
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.services import deployment_rollback, deployment_run
from apps.deployments.serving import predict
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage

pytestmark = pytest.mark.django_db


def _live(project: Project) -> list[int]:
    return list(
        Deployment.objects.filter(project=project, status=DeploymentStatus.LIVE).values_list(
            "pk", flat=True
        )
    )


def test_approval_creates_pending_deployment(
    trained_iteration: Iteration, alice: User, dana: User, django_capture_on_commit_callbacks
):
    approval = promotion_request(iteration=trained_iteration, user=alice)

    # The callbacks are captured but not run, so no message reaches the broker.
    with django_capture_on_commit_callbacks() as callbacks:
        promotion_approve(approval=approval, user=dana)

    assert len(callbacks) == 1

    deployment = Deployment.objects.get(approval=approval)
    assert deployment.status == DeploymentStatus.PENDING
    assert deployment.iteration_id == trained_iteration.pk
    assert deployment.model_version == trained_iteration.model_version
    assert deployment.model_uri.endswith(f"/{trained_iteration.model_version}")
    assert deployment.task_id


def test_deploy_task_makes_deployment_live(live_deployment: Deployment, project: Project):
    assert live_deployment.status == DeploymentStatus.LIVE
    assert live_deployment.live_at is not None
    assert live_deployment.smoke_test["passed"] is True
    assert live_deployment.smoke_test["rows"] > 0
    assert _live(project) == [live_deployment.pk]
    actions = set(
        AuditEvent.objects.filter(object_id=str(live_deployment.pk)).values_list(
            "action", flat=True
        )
    )
    assert {"deployment.created", "deployment.deploying", "deployment.live"} <= actions


def test_first_live_deployment_moves_project_to_production(
    project: Project, trained_iteration: Iteration, deploy: Callable[[Iteration], Deployment]
):
    Project.objects.filter(pk=project.pk).update(stage=Stage.IN_DEVELOPMENT)

    deploy(trained_iteration)

    project.refresh_from_db()
    assert project.stage == Stage.IN_PRODUCTION


def test_project_in_framing_keeps_its_stage(project: Project, live_deployment: Deployment):
    project.refresh_from_db()

    assert project.stage == Stage.FRAMING


def test_redelivered_deploy_task_does_nothing(live_deployment: Deployment):
    events_before = AuditEvent.objects.count()

    deployment_run(deployment_id=live_deployment.pk)

    live_deployment.refresh_from_db()
    assert live_deployment.status == DeploymentStatus.LIVE
    assert AuditEvent.objects.count() == events_before


def test_new_deployment_replaces_live_one(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    alice: User,
    dana: User,
):
    first = deploy(train(seed=0))
    second_iteration = train(seed=1)
    cached_before = predict(project=project, instances=[first.iteration.holdout_sample["rows"][0]])

    second = deploy(second_iteration)

    first.refresh_from_db()
    assert second.status == DeploymentStatus.LIVE
    assert first.status == DeploymentStatus.RETIRED
    assert first.retired_at is not None
    assert _live(project) == [second.pk]
    # The serving cache notices the new live version on the next request, without a restart.
    served = predict(project=project, instances=[first.iteration.holdout_sample["rows"][0]])
    assert cached_before["deployment"] == first.pk
    assert served["deployment"] == second.pk
    assert served["iteration"] == second_iteration.number

    restored = deployment_rollback(project=project, user=dana)

    second.refresh_from_db()
    assert second.status == DeploymentStatus.RETIRED
    assert restored.status == DeploymentStatus.LIVE
    assert restored.iteration_id == first.iteration_id
    assert _live(project) == [restored.pk]
    assert (
        predict(project=project, instances=[first.iteration.holdout_sample["rows"][0]])[
            "deployment"
        ]
        == restored.pk
    )


def test_replay_mismatch_fails_and_keeps_live_version(
    project: Project, live_deployment: Deployment, alice: User, dana: User
):
    iteration = live_deployment.iteration
    sample = dict(iteration.holdout_sample)
    sample["predictions"] = [1 - int(label) for label in sample["predictions"]]
    Iteration.objects.filter(pk=iteration.pk).update(holdout_sample=sample)
    iteration.refresh_from_db()
    approval = promotion_request(iteration=iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    second = Deployment.objects.get(approval=approval)

    deployment_run(deployment_id=second.pk)

    second.refresh_from_db()
    assert second.status == DeploymentStatus.FAILED
    assert "predicted differently" in second.status_reason
    assert second.smoke_test["passed"] is False
    assert _live(project) == [live_deployment.pk]


def test_missing_model_fails_deployment(
    project: Project, trained_iteration: Iteration, alice: User, dana: User
):
    approval = promotion_request(iteration=trained_iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    deployment = Deployment.objects.get(approval=approval)
    Deployment.objects.filter(pk=deployment.pk).update(model_uri="models:/no-such-model/1")

    deployment_run(deployment_id=deployment.pk)

    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert deployment.status_reason.startswith("Deployment failed:")
    assert _live(project) == []


def test_rollback_without_earlier_version_conflicts(project: Project, dana: User):
    with pytest.raises(Conflict):
        deployment_rollback(project=project, user=dana)


def test_stakeholder_cannot_roll_back(project: Project, sam: User):
    with pytest.raises(NotAllowed):
        deployment_rollback(project=project, user=sam)
