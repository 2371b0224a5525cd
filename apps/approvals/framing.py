"""The framing sign-off gate: a decision maker agrees to the problem, targets and costs.

Approval moves the project from ``framing`` to ``approved`` and records who agreed to the
current version of the targets. Rejection moves it to ``rejected`` with the reason.
"""

import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.access import project_roles
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import (
    REQUEST_TRANSITIONS,
    ApprovalRequest,
    Decision,
    Gate,
    RequestStatus,
    Verdict,
)
from apps.approvals.notifications import decision_makers_notify
from apps.audit.services import audit_record, notification_send
from apps.core.errors import Conflict, InvalidInput, NotAllowed
from apps.core.transitions import transition_check
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_transition, target_version_agree

logger = logging.getLogger(__name__)

MAX_COMMENT_LENGTH = 5000


def framing_signoff_request(*, project: Project, user: User, comment: str = "") -> ApprovalRequest:
    """Ask the project's decision makers to sign off its framing.

    A rejected project goes back to ``framing`` when its owner asks again.
    """
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.EDIT_PROJECT):
        raise NotAllowed("Only the project's owners and data scientists can request sign-off.")
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update().get(pk=project.pk)
            if locked.stage == Stage.REJECTED:
                locked = project_stage_transition(
                    project=locked,
                    user=user,
                    stage=Stage.FRAMING,
                    message="Framing resubmitted for sign-off.",
                )
            if locked.stage != Stage.FRAMING:
                raise Conflict(
                    f"The project is {locked.get_stage_display().lower()}; only a project in "
                    "framing can be sent for sign-off.",
                    field="stage",
                )
            approval = ApprovalRequest.objects.create(
                project=locked,
                gate=Gate.FRAMING,
                requested_by=user,
                comment=comment[:MAX_COMMENT_LENGTH],
            )
            decision_makers_notify(
                approval=approval,
                message=f"{user.username} asks you to sign off the framing of {locked.name}.",
            )
            audit_record(
                actor=user,
                action="framing.requested",
                target=approval,
                project=locked,
                message=approval.comment,
            )
    except IntegrityError as exc:
        raise Conflict("The framing already has a pending sign-off request.") from exc
    logger.info("framing sign-off request %s for project %s", approval.pk, project.slug)
    return approval


def framing_decide(
    *, approval: ApprovalRequest, user: User, verdict: str, comment: str = ""
) -> ApprovalRequest:
    """Approve or reject a pending framing sign-off; a rejection needs a reason."""
    if verdict == Verdict.REJECT and not comment.strip():
        raise InvalidInput("Say why the framing is rejected.", field="comment")
    new_status = RequestStatus.APPROVED if verdict == Verdict.APPROVE else RequestStatus.REJECTED
    with transaction.atomic():
        locked = (
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=approval.pk)
        )
        project = locked.project
        if locked.gate != Gate.FRAMING:
            raise Conflict("This request is not a framing sign-off request.")
        if not roles_allow(project_roles(user=user, project_id=project.pk), Action.DECIDE):
            raise NotAllowed("Only the project's decision makers can decide a framing sign-off.")
        if verdict == Verdict.APPROVE and locked.requested_by_id == user.pk:
            raise NotAllowed(
                "You requested this sign-off, so another decision maker must approve it."
            )
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=locked.status,
            new=new_status,
        )
        Decision.objects.create(
            request=locked, decided_by=user, verdict=verdict, comment=comment[:MAX_COMMENT_LENGTH]
        )
        locked.status = new_status
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action=f"framing.{new_status}",
            target=locked,
            project=project,
            before={"status": RequestStatus.PENDING},
            after={"status": new_status},
            message=comment[:MAX_COMMENT_LENGTH],
        )
        if new_status == RequestStatus.APPROVED:
            project_stage_transition(
                project=project, user=user, stage=Stage.APPROVED, message=comment
            )
            target_version_agree(project=project, user=user)
        else:
            project_stage_transition(
                project=project, user=user, stage=Stage.REJECTED, message=comment
            )
        notification_send(
            user_id=locked.requested_by_id,
            kind=f"framing.{new_status}",
            message=f"{user.username} {new_status} the framing of {project.name}.",
            project=project,
            url=f"/projects/{project.slug}/",
        )
    logger.info("framing sign-off %s of project %s %s", locked.pk, project.slug, new_status)
    return locked
