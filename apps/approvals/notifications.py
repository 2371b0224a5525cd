from apps.accounts.models import Membership, Role
from apps.approvals.models import ApprovalRequest
from apps.audit.services import notification_send


def decision_makers_notify(*, approval: ApprovalRequest, message: str) -> None:
    """Tell the project's decision makers, except the requester, that a request waits for them."""
    decision_makers = (
        Membership.objects.filter(project_id=approval.project_id, role=Role.DECISION_MAKER)
        .exclude(user_id=approval.requested_by_id)
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in decision_makers:
        notification_send(
            user_id=user_id,
            kind=f"{approval.gate}.requested",
            message=message,
            project=approval.project,
            url=f"/approvals/{approval.pk}/",
        )
