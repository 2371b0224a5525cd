from typing import Any

from rest_framework import serializers

from apps.approvals.models import ApprovalRequest, Decision
from apps.approvals.services import MAX_COMMENT_LENGTH


class CommentSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMENT_LENGTH
    )


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = Decision
        fields = ["decided_by", "verdict", "comment", "created_at"]
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.ModelSerializer[ApprovalRequest]):
    """A request as the API shows it. Expects the prefetches of ``apps.approvals.selectors``."""

    project = serializers.CharField(source="project.slug", read_only=True)
    iteration = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    deployment = serializers.SerializerMethodField()

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
            "created_at",
            "decided_at",
            "decisions",
            "deployment",
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
