from collections.abc import Callable

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.approvals.framing import framing_signoff_request
from apps.approvals.models import ApprovalRequest
from apps.approvals.selectors import approval_detail, approval_get_for_user, inbox_for_user
from apps.approvals.serializers import ApprovalRequestSerializer, CommentSerializer
from apps.approvals.services import (
    approval_approve,
    approval_reject,
    promotion_approve,
    promotion_reject,
    promotion_request,
    promotion_withdraw,
)
from apps.core.api import ProjectAPIView
from apps.core.users import authenticated_user
from apps.iterations.models import Iteration


def _comment(request: Request) -> str:
    serializer = CommentSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return str(serializer.validated_data["comment"])


def _iteration_or_404(project_id: int, number: int) -> Iteration:
    iteration = (
        Iteration.objects.filter(project_id=project_id, number=number)
        .select_related("project")
        .first()
    )
    if iteration is None:
        raise Http404(f"No iteration {number} in this project.")
    return iteration


def _serialized(approval_id: int) -> dict[str, object]:
    return dict(ApprovalRequestSerializer(approval_detail(approval_id=approval_id)).data)


class PromotionRequestView(ProjectAPIView):
    actions = {"post": Action.REQUEST_PROMOTION}

    @extend_schema(request=CommentSerializer, responses={201: ApprovalRequestSerializer})
    def post(self, request: Request, slug: str, number: int) -> Response:
        comment = _comment(request)
        iteration = _iteration_or_404(self.project.pk, number)
        user = authenticated_user(request)
        approval = promotion_request(iteration=iteration, user=user, comment=comment)
        return Response(_serialized(approval.pk), status=status.HTTP_201_CREATED)


class PromotionInboxView(APIView):
    @extend_schema(responses=ApprovalRequestSerializer(many=True))
    def get(self, request: Request) -> Response:
        approvals = inbox_for_user(user=authenticated_user(request))
        return Response(ApprovalRequestSerializer(approvals, many=True).data)


class PromotionDetailView(APIView):
    @extend_schema(responses=ApprovalRequestSerializer)
    def get(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        return Response(ApprovalRequestSerializer(approval).data)


class DecisionView(APIView):
    """Decide a request with ``{comment}``. Subclasses name the service that decides."""

    decide: Callable[..., ApprovalRequest]

    @extend_schema(request=CommentSerializer, responses=ApprovalRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        comment = _comment(request)
        # Members who may only view get the service's explanation (403) rather than a bare
        # permission error, and outsiders get 404 from the selector.
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        type(self).decide(approval=approval, user=user, comment=comment)
        return Response(_serialized(approval.pk))


class PromotionApproveView(DecisionView):
    decide = promotion_approve


class PromotionRejectView(DecisionView):
    decide = promotion_reject


class PromotionWithdrawView(APIView):
    @extend_schema(request=None, responses=ApprovalRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        promotion_withdraw(approval=approval, user=user)
        return Response(_serialized(approval.pk))


class FramingSignoffRequestView(ProjectAPIView):
    """Send the project's framing (problem, targets, expectations, costs) for sign-off."""

    actions = {"post": Action.EDIT_PROJECT}

    @extend_schema(request=CommentSerializer, responses={201: ApprovalRequestSerializer})
    def post(self, request: Request, slug: str) -> Response:
        comment = _comment(request)
        approval = framing_signoff_request(
            project=self.project, user=authenticated_user(request), comment=comment
        )
        return Response(_serialized(approval.pk), status=status.HTTP_201_CREATED)


class ApprovalApproveView(DecisionView):
    """Approve a pending request of any gate: framing sign-off or promotion."""

    decide = approval_approve


class ApprovalRejectView(DecisionView):
    """Reject a pending request of any gate. A framing rejection needs a comment."""

    decide = approval_reject
