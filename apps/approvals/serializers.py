import datetime
from typing import Any

from rest_framework import serializers

from apps.approvals.checks import checks_as_data, checks_evaluate
from apps.approvals.models import ApprovalRequest, Decision, RequestStatus
from apps.approvals.policies import policy_for
from apps.approvals.selectors import final_decision
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


# Expects the prefetches of apps.approvals.selectors; the docstring below is the schema's
# public description.
class ApprovalRequestSerializer(serializers.ModelSerializer[ApprovalRequest]):
    """An approval request of one gate, with its decisions and automatic checks."""

    project = serializers.CharField(source="project.slug", read_only=True)
    iteration = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    deployment = serializers.SerializerMethodField()
    checks = serializers.SerializerMethodField(
        help_text="The automatic checklist. For a pending request, as it stands now, filled "
        "in by the detail endpoint only so that lists stay at a fixed number of queries. For "
        "an approved or rejected request, as the final decision recorded it (see "
        "checks_recorded_at). Empty for withdrawn and superseded requests."
    )
    checks_recorded_at = serializers.SerializerMethodField(
        help_text="When the final decision recorded ``checks``; null while the request is "
        "pending, because its checks are then evaluated at read time."
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
            "checks_recorded_at",
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
        if approval.status != RequestStatus.PENDING:
            final = final_decision(approval)
            return list(final.checks) if final is not None else []
        if not self.context.get("with_checks"):
            return []
        policy = policy_for(project=approval.project, gate=approval.gate)
        return checks_as_data(checks_evaluate(approval=approval, policy=policy))

    def get_checks_recorded_at(self, approval: ApprovalRequest) -> datetime.datetime | None:
        if approval.status == RequestStatus.PENDING:
            return None
        final = final_decision(approval)
        return final.created_at if final is not None else None
