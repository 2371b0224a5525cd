"""Deployments: create one from an approved promotion, roll it out, roll back.

A deployment goes ``pending`` -> ``deploying`` -> ``live`` -> ``retired``, or ``failed``
from ``pending`` or ``deploying``. The database allows one ``live`` deployment per project
and environment, and the switch from the old live version to the new one happens in one
transaction under the project's row lock, so readers never see zero or two live versions.
"""

import datetime
import logging
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.access import project_roles
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.audit.services import audit_record
from apps.core.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    PayloadTooLarge,
    TransitionNotAllowed,
)
from apps.core.transitions import transition_check
from apps.deployments import serving
from apps.deployments.batch import BatchInputError, batch_score
from apps.deployments.checks import model_checks
from apps.deployments.models import (
    BATCH_TRANSITIONS,
    DEPLOYMENT_TRANSITIONS,
    PRODUCTION,
    ROLLOUT_TRANSITIONS,
    BatchJob,
    BatchStatus,
    Deployment,
    DeploymentStatus,
    Rollout,
    RolloutMode,
    RolloutStatus,
)
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project
from apps.projects.services import project_stage_advance_if_allowed

logger = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"


def deployment_create(
    *,
    project: Project,
    iteration: Iteration,
    approval: ApprovalRequest | None,
    user: User | None,
    environment: str = PRODUCTION,
) -> Deployment:
    """Create a pending deployment of ``iteration`` and enqueue its rollout on commit."""
    if iteration.project_id != project.pk:
        raise Conflict("The iteration belongs to another project.", field="iteration")
    if iteration.status != IterationStatus.SUCCEEDED or not iteration.model_version:
        raise Conflict(
            f"Iteration {iteration.number} has no registered model to deploy.", field="iteration"
        )
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        deployment = Deployment.objects.create(
            project=project,
            iteration=iteration,
            approval=approval,
            environment=environment,
            status=DeploymentStatus.PENDING,
            model_uri=mlflow_adapter.model_uri(iteration.model_name, iteration.model_version),
            model_version=iteration.model_version,
            created_by=user,
            task_id=task_id,
        )
        audit_record(
            actor=user,
            action="deployment.created",
            target=deployment,
            project=project,
            after={
                "iteration": iteration.number,
                "model_version": iteration.model_version,
                "environment": environment,
                "approval": approval.pk if approval is not None else None,
            },
        )
        transaction.on_commit(lambda: _deployment_enqueue(deployment.pk, task_id))
    logger.info(
        "deployment %s of project %s iteration %s created",
        deployment.pk,
        project.slug,
        iteration.number,
    )
    return deployment


def _deployment_enqueue(deployment_id: int, task_id: str) -> None:
    from apps.deployments.tasks import deploy_deployment

    deploy_deployment.apply_async(args=(deployment_id,), task_id=task_id)


