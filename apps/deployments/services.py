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
from django.core.files import File
from django.db import transaction
from django.db.models import F
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
    Unprocessable,
)
from apps.core.transitions import transition_check
from apps.datasets.ingest import upload_spool
from apps.deployments import serving
from apps.deployments.batch import (
    BatchInputError,
    batch_columns_check,
    batch_score,
    batch_table_read,
)
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
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_advance_if_allowed

logger = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
OPEN_ROLLOUT_STATUSES = (RolloutStatus.PENDING, RolloutStatus.ACTIVE)
QUEUED_DEPLOYMENT_STATUSES = (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING)
# Shares arrive as percentages from the pages, so 20 % can become 0.20000000000000004.
SHARE_TOLERANCE = 1e-9
# Feature columns named in a message about mismatched columns; the rest are counted.
COLUMN_SAMPLE_SIZE = 10


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
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        _project_not_retired_check(project=locked_project)
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


def _deployment_go_live(*, deployment_id: int, smoke_test: dict[str, Any]) -> Deployment | None:
    """Retire the current live deployment of the environment and make this one live.

    Returns None, and changes nothing live, when the deployment stopped deploying in the
    meantime or its project was retired; the latter fails the deployment.
    """
    with transaction.atomic():
        # The project row lock serializes rollouts and rollbacks of one project, so two
        # deployments finishing together cannot both find no live version and both go live.
        # Each service in this module that writes deployment rows takes this lock first, so
        # two of them cannot wait on each other's locks.
        project_id = Deployment.objects.values_list("project_id", flat=True).get(pk=deployment_id)
        project = Project.objects.select_for_update().get(pk=project_id)
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        if deployment.status != DeploymentStatus.DEPLOYING:
            # An approved retirement fails queued deployments while their task runs.
            logger.info(
                "deployment %s of project %s is %s; it does not go live",
                deployment_id,
                project.slug,
                deployment.status,
            )
            return None
        if project.stage == Stage.RETIRED:
            # Checked under the same lock as the swap, so a retirement approved while the
            # checks ran is seen here and no version goes live in a retired project.
            _deployment_cancel(
                deployment=deployment,
                project=project,
                user=None,
                reason="Not deployed: the project was retired while this deployment was deploying.",
            )
            return None
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
        deployment.previous_live_id = (
            previous.pk
            if previous is not None
            else _rollback_target_id_after_gap(project=project, environment=deployment.environment)
        )
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


def _rollback_target_id_after_gap(*, project: Project, environment: str) -> int | None:
    """Return the id of the deployment a rollback should restore when nothing is live.

    Nothing is live only after a retirement took the last live version down without a
    replacement. That version was retired by a decision, so a rollback skips it and
    restores the version it had replaced, which keeps the chain of earlier live versions
    unbroken across the gap.
    """
    last_live = (
        Deployment.objects.filter(project=project, environment=environment, live_at__isnull=False)
        .exclude(status=DeploymentStatus.LIVE)
        .order_by("-live_at", "-id")
        .only("previous_live_id")
        .first()
    )
    return last_live.previous_live_id if last_live is not None else None


def _deployment_cancel(
    *, deployment: Deployment, project: Project, user: User | None, reason: str
) -> None:
    """Fail a pending or deploying deployment. Call under the project and deployment locks."""
    before = deployment.status
    transition_check(
        table=DEPLOYMENT_TRANSITIONS,
        kind="deployment",
        current=before,
        new=DeploymentStatus.FAILED,
    )
    deployment.status = DeploymentStatus.FAILED
    deployment.status_reason = reason[:2000]
    deployment.save(update_fields=["status", "status_reason"])
    audit_record(
        actor=user,
        action="deployment.failed",
        target=deployment,
        project=project,
        before={"status": before},
        after={"status": DeploymentStatus.FAILED},
        message=deployment.status_reason,
    )
    logger.info(
        "deployment %s of project %s failed: %s",
        deployment.pk,
        project.slug,
        deployment.status_reason,
    )


def _project_not_retired_check(*, project: Project) -> None:
    if project.stage == Stage.RETIRED:
        raise Conflict(
            "This project is retired, so nothing can be deployed or rolled out in it. "
            "Create a new project to serve a model again.",
            field="stage",
        )


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

    An open rollout of the same environment is stopped too, because a rollout runs next to
    a live version. The caller decides whether ``user`` may retire (the retirement gate
    approves it); this function checks the transition, takes the locks and records the
    audit events.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=deployment.project_id)
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        _open_rollouts_stop(
            project=project, environment=locked.environment, user=user, reason=reason
        )
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


