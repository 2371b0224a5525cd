from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.approvals.framing import framing_signoff_request
from apps.approvals.models import Gate, Verdict
from apps.approvals.policies import policy_for, policy_snapshot, policy_update
from apps.approvals.selectors import approval_detail, approval_get_for_user, inbox_for_user
from apps.approvals.serializers import (
    ApprovalRequestSerializer,
    CommentSerializer,
    DecisionInputSerializer,
    PolicySerializer,
    PromotionRequestInputSerializer,
    RetirementRequestSerializer,
)
from apps.approvals.services import (
    approval_decide,
    approval_withdraw,
    promotion_request,
    retirement_request,
)
from apps.core.api import ProjectAPIView
from apps.core.errors import Conflict, InvalidInput
from apps.core.users import authenticated_user
from apps.deployments.models import Deployment
from apps.iterations.models import Iteration


def _valid(serializer_class: type[CommentSerializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


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
    approval = approval_detail(approval_id=approval_id)
    return dict(ApprovalRequestSerializer(approval, context={"with_checks": True}).data)


class PromotionRequestView(ProjectAPIView):
    actions = {"post": Action.REQUEST_PROMOTION}

    @extend_schema(
        request=PromotionRequestInputSerializer, responses={201: ApprovalRequestSerializer}
    )
    def post(self, request: Request, slug: str, number: int) -> Response:
        data = _valid(PromotionRequestInputSerializer, request)
        iteration = _iteration_or_404(self.project.pk, number)
        user = authenticated_user(request)
        approval = promotion_request(
            iteration=iteration,
            user=user,
            comment=data["comment"],
            canary_share=data["canary_share"],
        )
        return Response(_serialized(approval.pk), status=status.HTTP_201_CREATED)


class RetirementRequestView(ProjectAPIView):
    """Ask the decision makers to retire a live deployment, or the project without one."""

    actions = {"post": Action.REQUEST_RETIREMENT}

    @extend_schema(request=RetirementRequestSerializer, responses={201: ApprovalRequestSerializer})
    def post(self, request: Request, slug: str) -> Response:
        data = _valid(RetirementRequestSerializer, request)
        deployment = None
        if data["deployment"] is not None:
            deployment = Deployment.objects.filter(
                project=self.project, pk=data["deployment"]
            ).first()
            if deployment is None:
                raise InvalidInput(
                    f"No deployment with id {data['deployment']} in this project.",
                    field="deployment",
                )
        approval = retirement_request(
            project=self.project,
            user=authenticated_user(request),
            deployment=deployment,
            comment=data["comment"],
        )
        return Response(_serialized(approval.pk), status=status.HTTP_201_CREATED)


class PromotionInboxView(APIView):
    """Pending requests, every gate, in the projects where the caller is a decision maker."""

    @extend_schema(responses=ApprovalRequestSerializer(many=True))
    def get(self, request: Request) -> Response:
        approvals = inbox_for_user(user=authenticated_user(request))
        return Response(ApprovalRequestSerializer(approvals, many=True).data)


class PromotionDetailView(APIView):
    @extend_schema(responses=ApprovalRequestSerializer)
    def get(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        return Response(ApprovalRequestSerializer(approval, context={"with_checks": True}).data)


# The base of the decision endpoints, which take ``{comment, override_justification}``.
# Subclasses name the verdict and, for the v1 promotion paths, the gate they accept. A comment
# rather than a docstring, because drf-spectacular would describe every subclass with it.
class DecisionView(APIView):
    verdict: str
    gate: str | None = None

    @extend_schema(request=DecisionInputSerializer, responses=ApprovalRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        data = _valid(DecisionInputSerializer, request)
        # Members who may only view get the service's explanation (403) rather than a bare
        # permission error, and outsiders get 404 from the selector.
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        if self.gate is not None and approval.gate != self.gate:
            raise Conflict(f"This request is not a {Gate(self.gate).label.lower()} request.")
        approval_decide(
            approval=approval,
            user=user,
            verdict=self.verdict,
            comment=data["comment"],
            override_justification=data["override_justification"],
        )
        return Response(_serialized(approval.pk))


class PromotionApproveView(DecisionView):
    """Approve a pending promotion request. Failing checks need an override_justification."""

    verdict = Verdict.APPROVE
    gate = Gate.PROMOTION


class PromotionRejectView(DecisionView):
    """Reject a pending promotion request."""

    verdict = Verdict.REJECT
    gate = Gate.PROMOTION


class WithdrawView(APIView):
    @extend_schema(request=None, responses=ApprovalRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = authenticated_user(request)
        approval = approval_get_for_user(user=user, approval_id=pk, action=Action.VIEW)
        approval_withdraw(approval=approval, user=user)
        return Response(_serialized(approval.pk))


PromotionWithdrawView = WithdrawView


class FramingSignoffRequestView(ProjectAPIView):
    """Send the project's framing (problem, targets, expectations, costs) for sign-off."""

    actions = {"post": Action.EDIT_PROJECT}

    @extend_schema(request=CommentSerializer, responses={201: ApprovalRequestSerializer})
    def post(self, request: Request, slug: str) -> Response:
        comment = _valid(CommentSerializer, request)["comment"]
        approval = framing_signoff_request(
            project=self.project, user=authenticated_user(request), comment=comment
        )
        return Response(_serialized(approval.pk), status=status.HTTP_201_CREATED)


class ApprovalApproveView(DecisionView):
    """Approve a pending request of any gate."""

    verdict = Verdict.APPROVE


class ApprovalRejectView(DecisionView):
    """Reject a pending request of any gate. Framing and retirement rejections need a comment."""

    verdict = Verdict.REJECT


class ApprovalRequestChangesView(DecisionView):
    """Ask for changes to a pending request with a comment; the request stays pending."""

    verdict = Verdict.REQUEST_CHANGES


class PolicyView(ProjectAPIView):
    """Read or change the approval policy of one gate of the project.

    Owners, data scientists and decision makers may tighten a policy. Only decision makers
    may loosen it: turn a check off, lower the approvals required, raise the regression
    tolerance or widen the approvers. A change the caller's roles do not allow gets 403.
    """

    # policy_update decides from the member's roles and the direction of the change, which
    # one permission action cannot express.
    actions = {"get": Action.VIEW, "patch": Action.VIEW}

    def _gate(self, gate: str) -> str:
        if gate not in Gate.values:
            raise Http404(f"No gate '{gate}'. Use one of: {', '.join(Gate.values)}.")
        return gate

    @extend_schema(responses=PolicySerializer)
    def get(self, request: Request, slug: str, gate: str) -> Response:
        policy = policy_for(project=self.project, gate=self._gate(gate))
        return Response(policy_snapshot(policy, project=self.project))

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def patch(self, request: Request, slug: str, gate: str) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("Send a JSON object with the fields to change.")
        policy = policy_update(
            project=self.project,
            gate=self._gate(gate),
            user=authenticated_user(request),
            changes=dict(request.data),
        )
        self.project.refresh_from_db()
        return Response(policy_snapshot(policy, project=self.project))
