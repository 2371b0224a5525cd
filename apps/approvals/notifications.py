"""Who hears about a request, a decision or an override, in the app and by email."""

from collections.abc import Iterable

from apps.accounts.models import Membership, Role
from apps.approvals.models import ApprovalRequest
from apps.audit.services import notification_send


def _approval_url(approval: ApprovalRequest) -> str:
    return f"/approvals/{approval.pk}/"


def _send(*, user_ids: Iterable[int], approval: ApprovalRequest, kind: str, message: str) -> None:
    for user_id in sorted(set(user_ids)):
        notification_send(
            user_id=user_id,
            kind=kind,
            message=message,
            project=approval.project,
            url=_approval_url(approval),
            email=True,
        )


def _decision_maker_ids(approval: ApprovalRequest) -> set[int]:
    return set(
        Membership.objects.filter(
            project_id=approval.project_id, role=Role.DECISION_MAKER
        ).values_list("user_id", flat=True)
    )


def decision_makers_notify(
    *, approval: ApprovalRequest, message: str, approver_ids: set[int] | None = None
) -> None:
    """Tell the decision makers who may decide, except the requester, that a request waits."""
    recipients = approver_ids or _decision_maker_ids(approval)
    recipients.discard(approval.requested_by_id)
    _send(
        user_ids=recipients, approval=approval, kind=f"{approval.gate}.requested", message=message
    )


def requester_notify(*, approval: ApprovalRequest, kind: str, message: str) -> None:
    """Tell the requester, and the iteration's author for a promotion, about a decision."""
    recipients = {approval.requested_by_id}
    if approval.iteration is not None:
        recipients.add(approval.iteration.created_by_id)
    _send(user_ids=recipients, approval=approval, kind=kind, message=message)


def override_notify(*, approval: ApprovalRequest, decided_by_id: int, message: str) -> None:
    """Tell the owners and the other decision makers that failing checks were overridden."""
    owners = set(
        Membership.objects.filter(project_id=approval.project_id, role=Role.OWNER).values_list(
            "user_id", flat=True
        )
    )
    recipients = (owners | _decision_maker_ids(approval) | {approval.requested_by_id}) - {
        decided_by_id
    }
    _send(
        user_ids=recipients, approval=approval, kind=f"{approval.gate}.overridden", message=message
    )