def deployment_run(*, deployment_id: int) -> None:
    """Roll out one deployment: load it from the registry, run the deploy checks, go live.

    The checks are in ``apps.deployments.checks``: the model's input columns, a replay of the
    held-out rows against the predictions recorded at training, and single-row latency.

    This is the deploy task's body. It claims the deployment with a conditional update, so a
    redelivered or duplicate task finds nothing to claim and returns. Every error after the
    claim marks the deployment ``failed`` with the reason, and the live version stays live.
    """
    with transaction.atomic():
        claimed = Deployment.objects.filter(
            pk=deployment_id, status=DeploymentStatus.PENDING
        ).update(status=DeploymentStatus.DEPLOYING, deploying_since=timezone.now())
        if not claimed:
            logger.info("deployment %s is not pending; nothing to do", deployment_id)
            return
        deployment = Deployment.objects.select_related("project", "iteration").get(pk=deployment_id)
        audit_record(
            actor=None,
            action="deployment.deploying",
            target=deployment,
            project=deployment.project,
            before={"status": DeploymentStatus.PENDING},
            after={"status": DeploymentStatus.DEPLOYING},
        )
    # A worker killed after this claim leaves the deployment 'deploying'; a redelivered task
    # cannot tell a dead run from a live one, so deployments_reap fails it once it has been
    # deploying for longer than the task's hard time limit allows.
    project = deployment.project
    iteration = deployment.iteration
    logger.info(
        "deployment %s of project %s iteration %s deploying",
        deployment_id,
        project.slug,
        iteration.number,
    )
    try:
        model = mlflow_adapter.model_load(deployment.model_uri)
        smoke_test = model_checks(
            model=model,
            iteration=iteration,
            task_type=project.task_type,
            model_uri=deployment.model_uri,
        )
        if not smoke_test["passed"]:
            _deployment_fail(
                deployment_id=deployment_id,
                reason=smoke_test["reason"],
                smoke_test=smoke_test,
            )
            return
        _deployment_go_live(deployment_id=deployment_id, smoke_test=smoke_test)
    except Exception as exc:
        # Any error, including the task's soft time limit, must end in 'failed' rather than
        # leave the deployment in 'deploying' with no one to finish it.
        logger.exception("deployment %s of project %s failed", deployment_id, project.slug)
        _deployment_fail(
            deployment_id=deployment_id,
            reason=f"Deployment failed: {type(exc).__name__}: {exc}"[:2000],
            smoke_test={},
        )
        return

    deployment.refresh_from_db()
    if deployment.status == DeploymentStatus.LIVE:
        _alias_set_quietly(deployment=deployment)


def _deployment_go_live(*, deployment_id: int, smoke_test: dict[str, Any]) -> Deployment:
    """Retire the current live deployment of the environment and make this one live."""
    with transaction.atomic():
        # The project row lock serializes rollouts and rollbacks of one project, so two
        # deployments finishing together cannot both find no live version and both go live.
        # Every writer takes it before any deployment row, so the locks cannot deadlock.
        project_id = Deployment.objects.values_list("project_id", flat=True).get(pk=deployment_id)
        project = Project.objects.select_for_update().get(pk=project_id)
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        transition_check(
            table=DEPLOYMENT_TRANSITIONS,
            kind="deployment",
            current=deployment.status,
            new=DeploymentStatus.LIVE,
        )
        now = timezone.now()
        previous = _live_deployment_retire(
            project=project, environment=deployment.environment, user=None, now=now
        )
        deployment.status = DeploymentStatus.LIVE
        deployment.status_reason = ""
        deployment.live_at = now
        deployment.smoke_test = smoke_test
        deployment.previous_live = previous
        deployment.save(
            update_fields=["status", "status_reason", "live_at", "smoke_test", "previous_live"]
        )
        audit_record(
            actor=None,
            action="deployment.live",
            target=deployment,
            project=project,
            before={"status": DeploymentStatus.DEPLOYING},
            after={
                "status": DeploymentStatus.LIVE,
                "model_version": deployment.model_version,
                "replaced": previous.pk if previous is not None else None,
            },
        )
        project_stage_advance_if_allowed(
            project=project,
            user=None,
            stage="in_production",
            message=f"Deployment {deployment.pk} went live.",
        )
        _serving_refresh_on_commit(project_id=project.pk)
    logger.info(
        "deployment %s of project %s live, replacing %s",
        deployment.pk,
        project.slug,
        previous.pk if previous is not None else None,
    )
    return deployment


def _live_deployment_retire(
    *, project: Project, environment: str, user: User | None, now: Any
) -> Deployment | None:
    """Retire the live deployment of ``environment``, if any. Call under the project lock."""
    current = (
        Deployment.objects.select_for_update()
        .filter(project=project, environment=environment, status=DeploymentStatus.LIVE)
        .first()
    )
    if current is None:
        return None
    transition_check(
        table=DEPLOYMENT_TRANSITIONS,
        kind="deployment",
        current=current.status,
        new=DeploymentStatus.RETIRED,
    )
    current.status = DeploymentStatus.RETIRED
    current.retired_at = now
    current.save(update_fields=["status", "retired_at"])
    audit_record(
        actor=user,
        action="deployment.retired",
        target=current,
        project=project,
        before={"status": DeploymentStatus.LIVE},
        after={"status": DeploymentStatus.RETIRED},
    )
    return current