def project_deployments_retire(*, project: Project, user: User, reason: str) -> None:
    """Take a project out of service: retire its live deployments, fail its queued ones and
    stop its open rollouts, all in one transaction.

    The queued deployments are failed so that a deploy task running later cannot put a
    version live again. ``reason`` names the retirement and is stored on each of them.
    """
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        _open_rollouts_stop(project=locked_project, environment=None, user=user, reason=reason)
        queued = Deployment.objects.select_for_update().filter(
            project=locked_project, status__in=QUEUED_DEPLOYMENT_STATUSES
        )
        for deployment in queued:
            _deployment_cancel(
                deployment=deployment,
                project=locked_project,
                user=user,
                reason=f"Not deployed: {reason}",
            )
        live = Deployment.objects.filter(project=locked_project, status=DeploymentStatus.LIVE)
        for deployment in live:
            deployment_retire(deployment=deployment, user=user, reason=reason)
        _serving_refresh_on_commit(project_id=locked_project.pk)


def _open_rollouts_stop(
    *, project: Project, environment: str | None, user: User | None, reason: str
) -> None:
    """Stop the open rollouts of ``environment`` (every environment for None).

    Call under the project lock.
    """
    rollouts = Rollout.objects.select_for_update().filter(
        project=project, status__in=OPEN_ROLLOUT_STATUSES
    )
    if environment is not None:
        rollouts = rollouts.filter(environment=environment)
    for rollout in rollouts:
        before = rollout.status
        transition_check(
            table=ROLLOUT_TRANSITIONS,
            kind="rollout",
            current=before,
            new=RolloutStatus.STOPPED,
        )
        rollout.status = RolloutStatus.STOPPED
        rollout.status_reason = reason[:2000]
        rollout.ended_at = timezone.now()
        rollout.save(update_fields=["status", "status_reason", "ended_at"])
        audit_record(
            actor=user,
            action="rollout.stopped",
            target=rollout,
            project=project,
            before={"status": before},
            after={"status": RolloutStatus.STOPPED},
            message=rollout.status_reason,
        )
        logger.info("rollout %s of project %s stopped: %s", rollout.pk, project.slug, reason)


