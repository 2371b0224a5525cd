"""Reads of approval requests, each shaped for one page or endpoint in a fixed number of queries."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from apps.accounts.access import project_get_for_user
from apps.accounts.models import Role
from apps.accounts.permissions import Action
from apps.approvals.models import ApprovalRequest, Decision, RequestStatus, Verdict
from apps.deployments.models import Deployment
from apps.projects.models import Project


def _with_details(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return queryset.select_related("project", "iteration", "requested_by").prefetch_related(
        Prefetch("decisions", queryset=Decision.objects.select_related("decided_by")),
        Prefetch("deployments", queryset=Deployment.objects.order_by("-created_at", "-id")),
    )


def inbox_for_user(*, user: User | AnonymousUser) -> QuerySet[ApprovalRequest]:
    """Pending requests in the projects where ``user`` is a decision maker, oldest first."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    # Filtering user and role in one filter() call joins one membership row per request,
    # because the membership_unique_role constraint allows each role once per user and project.
    pending = ApprovalRequest.objects.filter(
        status=RequestStatus.PENDING,
        project__memberships__user_id=user.pk,
        project__memberships__role=Role.DECISION_MAKER,
    )
    return _with_details(pending).order_by("created_at", "id")


def approval_get_for_user(
    *, user: User | AnonymousUser, approval_id: int, action: Action = Action.VIEW
) -> ApprovalRequest:
    """Return the request if ``user`` may take ``action`` in its project.

    Raises Http404 when the request does not exist or the user has no role in its project,
    and PermissionDenied when the role does not allow ``action``.
    """
    approval = _with_details(ApprovalRequest.objects.filter(pk=approval_id)).first()
    if approval is None:
        raise Http404("No approval request found with that id.")
    try:
        project = project_get_for_user(user=user, slug=approval.project.slug, action=action)
    except Http404:
        raise Http404("No approval request found with that id.") from None
    approval.project = project
    return approval


def approval_detail(*, approval_id: int) -> ApprovalRequest:
    """Load a request with its decisions and deployment, such as after a service changed it."""
    return _with_details(ApprovalRequest.objects.filter(pk=approval_id)).get()


def project_approvals(*, project: Project) -> QuerySet[ApprovalRequest]:
    """Return every request of ``project``, newest first."""
    return _with_details(ApprovalRequest.objects.filter(project=project)).order_by(
        "-created_at", "-id"
    )


def final_decision(approval: ApprovalRequest) -> Decision | None:
    """Return the decision that closed an approved or rejected request, else None.

    Reads the prefetched decisions of ``_with_details``, so it runs no query when they are
    loaded. With several required approvals, the last approval is the one that closed it.
    """
    closing_verdicts = {
        RequestStatus.APPROVED: Verdict.APPROVE,
        RequestStatus.REJECTED: Verdict.REJECT,
    }
    verdict = closing_verdicts.get(RequestStatus(approval.status))
    if verdict is None:
        return None
    closing = [decision for decision in approval.decisions.all() if decision.verdict == verdict]
    return max(closing, key=lambda decision: (decision.created_at, decision.pk), default=None)