def deployments_reap(*, now: datetime.datetime | None = None) -> list[int]:
    """Fail deployments stuck in ``deploying`` past the deploy task's time limit.

    The previous live version stays live. Returns the ids of the deployments it failed.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.DEPLOYMENT_STALE_AFTER_SECONDS)
    stale = list(
        Deployment.objects.filter(
            status=DeploymentStatus.DEPLOYING, deploying_since__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for deployment_id in stale:
        _deployment_fail(
            deployment_id=deployment_id,
            reason=(
                "The deploy task stopped before finishing (its worker was probably lost). "
                "The previous version stays live; approve the promotion again to retry."
            ),
            smoke_test={},
        )
    return stale


def _deployment_fail(*, deployment_id: int, reason: str, smoke_test: dict[str, Any]) -> None:
    with transaction.atomic():
        # Conditional, so a failure report can never overwrite a deployment that went live.
        failed = Deployment.objects.filter(
            pk=deployment_id, status=DeploymentStatus.DEPLOYING
        ).update(status=DeploymentStatus.FAILED, status_reason=reason, smoke_test=smoke_test)
        if not failed:
            return
        deployment = Deployment.objects.get(pk=deployment_id)
        audit_record(
            actor=None,
            action="deployment.failed",
            target=deployment,
            project=deployment.project,
            before={"status": DeploymentStatus.DEPLOYING},
            after={"status": DeploymentStatus.FAILED},
            message=reason,
        )
    logger.warning("deployment %s failed: %s", deployment_id, reason)


def _serving_refresh_on_commit(*, project_id: int) -> None:
    """Make this process's serving cache reread the project's routing once the change commits.

    Other serving processes reread it within ``SERVING_REFRESH_SECONDS``.
    """
    transaction.on_commit(lambda: serving.routing_invalidate(project_id=project_id))


def deployment_retire(*, deployment: Deployment, user: User, reason: str) -> Deployment:
    """Stop serving a live deployment without replacing it; predictions then return 409.

    The caller decides whether ``user`` may retire (the retirement gate approves it); this
    function checks the transition, takes the locks and records the audit event.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=deployment.project_id)
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        transition_check(
            table=DEPLOYMENT_TRANSITIONS,
            kind="deployment",
            current=locked.status,
            new=DeploymentStatus.RETIRED,
        )
        locked.status = DeploymentStatus.RETIRED
        locked.retired_at = timezone.now()
        locked.status_reason = reason[:2000]
        locked.save(update_fields=["status", "retired_at", "status_reason"])
        audit_record(
            actor=user,
            action="deployment.retired",
            target=locked,
            project=project,
            before={"status": DeploymentStatus.LIVE},
            after={"status": DeploymentStatus.RETIRED, "replaced_by": None},
            message=reason[:2000],
        )
        _serving_refresh_on_commit(project_id=project.pk)
    logger.info("deployment %s of project %s retired by user %s", locked.pk, project.slug, user.pk)
    return locked