def deployment_rollback(
    *, project: Project, user: User, environment: str = PRODUCTION
) -> Deployment:
    """Make the version that was live before the current one live again.

    Each live deployment records in ``previous_live`` the deployment a rollback restores:
    the one it replaced or, when it went live after a retirement left nothing live, the
    version that the retired one had replaced. A rollback makes a new live deployment of
    that earlier model whose own ``previous_live`` is the earlier model's predecessor, so
    rolling back again walks further back through the live history (v3 -> v2 -> v1)
    instead of returning to the version just rolled back from. Failed deployments never
    went live and are not part of that history. The model is not replayed again: it
    passed the deploy checks when it first went live.
    """
    roles = project_roles(user=user, project_id=project.pk)
    if not roles_allow(roles, Action.ROLL_BACK):
        raise NotAllowed(
            "Only the project's decision makers and data scientists can roll back a deployment."
        )
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        current = (
            Deployment.objects.select_for_update(of=("self",))
            .filter(project=locked_project, environment=environment, status=DeploymentStatus.LIVE)
            .select_related("previous_live")
            .first()
        )
        if current is None:
            raise Conflict("There is no live deployment to roll back.")
        target = current.previous_live
        if target is None:
            raise Conflict(
                f"Deployment {current.pk} (model version {current.model_version}) has no "
                "earlier live version to roll back to: every version before it has been "
                "rolled back from or retired, or none went live."
            )
        now = timezone.now()
        _live_deployment_retire(project=locked_project, environment=environment, user=user, now=now)
        # A retired deployment may not go live again through the transition table, so the
        # rollback makes a new deployment of the same model instead of reviving the old row.
        restored = _live_deployment_create(
            project=locked_project,
            iteration_id=target.iteration_id,
            approval=target.approval,
            environment=environment,
            status_reason=f"Rollback from deployment {current.pk} to deployment {target.pk}.",
            model_uri=target.model_uri,
            model_version=target.model_version,
            created_by=user,
            now=now,
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


def _live_deployment_create(*, now: datetime.datetime, **fields: Any) -> Deployment:
    """Create a deployment that is live from ``now``, as rollbacks and completed canaries do.

    The database layer sets ``created_at`` on insert, a moment after ``now``. It is set to
    ``live_at`` afterwards, so the row does not read as live before it existed.
    """
    deployment = Deployment.objects.create(status=DeploymentStatus.LIVE, live_at=now, **fields)
    Deployment.objects.filter(pk=deployment.pk).update(created_at=now)
    deployment.created_at = now
    return deployment


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
    a decision maker approved, and each approval starts one rollout or deployment: the
    canary is given an approved promotion that has not started anything yet. A share above
    the approved ``canary_share`` needs a decision maker who could have approved the
    promotion. A shadow never changes a response, so any succeeded iteration may be
    shadowed. Both need the MANAGE_ROLLOUT action.
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
    share = _share_clean(share) if mode == RolloutMode.CANARY else 0.0
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        _project_not_retired_check(project=locked_project)
        approval = None
        if mode == RolloutMode.CANARY:
            # Looked up under the project lock, so two starts cannot both use one approval.
            approval = _unused_promotion_get(iteration=iteration)
            if share > _approved_share(approval) + SHARE_TOLERANCE:
                _promotion_decider_check(
                    approval=approval,
                    project=locked_project,
                    user=user,
                    change=(
                        f"A canary share of {_share_text(share)} is above the "
                        f"{_share_text(_approved_share(approval))} "
                        f"approved in promotion request {approval.pk}, so it"
                    ),
                )
        live = (
            Deployment.objects.filter(
                project=locked_project, environment=environment, status=DeploymentStatus.LIVE
            )
            .select_related("iteration")
            .only("model_version", "iteration__number", "iteration__feature_columns")
            .first()
        )
        if live is None:
            raise Conflict("A rollout runs next to a live version, and none is live.")
        if live.model_version == iteration.model_version:
            raise Conflict(f"Iteration {iteration.number} is already the live version.")
        rollout_feature_columns_check(candidate=iteration, live=live.iteration)
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
                "approval": approval.pk if approval is not None else None,
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


def rollout_feature_columns_check(*, candidate: Iteration, live: Iteration) -> None:
    """Raise Conflict unless ``candidate`` takes the same feature columns as ``live``.

    Every request is validated against the live version's columns and then sent to the
    candidate as well, so a candidate with other columns could never score it. The order
    of the columns does not matter because rows are sent as ``{column: value}`` objects.
    """
    candidate_columns = set(candidate.feature_columns or [])
    live_columns = set(live.feature_columns or [])
    if candidate_columns == live_columns:
        return
    missing = sorted(live_columns - candidate_columns)
    extra = sorted(candidate_columns - live_columns)
    parts = []
    if missing:
        parts.append(f"it lacks {_column_sample(missing)} of the live version")
    if extra:
        parts.append(f"it adds {_column_sample(extra)} that the live version does not take")
    raise Conflict(
        f"Iteration {candidate.number} cannot run next to the live iteration {live.number} "
        f"because its feature columns differ: {' and '.join(parts)}. Every request carries "
        "the live version's columns, so the candidate could not score them. Train the "
        "candidate on the live version's columns, or promote it instead.",
        field="iteration",
    )


def _column_sample(columns: list[str]) -> str:
    """Name at most ``COLUMN_SAMPLE_SIZE`` columns and count the rest."""
    shown = ", ".join(columns[:COLUMN_SAMPLE_SIZE])
    rest = len(columns) - COLUMN_SAMPLE_SIZE
    noun = "column" if len(columns) == 1 else "columns"
    if rest > 0:
        return f"{len(columns)} {noun} ({shown} and {rest} more)"
    return f"{len(columns)} {noun} ({shown})"


def _rollout_enqueue(rollout_id: int, task_id: str) -> None:
    from apps.deployments.tasks import prepare_rollout

    prepare_rollout.apply_async(args=(rollout_id,), task_id=task_id)


def _unused_promotion_get(*, iteration: Iteration) -> ApprovalRequest:
    """Return the newest approved promotion of ``iteration`` that started nothing yet.

    Raises Conflict when there is none, naming the approval already used if there is one.
    """
    approved = ApprovalRequest.objects.filter(
        iteration=iteration, gate=Gate.PROMOTION, status=RequestStatus.APPROVED
    ).order_by("-decided_at", "-id")
    unused = approved.filter(rollouts__isnull=True, deployments__isnull=True).first()
    if unused is not None:
        return unused
    used = approved.first()
    if used is None:
        raise Conflict(
            f"Iteration {iteration.number} has no approved promotion, so it cannot serve "
            "canary traffic. Request a promotion, or start a shadow rollout instead.",
            field="iteration",
        )
    raise Conflict(
        f"Promotion request {used.pk} of iteration {iteration.number} was already used: "
        "each approval starts one rollout or deployment, and a rollback does not give it "
        "back. Request a new promotion for a decision maker to approve, or start a shadow "
        "rollout instead.",
        field="iteration",
    )


def _approved_share(approval: ApprovalRequest) -> float:
    """Return the share of requests that ``approval`` lets the iteration serve."""
    return approval.canary_share if approval.canary_share is not None else 1.0


def _promotion_decider_check(
    *, approval: ApprovalRequest | None, project: Project, user: User, change: str
) -> None:
    """Raise NotAllowed unless ``user`` is a decision maker who could approve ``approval``.

    ``change`` begins the message and ends with its subject, as in "Completing canary
    rollout 4 replaces the live version, so it". The separation of duties is the approval
    gate's own rule, so a change that widens a promotion needs the same people.
    """
    from apps.approvals.services import separation_of_duties_check

    required_decider = (
        "needs a decision maker of the project who neither requested the promotion "
        "nor trained the iteration"
    )
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.DECIDE):
        raise NotAllowed(f"{change} {required_decider}. Ask one of them to make this change.")
    if approval is None:
        raise Conflict(f"{change} needs an approved promotion, and this rollout has none.")
    try:
        separation_of_duties_check(approval=approval, project=project, user=user)
    except NotAllowed as exc:
        raise NotAllowed(f"{change} {required_decider}. {exc.message}") from None


