from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import promotion_approve, promotion_request
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed, TransitionNotAllowed
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.services import (
    deployment_create,
    deployment_retire,
    deployment_rollback,
    deployment_run,
)
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

    assert [callback for callback in callbacks if "deployment_create" in callback.__qualname__]

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
    # Redeploying the live iteration replays its now wrong recorded predictions; a promotion
    # request would be refused because the iteration is already live.
    second = deployment_create(project=project, iteration=iteration, approval=None, user=dana)

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


def test_rollback_without_live_version_conflicts(project: Project, dana: User):
    with pytest.raises(Conflict, match="no live deployment"):
        deployment_rollback(project=project, user=dana)


def test_stakeholder_cannot_roll_back(project: Project, sam: User):
    with pytest.raises(NotAllowed):
        deployment_rollback(project=project, user=sam)


def test_deploy_records_signature_and_latency(live_deployment: Deployment):
    smoke_test = live_deployment.smoke_test

    assert smoke_test["signature"]["passed"] is True
    assert smoke_test["signature"]["columns"] == list(live_deployment.iteration.feature_columns)
    assert smoke_test["latency_ms"]["samples"] > 0
    assert smoke_test["latency_ms"]["p50"] > 0
    assert smoke_test["latency_ms"]["p99"] >= smoke_test["latency_ms"]["p50"]


def test_signature_mismatch_fails_and_keeps_live_version(
    project: Project, live_deployment: Deployment, alice: User, dana: User
):
    iteration = live_deployment.iteration
    columns = list(iteration.feature_columns)
    Iteration.objects.filter(pk=iteration.pk).update(feature_columns=list(reversed(columns)))
    iteration.refresh_from_db()
    # Redeploying the live iteration replays its now wrong recorded predictions; a promotion
    # request would be refused because the iteration is already live.
    second = deployment_create(project=project, iteration=iteration, approval=None, user=dana)

    deployment_run(deployment_id=second.pk)

    second.refresh_from_db()
    assert second.status == DeploymentStatus.FAILED
    assert "input columns differ" in second.status_reason
    assert second.smoke_test["signature"]["passed"] is False
    assert _live(project) == [live_deployment.pk]


def test_rollback_walks_back_through_live_history(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    dana: User,
):
    first = deploy(train(seed=0))
    second = deploy(train(seed=1))
    third = deploy(train(seed=2))
    assert third.previous_live_id == second.pk
    assert second.previous_live_id == first.pk

    back_once = deployment_rollback(project=project, user=dana)
    back_twice = deployment_rollback(project=project, user=dana)

    assert back_once.model_version == second.model_version
    assert back_twice.model_version == first.model_version
    assert _live(project) == [back_twice.pk]
    with pytest.raises(Conflict, match="no earlier live version"):
        deployment_rollback(project=project, user=dana)
    assert _live(project) == [back_twice.pk]
    events = list(
        AuditEvent.objects.filter(action="deployment.rolled_back")
        .order_by("id")
        .values_list("after", flat=True)
    )
    assert [event["restored_from"] for event in events] == [second.pk, first.pk]


def test_rollback_sets_production_alias(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    dana: User,
):
    from django.conf import settings
    from mlflow import MlflowClient

    first = deploy(train(seed=0))
    deploy(train(seed=1))

    deployment_rollback(project=project, user=dana)

    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    alias = client.get_model_version_by_alias(first.iteration.model_name, "production")
    assert str(alias.version) == first.model_version


def test_retire_stops_serving(project: Project, live_deployment: Deployment, dana: User):
    rows = live_deployment.iteration.holdout_sample["rows"][:1]
    predict(project=project, instances=rows)

    retired = deployment_retire(deployment=live_deployment, user=dana, reason="Replaced by rules.")

    assert retired.status == DeploymentStatus.RETIRED
    assert retired.status_reason == "Replaced by rules."
    assert _live(project) == []
    assert AuditEvent.objects.filter(
        action="deployment.retired", object_id=str(live_deployment.pk), actor=dana
    ).exists()
    with pytest.raises(Conflict, match="no live deployment"):
        predict(project=project, instances=rows)


def test_retire_of_retired_deployment_conflicts(live_deployment: Deployment, dana: User):
    deployment_retire(deployment=live_deployment, user=dana, reason="first")

    with pytest.raises(TransitionNotAllowed):
        deployment_retire(deployment=live_deployment, user=dana, reason="second")


def test_swap_runs_serving_refresh_on_commit(
    project: Project,
    train: Callable[..., Iteration],
    deploy: Callable[[Iteration], Deployment],
    dana: User,
    settings,
    django_capture_on_commit_callbacks,
):
    first = deploy(train(seed=0))
    second = deploy(train(seed=1))
    settings.SERVING_REFRESH_SECONDS = 3600
    rows = first.iteration.holdout_sample["rows"][:1]
    assert predict(project=project, instances=rows)["model_version"] == second.model_version

    with django_capture_on_commit_callbacks(execute=True):
        restored = deployment_rollback(project=project, user=dana)

    # The routing was cached for an hour; the rollback's on-commit hook dropped it.
    assert predict(project=project, instances=rows)["model_version"] == restored.model_version