def deployment_rollback(
    *, project: Project, user: User, environment: str = PRODUCTION
) -> Deployment:
    """Make the version that was live before the current one live again.

    Each live deployment records in ``previous_live`` the deployment it replaced. A rollback
    makes a new live deployment of that earlier model whose own ``previous_live`` is the
    earlier model's predecessor, so rolling back again walks further back through the live
    history (v3 -> v2 -> v1) instead of returning to the version just rolled back from.
    The model is not replayed again: it passed the deploy checks when it first went live.
    """
    roles = project_roles(user=user, project_id=project.pk)
    if not roles_allow(roles, Action.ROLL_BACK):
        raise NotAllowed(
            "Only the project's decision makers and data scientists can roll back a deployment."
        )
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        current = (
            Deployment.objects.select_for_update()
            .filter(project=locked_project, environment=environment, status=DeploymentStatus.LIVE)
            .select_related("previous_live")
            .first()
        )
        if current is None:
            raise Conflict("There is no live deployment to roll back.")
        target = current.previous_live
        if target is None:
            raise Conflict(
                f"Deployment {current.pk} was the first live version; there is no earlier "
                "version to roll back to."
            )
        now = timezone.now()
        _live_deployment_retire(project=locked_project, environment=environment, user=user, now=now)
        # A retired deployment may not go live again through the transition table, so the
        # rollback makes a new deployment of the same model instead of reviving the old row.
        restored = Deployment.objects.create(
            project=locked_project,
            iteration_id=target.iteration_id,
            approval=target.approval,
            environment=environment,
            status=DeploymentStatus.LIVE,
            status_reason=f"Rollback from deployment {current.pk} to deployment {target.pk}.",
            model_uri=target.model_uri,
            model_version=target.model_version,
            created_by=user,
            live_at=now,
            smoke_test=target.smoke_test,
            previous_live_id=target.previous_live_id,
        )
        audit_record(
            actor=user,
            action="deployment.rolled_back",
            target=restored,
            project=locked_project,
            before={"live": current.pk, "model_version": current.model_version},
            after={
                "live": restored.pk,
                "restored_from": target.pk,
                "model_version": restored.model_version,
            },
        )
        _serving_refresh_on_commit(project_id=locked_project.pk)
    logger.info(
        "project %s rolled back from deployment %s to a copy of %s",
        project.slug,
        current.pk,
        target.pk,
    )
    _alias_set_quietly(deployment=restored)
    return restored


def _alias_set_quietly(*, deployment: Deployment) -> None:
    """Point the registry's production alias at ``deployment``'s version, logging failures.

    The portal's database decides what is served, and the registry alias only mirrors it for
    MLflow users, so a registry error does not undo the change.
    """
    iteration = deployment.iteration
    try:
        mlflow_adapter.model_alias_set(
            model_name=iteration.model_name,
            version=deployment.model_version,
            alias=PRODUCTION_ALIAS,
        )
    except Exception:
        logger.exception(
            "deployment %s live but setting the MLflow alias %s on %s v%s failed",
            deployment.pk,
            PRODUCTION_ALIAS,
            iteration.model_name,
            deployment.model_version,
        )