def _rollout_permission_check(*, user: User, project: Project) -> None:
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.MANAGE_ROLLOUT):
        raise NotAllowed(
            "Only the project's data scientists and decision makers can manage rollouts."
        )


def _share_text(share: float) -> str:
    """Format ``share`` with every digit it has, so two shares that differ never read alike.

    ``repr`` of a float is the shortest text that reads back as the same number.
    """
    return repr(float(share))


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


def rollout_shadow_failures_record(*, rollout_id: int, failures: int, reason: str) -> None:
    """Add ``failures`` unscored rows to a shadow rollout and keep ``reason`` as the latest.

    The prediction log writer calls it once per flush for each shadow that failed, off the
    request path. The increment happens in the database, so reports from several serving
    processes at once all count. A rollout that ended in the
    meantime still gets the count, because it describes what the shadow did while active.
    """
    if failures <= 0:
        return
    updated = Rollout.objects.filter(pk=rollout_id, mode=RolloutMode.SHADOW).update(
        shadow_failures=F("shadow_failures") + failures,
        shadow_failure_reason=reason[:2000],
    )
    if not updated:
        logger.warning(
            "shadow failures of rollout %s not recorded: no such shadow rollout", rollout_id
        )


def shadow_failure_reason(exc: Exception) -> str:
    """Describe why a shadow model could not score a request, in plain sentences.

    Unprocessable messages name rows and columns but never the values sent, so they are
    kept. Other exception texts may repeat request values, so only their type is kept.
    """
    if isinstance(exc, Unprocessable):
        return f"The candidate rejected the requests: {exc.message}"[:2000]
    return f"The candidate raised {type(exc).__name__} while scoring the requests."


