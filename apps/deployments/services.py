"""Deployments: create one from an approved promotion, roll it out, roll back.

A deployment goes ``pending`` -> ``deploying`` -> ``live`` -> ``retired``, or ``failed``
from ``pending`` or ``deploying``. The database allows one ``live`` deployment per project
and environment, and the switch from the old live version to the new one happens in one
transaction under the project's row lock, so readers never see zero or two live versions.
"""

import datetime
import logging
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.access import project_roles
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import ApprovalRequest
from apps.audit.services import audit_record
from apps.core.errors import Conflict, NotAllowed
from apps.core.transitions import transition_check
from apps.deployments.models import (
    DEPLOYMENT_TRANSITIONS,
    PRODUCTION,
    Deployment,
    DeploymentStatus,
)
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project, TaskType
from apps.projects.services import project_stage_advance_if_allowed

logger = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"

# Regressors are compared with a tolerance because a reloaded model may round the last bits
# of a float differently on another machine or library build.
REGRESSION_RELATIVE_TOLERANCE = 1e-6
REGRESSION_ABSOLUTE_TOLERANCE = 1e-9
PROBABILITY_TOLERANCE = 1e-6


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
    """Roll out one deployment: load its model, replay held-out rows, then make it live.

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
        smoke_test = replay_holdout(model=model, iteration=iteration, task_type=project.task_type)
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

    try:
        mlflow_adapter.model_alias_set(
            model_name=iteration.model_name,
            version=iteration.model_version,
            alias=PRODUCTION_ALIAS,
        )
    except Exception:
        # The portal's database decides what is served, and the registry alias only mirrors
        # it for MLflow users. So a registry error is logged and the deployment stays live.
        logger.exception(
            "deployment %s live but setting the MLflow alias %s on %s v%s failed",
            deployment_id,
            PRODUCTION_ALIAS,
            iteration.model_name,
            iteration.model_version,
        )


def _deployment_go_live(*, deployment_id: int, smoke_test: dict[str, Any]) -> Deployment:
    """Retire the current live deployment of the environment and make this one live."""
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        # The project row lock serializes rollouts and rollbacks of one project, so two
        # deployments finishing together cannot both find no live version and both go live.
        project = Project.objects.select_for_update().get(pk=deployment.project_id)
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
        deployment.save(update_fields=["status", "status_reason", "live_at", "smoke_test"])
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


def replay_holdout(*, model: Any, iteration: Iteration, task_type: str) -> dict[str, Any]:
    """Predict the iteration's recorded held-out rows again and compare with the recording.

    Returns ``{"passed", "rows", "mismatches", "reason"}``. A model that loads but predicts
    differently from the one that was evaluated (a wrong artifact, a changed library) fails
    here, before it can serve. Training records ``predict`` (for a classifier, the most
    probable class, before any cost-based threshold) and, for classifiers, every class's
    probability, so the replay compares the same outputs.
    """
    sample = iteration.holdout_sample or {}
    rows = sample.get("rows") or []
    expected = sample.get("predictions") or []
    expected_probabilities = sample.get("probabilities")
    if not rows:
        return _smoke_result(
            passed=False,
            rows=0,
            mismatches=[],
            reason="The iteration has no held-out rows to replay.",
        )
    if len(expected) != len(rows):
        return _smoke_result(
            passed=False,
            rows=len(rows),
            mismatches=[],
            reason=(
                f"The iteration recorded {len(expected)} predictions for {len(rows)} held-out rows."
            ),
        )
    frame = pd.DataFrame.from_records(rows, columns=list(iteration.feature_columns))
    replayed = np.asarray(model.predict(frame)).tolist()
    mismatches = {
        index
        for index, (recorded, output) in enumerate(zip(expected, replayed, strict=True))
        if not _prediction_matches(recorded, output, task_type=task_type)
    }
    if (
        task_type == TaskType.CLASSIFICATION
        and isinstance(expected_probabilities, list)
        and len(expected_probabilities) == len(rows)
        and hasattr(model, "predict_proba")
    ):
        mismatches |= _probability_mismatches(
            expected_probabilities, np.asarray(model.predict_proba(frame))
        )
    if mismatches:
        return _smoke_result(
            passed=False,
            rows=len(rows),
            mismatches=sorted(mismatches)[:20],
            reason=(
                f"The loaded model predicted differently from the evaluated one on "
                f"{len(mismatches)} of {len(rows)} held-out rows; the previous version stays live."
            ),
        )
    return _smoke_result(passed=True, rows=len(rows), mismatches=[], reason="")


def _probability_mismatches(recorded: list[Any], replayed: "np.ndarray[Any, Any]") -> set[int]:
    mismatches: set[int] = set()
    for index, (recorded_row, replayed_row) in enumerate(zip(recorded, replayed, strict=True)):
        try:
            recorded_values = np.asarray(recorded_row, dtype=float)
            close = recorded_values.shape == replayed_row.shape and np.allclose(
                recorded_values, replayed_row, rtol=0, atol=PROBABILITY_TOLERANCE
            )
        except (TypeError, ValueError):
            close = False
        if not close:
            mismatches.add(index)
    return mismatches


def _smoke_result(*, passed: bool, rows: int, mismatches: list[int], reason: str) -> dict[str, Any]:
    return {"passed": passed, "rows": rows, "mismatches": mismatches, "reason": reason}


def _prediction_matches(recorded: Any, replayed: Any, *, task_type: str) -> bool:
    if task_type == TaskType.REGRESSION:
        try:
            return math.isclose(
                float(recorded),
                float(replayed),
                rel_tol=REGRESSION_RELATIVE_TOLERANCE,
                abs_tol=REGRESSION_ABSOLUTE_TOLERANCE,
            )
        except (TypeError, ValueError):
            return False
    # JSON may have turned a label into another type (1 vs 1.0 vs "1"), so labels that print
    # the same count as equal.
    return bool(recorded == replayed) or str(recorded) == str(replayed)


def deployment_rollback(
    *, project: Project, user: User, environment: str = PRODUCTION
) -> Deployment:
    """Make the most recently retired deployment live again and retire the current one.

    The model is not replayed again: it passed the replay when it first went live.
    """
    roles = project_roles(user=user, project_id=project.pk)
    if not roles_allow(roles, Action.ROLL_BACK):
        raise NotAllowed(
            "Only the project's decision makers and data scientists can roll back a deployment."
        )
    with transaction.atomic():
        locked_project = Project.objects.select_for_update().get(pk=project.pk)
        target = (
            Deployment.objects.select_for_update()
            .filter(
                project=locked_project,
                environment=environment,
                status=DeploymentStatus.RETIRED,
            )
            .order_by("-retired_at", "-id")
            .first()
        )
        if target is None:
            raise Conflict("There is no earlier deployment to roll back to.")
        now = timezone.now()
        current = _live_deployment_retire(
            project=locked_project, environment=environment, user=user, now=now
        )
        # A retired deployment may not go live again through the transition table, so the
        # rollback makes a new deployment of the same model instead of reviving the old row.
        restored = Deployment.objects.create(
            project=locked_project,
            iteration_id=target.iteration_id,
            approval=target.approval,
            environment=environment,
            status=DeploymentStatus.LIVE,
            status_reason=f"Rollback to deployment {target.pk}.",
            model_uri=target.model_uri,
            model_version=target.model_version,
            created_by=user,
            live_at=now,
            smoke_test=target.smoke_test,
        )
        audit_record(
            actor=user,
            action="deployment.rolled_back",
            target=restored,
            project=locked_project,
            before={"live": current.pk if current is not None else None},
            after={
                "live": restored.pk,
                "restored_from": target.pk,
                "model_version": restored.model_version,
            },
        )
    logger.info(
        "project %s rolled back from deployment %s to a copy of %s",
        project.slug,
        current.pk if current is not None else None,
        target.pk,
    )
    return restored
