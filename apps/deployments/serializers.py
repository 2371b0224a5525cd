from typing import Any

from rest_framework import serializers

from apps.deployments.models import BatchJob, Deployment, Rollout, RolloutMode


class DeploymentSerializer(serializers.ModelSerializer[Deployment]):
    iteration = serializers.IntegerField(source="iteration.number", read_only=True)
    approval = serializers.IntegerField(source="approval_id", read_only=True, allow_null=True)
    previous_live = serializers.IntegerField(
        source="previous_live_id", read_only=True, allow_null=True
    )

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
            "smoke_test",
            "previous_live",
            "created_at",
            "live_at",
            "retired_at",
        ]
        read_only_fields = fields


# Only documents the request body in the schema: apps.deployments.serving.predict validates the
# rows, so the endpoint can name each bad field and stay fast.
class PredictRequestSerializer(serializers.Serializer[Any]):
    """Rows to score."""

    instances = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "One object of column name to value per row, columns in any order. null is a "
            "missing value; NaN and infinities are rejected. At most PREDICT_MAX_INSTANCES rows "
            "and PREDICT_MAX_BODY_BYTES bytes (413 above)."
        ),
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
    iteration = serializers.IntegerField(help_text="Iteration of the model that answered.")
    model_version = serializers.CharField(help_text="Registry version of the model that answered.")
    deployment = serializers.IntegerField(help_text="The live deployment.")
    variant = serializers.ChoiceField(
        choices=["live", "canary"], help_text="Whether the live model or a canary answered."
    )
    prediction_ids = serializers.ListField(
        child=serializers.UUIDField(), help_text="One id per row, for reporting outcomes."
    )


class RolloutSerializer(serializers.ModelSerializer[Rollout]):
    iteration = serializers.IntegerField(source="iteration.number", read_only=True)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "mode",
            "iteration",
            "model_version",
            "share",
            "status",
            "status_reason",
            "smoke_test",
            "shadow_failures",
            "shadow_failure_reason",
            "approval",
            "created_at",
            "active_at",
            "ended_at",
        ]
        read_only_fields = fields


class RolloutStartSerializer(serializers.Serializer[Any]):
    iteration = serializers.IntegerField(min_value=1, help_text="Iteration number to roll out.")
    mode = serializers.ChoiceField(choices=RolloutMode.choices)
    share = serializers.FloatField(
        required=False,
        default=0.0,
        help_text="Canary only: fraction of requests (above 0, below 1) the candidate serves.",
    )


class RolloutShareSerializer(serializers.Serializer[Any]):
    share = serializers.FloatField(help_text="New canary share, above 0 and below 1.")


class RolloutComparisonSerializer(RolloutSerializer):
    comparison = serializers.DictField(
        read_only=True, help_text="Agreement and latency of the candidate next to the live one."
    )

    class Meta(RolloutSerializer.Meta):
        fields = [*RolloutSerializer.Meta.fields, "comparison"]
        read_only_fields = fields


class BatchSerializer(serializers.ModelSerializer[BatchJob]):
    model_version = serializers.CharField(source="deployment.model_version", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "status",
            "status_reason",
            "deployment",
            "model_version",
            "rows_total",
            "rows_done",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, batch: BatchJob) -> float | None:
        if not batch.rows_total:
            return None
        return round(batch.rows_done / batch.rows_total, 4)