def rollout_start(
    *,
    project: Project,
    user: User,
    iteration: Iteration,
    mode: str,
    share: float = 0.0,
    environment: str = PRODUCTION,
) -> Rollout:
    """Open a canary or shadow rollout of ``iteration`` and enqueue its checks on commit.

    A canary changes what callers receive, so it may only serve an iteration whose promotion
    a decision maker approved; it is given that approval. A shadow never changes a response,
    so any succeeded iteration may be shadowed. Both need the MANAGE_ROLLOUT action.
    """
    _rollout_permission_check(user=user, project=project)
    if mode not in RolloutMode.values:
        raise InvalidInput(f"Choose a rollout mode: {', '.join(RolloutMode.values)}.", field="mode")
    if iteration.project_id != project.pk:
        raise Conflict("The iteration belongs to another project.", field="iteration")
    if iteration.status != IterationStatus.SUCCEEDED or not iteration.model_version:
        raise Conflict(
            f"Iteration {iteration.number} has no registered model to roll out.", field="iteration"
        )
    approval = None
    if mode == RolloutMode.CANARY:
        share = _share_clean(share)
        approval = (
            ApprovalRequest.objects.filter(
                iteration=iteration, gate=Gate.PROMOTION, status=RequestStatus.APPROVED
            )
            .order_by("-decided_at", "-id")
            .first()
        )
        if approval is None:
            raise Conflict(
                f"Iteration {iteration.number} has no approved promotion, so it cannot serve "
                "canary traffic. Request a promotion, or start a shadow rollout instead.",
                field="iteration",
            )
    else:
        share = 0.0
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        live = (
            Deployment.objects.filter(
                project=locked_project, environment=environment, status=DeploymentStatus.LIVE
            )
            .only("model_version")
            .first()
        )
        if live is None:
            raise Conflict("A rollout runs next to a live version, and none is live.")
        if live.model_version == iteration.model_version:
            raise Conflict(f"Iteration {iteration.number} is already the live version.")
        if Rollout.objects.filter(
            project=locked_project,
            environment=environment,
            status__in=[RolloutStatus.PENDING, RolloutStatus.ACTIVE],
        ).exists():
            raise Conflict("A rollout is already open; stop or complete it first.")
        rollout = Rollout.objects.create(
            project=locked_project,
            environment=environment,
            iteration=iteration,
            approval=approval,
            mode=mode,
            share=share,
            model_uri=mlflow_adapter.model_uri(iteration.model_name, iteration.model_version),
            model_version=iteration.model_version,
            task_id=task_id,
            started_by=user,
        )
        audit_record(
            actor=user,
            action="rollout.created",
            target=rollout,
            project=locked_project,
            after={
                "mode": mode,
                "share": share,
                "iteration": iteration.number,
                "model_version": iteration.model_version,
            },
        )
        transaction.on_commit(lambda: _rollout_enqueue(rollout.pk, task_id))
    logger.info(
        "%s rollout %s of project %s iteration %s created",
        mode,
        rollout.pk,
        project.slug,
        iteration.number,
    )
    return rollout


def _rollout_enqueue(rollout_id: int, task_id: str) -> None:
    from apps.deployments.tasks import prepare_rollout

    prepare_rollout.apply_async(args=(rollout_id,), task_id=task_id)


def _rollout_permission_check(*, user: User, project: Project) -> None:
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.MANAGE_ROLLOUT):
        raise NotAllowed(
            "Only the project's data scientists and decision makers can manage rollouts."
        )


def _share_clean(share: Any) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise InvalidInput("The canary share must be a number between 0 and 1.", field="share")
    if not 0.0 < float(share) < 1.0:
        raise InvalidInput(
            "The canary share must be above 0 and below 1 (0.1 sends a tenth of the requests).",
            field="share",
        )
    return float(share)


def rollout_run(*, rollout_id: int) -> None:
    """Load a pending rollout's model and run the deploy checks; activate it if they pass.

    This is the rollout task's body. Only a pending rollout is claimed, so a redelivered task
    does nothing.
    """
    rollout = (
        Rollout.objects.select_related("project", "iteration")
        .filter(pk=rollout_id, status=RolloutStatus.PENDING)
        .first()
    )
    if rollout is None:
        logger.info("rollout %s is not pending; nothing to do", rollout_id)
        return
    try:
        model = mlflow_adapter.model_load(rollout.model_uri)
        smoke_test = model_checks(
            model=model,
            iteration=rollout.iteration,
            task_type=rollout.project.task_type,
            model_uri=rollout.model_uri,
        )
    except Exception as exc:
        logger.exception("rollout %s of project %s failed", rollout_id, rollout.project.slug)
        smoke_test = {
            "passed": False,
            "reason": f"Rollout failed: {type(exc).__name__}: {exc}"[:2000],
        }
    new_status = RolloutStatus.ACTIVE if smoke_test["passed"] else RolloutStatus.FAILED
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=rollout.project_id)
        updated = Rollout.objects.filter(pk=rollout_id, status=RolloutStatus.PENDING).update(
            status=new_status,
            status_reason=smoke_test["reason"],
            smoke_test=smoke_test,
            active_at=timezone.now() if new_status == RolloutStatus.ACTIVE else None,
        )
        if not updated:
            return
        audit_record(
            actor=None,
            action=f"rollout.{new_status}",
            target=rollout,
            project=rollout.project,
            before={"status": RolloutStatus.PENDING},
            after={"status": new_status},
            message=smoke_test["reason"],
        )
        _serving_refresh_on_commit(project_id=rollout.project_id)
    logger.info("rollout %s of project %s is %s", rollout_id, rollout.project.slug, new_status)