def rollout_share_set(*, rollout: Rollout, user: User, share: Any) -> Rollout:
    """Change the fraction of requests an open canary serves.

    Any user with MANAGE_ROLLOUT may lower the share or raise it up to the share approved in
    the canary's promotion. A share above that widens the approval, so it needs a decision
    maker who could have approved the promotion.
    """
    _rollout_permission_check(user=user, project=rollout.project)
    cleaned = _share_clean(share)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=rollout.project_id)
        locked = (
            Rollout.objects.select_for_update(of=("self",))
            .select_related("approval", "approval__iteration")
            .get(pk=rollout.pk)
        )
        if locked.mode != RolloutMode.CANARY:
            raise Conflict("Only a canary serves a share of the requests.", field="share")
        if locked.status not in OPEN_ROLLOUT_STATUSES:
            raise TransitionNotAllowed(f"This rollout is {locked.status}; its share is final.")
        approved = _approved_share(locked.approval) if locked.approval is not None else 0.0
        above_approval = cleaned > approved + SHARE_TOLERANCE
        if above_approval:
            _promotion_decider_check(
                approval=locked.approval,
                project=project,
                user=user,
                change=(
                    f"Raising canary rollout {locked.pk} to a share of {_share_text(cleaned)}, "
                    f"above the {_share_text(approved)} approved in its promotion,"
                ),
            )
        before = locked.share
        locked.share = cleaned
        locked.save(update_fields=["share"])
        audit_record(
            actor=user,
            action="rollout.share_changed",
            target=locked,
            project=project,
            before={"share": before},
            after={
                "share": cleaned,
                "approved_share": approved,
                "above_approval": above_approval,
                "approval": locked.approval_id,
            },
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
        locked = (
            Rollout.objects.select_for_update(of=("self",))
            .select_related("iteration", "approval", "approval__iteration")
            .get(pk=rollout.pk)
        )
        if new_status == RolloutStatus.COMPLETED and locked.mode != RolloutMode.CANARY:
            raise Conflict("A shadow rollout cannot go live; request a promotion of its iteration.")
        transition_check(
            table=ROLLOUT_TRANSITIONS, kind="rollout", current=locked.status, new=new_status
        )
        if new_status == RolloutStatus.COMPLETED:
            _promotion_decider_check(
                approval=locked.approval,
                project=project,
                user=user,
                change=f"Completing canary rollout {locked.pk} replaces the live version, so it",
            )
        now = timezone.now()
        if new_status == RolloutStatus.COMPLETED:
            previous = _live_deployment_retire(
                project=project, environment=locked.environment, user=user, now=now
            )
            promoted = _live_deployment_create(
                project=project,
                iteration=locked.iteration,
                approval=locked.approval,
                environment=locked.environment,
                status_reason=(
                    f"Canary rollout {locked.pk} completed by {user.get_username()}, "
                    f"approved in promotion request {locked.approval_id}."
                ),
                model_uri=locked.model_uri,
                model_version=locked.model_version,
                created_by=user,
                now=now,
                smoke_test=locked.smoke_test,
                previous_live_id=(
                    previous.pk
                    if previous is not None
                    else _rollback_target_id_after_gap(
                        project=project, environment=locked.environment
                    )
                ),
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
                    "approval": locked.approval_id,
                    "completed_by": user.get_username(),
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
    """Check an uploaded CSV, store it and enqueue its scoring by the live deployment on commit.

    The file is parsed here with the dataset reader, so an empty, binary or unreadable file
    gets a 400 and a header without the live model's feature columns a 422 naming them,
    before anything is stored or queued.
    """
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
    spooled = upload_spool(uploaded_file, max_bytes=limit)
    try:
        table = batch_table_read(spooled.path)
        columns = [str(name) for name in table.column_names]
        rows = int(table.num_rows)
        del table
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            live = (
                Deployment.objects.filter(
                    project=project, environment=PRODUCTION, status=DeploymentStatus.LIVE
                )
                .select_related("iteration")
                .first()
            )
            if live is None:
                raise Conflict("This project has no live deployment to score the file with.")
            batch_columns_check(columns=columns, feature_columns=live.iteration.feature_columns)
            batch = BatchJob(
                project=project,
                deployment=live,
                created_by=user,
                task_id=task_id,
                rows_total=rows,
            )
            with spooled.path.open("rb") as source:
                batch.input_file.save(f"{project.slug}-{task_id}.csv", File(source), save=False)
            batch.save()
            audit_record(
                actor=user,
                action="batch.created",
                target=batch,
                project=project,
                after={"deployment": live.pk, "model_version": live.model_version, "rows": rows},
            )
            transaction.on_commit(lambda: _batch_enqueue(batch.pk, task_id))
    finally:
        spooled.path.unlink(missing_ok=True)
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
    except BatchInputError as exc:
        _batch_finish(batch_id=batch_id, status=BatchStatus.FAILED, reason=str(exc)[:2000])
        return
    except Exception:
        # The library's message is for the operator, so the user gets a plain sentence.
        logger.exception("batch %s of project %s failed", batch_id, batch.project.slug)
        _batch_finish(
            batch_id=batch_id,
            status=BatchStatus.FAILED,
            reason=(
                f"Scoring failed because of an error in the portal, not in the file. The "
                f"worker log has the details under batch {batch_id}; upload the file again, "
                "and tell an administrator if it fails again."
            ),
        )
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
