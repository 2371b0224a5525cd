"""Promotion requests: a data scientist requests, a decision maker approves or rejects.

Approval creates the deployment in the same transaction, so an approved request without a
deployment cannot exist. Separation of duties: the person who requested a promotion and
the author of the iteration cannot approve it.
"""

import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.access import project_roles
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.framing import framing_decide
from apps.approvals.models import (
    REQUEST_TRANSITIONS,
    ApprovalRequest,
    Decision,
    Gate,
    RequestStatus,
    Verdict,
)
from apps.approvals.notifications import decision_makers_notify
from apps.audit.services import audit_record
from apps.core.errors import Conflict, NotAllowed
from apps.core.transitions import transition_check
from apps.deployments.services import deployment_create
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project, Stage

logger = logging.getLogger(__name__)

MAX_COMMENT_LENGTH = 5000


def promotion_request(*, iteration: Iteration, user: User, comment: str = "") -> ApprovalRequest:
    """Ask the project's decision makers to put ``iteration`` into production.

    A new request supersedes the project's older pending promotion requests: only the
    newest candidate is up for decision.
    """
    project = iteration.project
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.REQUEST_PROMOTION):
        raise NotAllowed("Only the project's data scientists can request a promotion.")
    if project.promotion_requires_framing_signoff and project.stage in (
        Stage.FRAMING,
        Stage.REJECTED,
    ):
        raise Conflict(
            "This project requires a signed-off framing before any promotion. "
            "Ask a decision maker to sign off the framing first.",
            field="stage",
        )
    if iteration.is_baseline:
        raise Conflict(
            f"Iteration {iteration.number} is a non-ML baseline: it measures a simple rule "
            "and cannot be promoted.",
            field="iteration",
        )
    if iteration.status != IterationStatus.SUCCEEDED:
        raise Conflict(
            f"Iteration {iteration.number} is {iteration.status}; only a succeeded iteration "
            "can be promoted.",
            field="iteration",
        )
    if not iteration.model_version:
        raise Conflict(
            f"Iteration {iteration.number} has no registered model version to promote.",
            field="iteration",
        )
    try:
        with transaction.atomic():
            # The project lock orders concurrent requests, so exactly one stays pending.
            Project.objects.select_for_update().get(pk=project.pk)
            if _pending_promotions(project=project).filter(iteration=iteration).exists():
                raise Conflict(
                    f"Iteration {iteration.number} already has a pending promotion request.",
                    field="iteration",
                )
            approval = ApprovalRequest.objects.create(
                project=project,
                gate=Gate.PROMOTION,
                iteration=iteration,
                requested_by=user,
                comment=comment[:MAX_COMMENT_LENGTH],
            )
            superseded = _promotions_supersede(project=project, by=approval, user=user)
            decision_makers_notify(
                approval=approval,
                message=(
                    f"{user.username} requests promotion of iteration {iteration.number} "
                    f"of {project.name}."
                ),
            )
            audit_record(
                actor=user,
                action="promotion.requested",
                target=approval,
                project=project,
                after={
                    "iteration": iteration.number,
                    "model_version": iteration.model_version,
                    "superseded": superseded,
                },
                message=approval.comment,
            )
    except IntegrityError as exc:
        # The partial unique index catches a request that raced past the check above.
        raise Conflict(
            f"Iteration {iteration.number} already has a pending promotion request.",
            field="iteration",
        ) from exc
    logger.info(
        "promotion request %s for project %s iteration %s by user %s",
        approval.pk,
        project.slug,
        iteration.number,
        user.pk,
    )
    return approval


def _pending_promotions(*, project: Project) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.filter(
        project=project, gate=Gate.PROMOTION, status=RequestStatus.PENDING
    )


def _promotions_supersede(*, project: Project, by: ApprovalRequest, user: User) -> list[int]:
    older = list(_pending_promotions(project=project).exclude(pk=by.pk).select_for_update())
    now = timezone.now()
    for request in older:
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=request.status,
            new=RequestStatus.SUPERSEDED,
        )
        request.status = RequestStatus.SUPERSEDED
        request.decided_at = now
        request.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action="promotion.superseded",
            target=request,
            project=project,
            before={"status": RequestStatus.PENDING},
            after={"status": RequestStatus.SUPERSEDED, "superseded_by": by.pk},
        )
    return [request.pk for request in older]