def rollout_share_set(*, rollout: Rollout, user: User, share: Any) -> Rollout:
    """Change the fraction of requests an active canary serves."""
    _rollout_permission_check(user=user, project=rollout.project)
    cleaned = _share_clean(share)
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=rollout.project_id)
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        if locked.mode != RolloutMode.CANARY:
            raise Conflict("Only a canary serves a share of the requests.", field="share")
        if locked.status not in (RolloutStatus.PENDING, RolloutStatus.ACTIVE):
            raise TransitionNotAllowed(f"This rollout is {locked.status}; its share is final.")
        before = locked.share
        locked.share = cleaned
        locked.save(update_fields=["share"])
        audit_record(
            actor=user,
            action="rollout.share_changed",
            target=locked,
            project=rollout.project,
            before={"share": before},
            after={"share": cleaned},
        )
        _serving_refresh_on_commit(project_id=locked.project_id)
    return locked


def rollout_stop(*, rollout: Rollout, user: User) -> Rollout:
    """Stop a rollout; the live version serves every request again."""
    return _rollout_end(rollout=rollout, user=user, new_status=RolloutStatus.STOPPED)


def rollout_complete(*, rollout: Rollout, user: User) -> Rollout:
    """Make an active canary the live version, atomically, and close the rollout.

    The candidate passed the deploy checks when the rollout started, so the swap does not
    repeat them. A shadow cannot be completed: it has no approval to serve; its iteration
    goes live through a promotion request.
    """
    return _rollout_end(rollout=rollout, user=user, new_status=RolloutStatus.COMPLETED)


def _rollout_end(*, rollout: Rollout, user: User, new_status: str) -> Rollout:
    _rollout_permission_check(user=user, project=rollout.project)
    promoted: Deployment | None = None
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=rollout.project_id)
        locked = Rollout.objects.select_for_update().select_related("iteration").get(pk=rollout.pk)
        if new_status == RolloutStatus.COMPLETED and locked.mode != RolloutMode.CANARY:
            raise Conflict("A shadow rollout cannot go live; request a promotion of its iteration.")
        transition_check(
            table=ROLLOUT_TRANSITIONS, kind="rollout", current=locked.status, new=new_status
        )
        now = timezone.now()
        if new_status == RolloutStatus.COMPLETED:
            previous = _live_deployment_retire(
                project=project, environment=locked.environment, user=user, now=now
            )
            promoted = Deployment.objects.create(
                project=project,
                iteration=locked.iteration,
                approval=locked.approval,
                environment=locked.environment,
                status=DeploymentStatus.LIVE,
                status_reason=f"Canary rollout {locked.pk} completed.",
                model_uri=locked.model_uri,
                model_version=locked.model_version,
                created_by=user,
                live_at=now,
                smoke_test=locked.smoke_test,
                previous_live=previous,
            )
            audit_record(
                actor=user,
                action="deployment.live",
                target=promoted,
                project=project,
                after={
                    "status": DeploymentStatus.LIVE,
                    "model_version": promoted.model_version,
                    "replaced": previous.pk if previous is not None else None,
                    "rollout": locked.pk,
                },
            )
        before = locked.status
        locked.status = new_status
        locked.ended_at = now
        locked.save(update_fields=["status", "ended_at"])
        audit_record(
            actor=user,
            action=f"rollout.{new_status}",
            target=locked,
            project=project,
            before={"status": before},
            after={"status": new_status},
        )
        _serving_refresh_on_commit(project_id=project.pk)
    logger.info(
        "rollout %s of project %s %s by user %s", locked.pk, project.slug, new_status, user.pk
    )
    if promoted is not None:
        _alias_set_quietly(deployment=promoted)
    return locked


