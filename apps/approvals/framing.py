"""The framing sign-off gate: a decision maker agrees to the problem, targets and costs.

Approval moves the project from ``framing`` to ``approved`` and records who agreed to the
current version of the targets. Rejection moves it to ``rejected`` with the reason. The
decision itself goes through ``apps.approvals.services.approval_decide`` like every gate.
"""

import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from apps.accounts.access import project_roles
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import ApprovalRequest, Gate
from apps.approvals.notifications import decision_makers_notify
from apps.approvals.policies import policy_approver_ids, policy_for
from apps.approvals.services import MAX_COMMENT_LENGTH, approval_decide
from apps.audit.services import audit_record
from apps.core.errors import Conflict, NotAllowed
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_transition

logger = logging.getLogger(__name__)


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
            approver_ids = policy_approver_ids(policy_for(project=locked, gate=Gate.FRAMING))
            decision_makers_notify(
                approval=approval,
                approver_ids=approver_ids or None,
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
    if approval.gate != Gate.FRAMING:
        raise Conflict("This request is not a framing sign-off request.")
    return approval_decide(approval=approval, user=user, verdict=verdict, comment=comment)
