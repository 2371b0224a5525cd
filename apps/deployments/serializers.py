from typing import Any

from rest_framework import serializers

from apps.deployments.models import Deployment


class DeploymentSerializer(serializers.ModelSerializer[Deployment]):
    iteration = serializers.IntegerField(source="iteration.number", read_only=True)
    approval = serializers.IntegerField(source="approval_id", read_only=True, allow_null=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "iteration",
            "approval",
            "model_version",
            "model_uri",
            "environment",
            "status",
            "status_reason",
            "created_at",
            "live_at",
            "retired_at",
        ]
        read_only_fields = fields


class PredictRequestSerializer(serializers.Serializer[Any]):
    """Documents the request body; ``apps.deployments.serving.predict`` validates the rows."""

    instances = serializers.ListField(
        child=serializers.DictField(), help_text="One object of column name to value per row."
    )


class PredictResponseSerializer(serializers.Serializer[Any]):
    predictions = serializers.ListField()
    probabilities = serializers.ListField(
        required=False,
        help_text=(
            "Classifiers only: the positive class's probability for a binary model, "
            "otherwise one list of class probabilities per row."
        ),
    )
    threshold = serializers.FloatField(
        required=False, allow_null=True, help_text="Decision threshold of a binary classifier."
    )
    iteration = serializers.IntegerField()
    model_version = serializers.CharField()
    deployment = serializers.IntegerField()