def promotion_approve(
    *, approval: ApprovalRequest, user: User, comment: str = ""
) -> ApprovalRequest:
    """Approve a pending promotion and create its deployment in the same transaction."""
    return _promotion_decide(approval=approval, user=user, comment=comment, verdict=Verdict.APPROVE)


def promotion_reject(
    *, approval: ApprovalRequest, user: User, comment: str = ""
) -> ApprovalRequest:
    """Reject a pending promotion. The iteration stays as it is and can be requested again."""
    return _promotion_decide(approval=approval, user=user, comment=comment, verdict=Verdict.REJECT)


def _promotion_decide(
    *, approval: ApprovalRequest, user: User, comment: str, verdict: str
) -> ApprovalRequest:
    new_status = RequestStatus.APPROVED if verdict == Verdict.APPROVE else RequestStatus.REJECTED
    with transaction.atomic():
        locked = (
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("project", "iteration")
            .get(pk=approval.pk)
        )
        project = locked.project
        if locked.gate != Gate.PROMOTION or locked.iteration is None:
            raise Conflict("This request is not a promotion request.")
        if not roles_allow(project_roles(user=user, project_id=project.pk), Action.DECIDE):
            raise NotAllowed(
                "Only the project's decision makers can approve or reject a promotion."
            )
        if verdict == Verdict.APPROVE:
            _separation_of_duties_check(approval=locked, user=user)
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=locked.status,
            new=new_status,
        )
        Decision.objects.create(
            request=locked,
            decided_by=user,
            verdict=verdict,
            comment=comment[:MAX_COMMENT_LENGTH],
        )
        locked.status = new_status
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action=f"promotion.{new_status}",
            target=locked,
            project=project,
            before={"status": RequestStatus.PENDING},
            after={"status": new_status, "iteration": locked.iteration.number},
            message=comment[:MAX_COMMENT_LENGTH],
        )
        if new_status == RequestStatus.APPROVED:
            deployment_create(
                project=project, iteration=locked.iteration, approval=locked, user=user
            )
    logger.info(
        "promotion request %s of project %s %s by user %s",
        locked.pk,
        project.slug,
        new_status,
        user.pk,
    )
    return locked


def _separation_of_duties_check(*, approval: ApprovalRequest, user: User) -> None:
    if approval.requested_by_id == user.pk:
        raise NotAllowed("You requested this promotion, so another decision maker must approve it.")
    if approval.iteration is not None and approval.iteration.created_by_id == user.pk:
        raise NotAllowed(
            "You trained this iteration, so another decision maker must approve its promotion."
        )


def promotion_withdraw(*, approval: ApprovalRequest, user: User) -> ApprovalRequest:
    """Withdraw a pending promotion request. Only the person who made it can."""
    with transaction.atomic():
        locked = (
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=approval.pk)
        )
        if locked.requested_by_id != user.pk:
            raise NotAllowed("Only the person who requested this promotion can withdraw it.")
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=locked.status,
            new=RequestStatus.WITHDRAWN,
        )
        locked.status = RequestStatus.WITHDRAWN
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action="promotion.withdrawn",
            target=locked,
            project=locked.project,
            before={"status": RequestStatus.PENDING},
            after={"status": RequestStatus.WITHDRAWN},
        )
    logger.info("promotion request %s of project %s withdrawn", locked.pk, locked.project.slug)
    return locked


def approval_approve(
    *, approval: ApprovalRequest, user: User, comment: str = ""
) -> ApprovalRequest:
    """Approve a pending request of any gate."""
    if approval.gate == Gate.FRAMING:
        return framing_decide(
            approval=approval, user=user, verdict=Verdict.APPROVE, comment=comment
        )
    return promotion_approve(approval=approval, user=user, comment=comment)


def approval_reject(*, approval: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """Reject a pending request of any gate."""
    if approval.gate == Gate.FRAMING:
        return framing_decide(approval=approval, user=user, verdict=Verdict.REJECT, comment=comment)
    return promotion_reject(approval=approval, user=user, comment=comment)