def batch_create(*, project: Project, user: User, uploaded_file: Any) -> BatchJob:
    """Store an uploaded CSV and enqueue its scoring by the live deployment on commit."""
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.SCORE_BATCH):
        raise NotAllowed("Only the project's data scientists can score files in batch.")
    if uploaded_file is None:
        raise InvalidInput("Attach a CSV file as 'file'.", field="file")
    limit = settings.BATCH_MAX_UPLOAD_BYTES
    if uploaded_file.size > limit:
        raise PayloadTooLarge(
            f"The file has {uploaded_file.size} bytes; batch scoring takes at most {limit}.",
            field="file",
        )
    if not str(uploaded_file.name).lower().endswith(".csv"):
        raise InvalidInput("Batch scoring takes a CSV file (.csv).", field="file")
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        live = (
            Deployment.objects.filter(
                project=project, environment=PRODUCTION, status=DeploymentStatus.LIVE
            )
            .only("pk", "model_version")
            .first()
        )
        if live is None:
            raise Conflict("This project has no live deployment to score the file with.")
        batch = BatchJob(project=project, deployment=live, created_by=user, task_id=task_id)
        batch.input_file.save(f"{project.slug}-{task_id}.csv", uploaded_file, save=False)
        batch.save()
        audit_record(
            actor=user,
            action="batch.created",
            target=batch,
            project=project,
            after={"deployment": live.pk, "model_version": live.model_version},
        )
        transaction.on_commit(lambda: _batch_enqueue(batch.pk, task_id))
    logger.info("batch %s of project %s queued on deployment %s", batch.pk, project.slug, live.pk)
    return batch


def _batch_enqueue(batch_id: int, task_id: str) -> None:
    from apps.deployments.tasks import score_batch

    score_batch.apply_async(args=(batch_id,), task_id=task_id)


def batch_run(*, batch_id: int) -> None:
    """Score a queued batch chunk by chunk, recording progress; the batch task's body.

    Only a queued batch is claimed, so a redelivered task does nothing. Any error marks the
    batch failed with the reason.
    """
    claimed = BatchJob.objects.filter(pk=batch_id, status=BatchStatus.QUEUED).update(
        status=BatchStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        logger.info("batch %s is not queued; nothing to do", batch_id)
        return
    batch = BatchJob.objects.select_related("project").get(pk=batch_id)
    try:
        output = batch_score(batch=batch)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BatchInputError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, BatchInputError):
            logger.exception("batch %s of project %s failed", batch_id, batch.project.slug)
        _batch_finish(batch_id=batch_id, status=BatchStatus.FAILED, reason=reason[:2000])
        return
    batch.output_file.save(f"{batch.project.slug}-{batch.task_id}-scored.csv", output, save=False)
    BatchJob.objects.filter(pk=batch_id).update(output_file=batch.output_file.name)
    _batch_finish(batch_id=batch_id, status=BatchStatus.SUCCEEDED, reason="")


def _batch_finish(*, batch_id: int, status: str, reason: str) -> None:
    with transaction.atomic():
        batch = BatchJob.objects.select_for_update().select_related("project").get(pk=batch_id)
        transition_check(table=BATCH_TRANSITIONS, kind="batch", current=batch.status, new=status)
        batch.status = status
        batch.status_reason = reason
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "status_reason", "finished_at"])
        audit_record(
            actor=None,
            action=f"batch.{status}",
            target=batch,
            project=batch.project,
            before={"status": BatchStatus.RUNNING},
            after={"status": status, "rows": batch.rows_done},
            message=reason,
        )
    logger.info("batch %s %s after %s rows", batch_id, status, batch.rows_done)
