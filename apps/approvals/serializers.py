from typing import Any

from rest_framework import serializers

from apps.approvals.checks import checks_as_data, checks_evaluate
from apps.approvals.models import ApprovalRequest, Decision, RequestStatus
from apps.approvals.policies import policy_for
from apps.approvals.services import MAX_COMMENT_LENGTH


class CommentSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMENT_LENGTH
    )


class PromotionRequestInputSerializer(CommentSerializer):
    canary_share = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0.0,
        max_value=1.0,
        help_text="On approval, serve this fraction of requests (above 0, below 1) as a canary "
        "next to the live version instead of replacing it. Omit for a full promotion.",
    )


class DecisionInputSerializer(CommentSerializer):
    override_justification = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_COMMENT_LENGTH,
        help_text="Why to approve despite failing checks; required when a check fails.",
    )


class RetirementRequestSerializer(CommentSerializer):
    deployment = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of the live deployment to retire; leave out to retire the whole project.",
    )


class PolicySerializer(serializers.Serializer[Any]):
    gate = serializers.CharField(read_only=True)
    approvals_required = serializers.IntegerField(required=False)
    approvers = serializers.ListField(child=serializers.CharField(), required=False)
    check_minimums = serializers.BooleanField(required=False)
    check_regression = serializers.BooleanField(required=False)
    regression_tolerance = serializers.FloatField(required=False)
    check_baseline = serializers.BooleanField(required=False)
    require_reproduced = serializers.BooleanField(required=False)
    supersede_pending = serializers.BooleanField(required=False)
    require_framing_signoff = serializers.BooleanField(
        required=False, help_text="Promotion gate only: the project's framing must be signed off."
    )


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = Decision
        fields = [
            "decided_by",
            "verdict",
            "comment",
            "checks",
            "overridden_checks",
            "override_justification",
            "created_at",
        ]
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.ModelSerializer[ApprovalRequest]):
    """A request as the API shows it. Expects the prefetches of ``apps.approvals.selectors``."""

    project = serializers.CharField(source="project.slug", read_only=True)
    iteration = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    deployment = serializers.SerializerMethodField()
    checks = serializers.SerializerMethodField(
        help_text="The automatic checklist as it stands now, for a pending request; filled "
        "in by the detail endpoint only, so that lists stay at a fixed number of queries."
    )
    retires_deployment = serializers.IntegerField(
        source="deployment_id", read_only=True, allow_null=True
    )

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "project",
            "gate",
            "iteration",
            "status",
            "requested_by",
            "comment",
            "canary_share",
            "created_at",
            "decided_at",
            "decisions",
            "deployment",
            "retires_deployment",
            "checks",
        ]
        read_only_fields = fields

    def get_iteration(self, approval: ApprovalRequest) -> int | None:
        return approval.iteration.number if approval.iteration is not None else None

    def get_deployment(self, approval: ApprovalRequest) -> dict[str, Any] | None:
        deployments = list(approval.deployments.all())
        if not deployments:
            return None
        latest = deployments[0]
        return {"id": latest.pk, "status": latest.status}

    def get_checks(self, approval: ApprovalRequest) -> list[dict[str, Any]]:
        if approval.status != RequestStatus.PENDING or not self.context.get("with_checks"):
            return []
        policy = policy_for(project=approval.project, gate=approval.gate)
        return checks_as_data(checks_evaluate(approval=approval, policy=policy))
