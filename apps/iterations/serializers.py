from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.iterations.models import Iteration


class IterationStartSerializer(serializers.Serializer[Any]):
    dataset = serializers.IntegerField(help_text="Id of a dataset version of this project.")
    recipe = serializers.CharField(
        max_length=64,
        help_text="baseline, one_feature_rule, logistic_regression, ridge, random_forest, "
        "hist_gradient_boosting, and lightgbm or xgboost where installed.",
    )
    params = serializers.DictField(
        required=False, default=dict, help_text="Recipe parameters; omitted ones take defaults."
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0)
    test_size = serializers.FloatField(
        required=False, default=0.2, help_text="Share of rows held out for evaluation."
    )


class IterationLinkSerializer(serializers.Serializer[Any]):
    mlflow_run_id = serializers.CharField(
        max_length=64, help_text="Id of a run on the portal's MLflow tracking server."
    )
    dataset = serializers.IntegerField(
        help_text="Id of the dataset version whose holdout split measures the model."
    )
    target = serializers.CharField(
        required=False,
        help_text="The target column, if given, must be the dataset version's target.",
    )
    feature_columns = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Columns the model takes; by default its signature's inputs, else every "
        "feature column of the dataset.",
    )
    seed = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="Seed of the holdout split."
    )
    test_size = serializers.FloatField(
        required=False, default=0.2, help_text="Share of rows held out for evaluation."
    )


class VerdictSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    kind = serializers.CharField()
    direction = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    target = serializers.FloatField()
    minimum = serializers.FloatField(allow_null=True)
    stretch = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()
    verdict = serializers.ChoiceField(choices=["met", "missed", "undefined"])
    minimum_verdict = serializers.ChoiceField(choices=["met", "missed", "undefined"])


# Callers pass the verdicts as context["verdicts"], keyed by iteration id.
class IterationSerializer(serializers.ModelSerializer[Iteration]):
    """One training run: its spec, status, metrics and each target's verdict."""

    created_by = serializers.CharField(source="created_by.username", read_only=True)
    metrics = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        read_only=True,
        help_text="Metric name to value on the holdout; null where undefined.",
    )
    targets = serializers.SerializerMethodField()
    reproduction_of: serializers.SlugRelatedField[Iteration] = serializers.SlugRelatedField(
        slug_field="number",
        read_only=True,
        help_text="Number of the iteration this one reruns, or null.",
    )
    reproduction = serializers.JSONField(
        read_only=True,
        help_text='Latest rerun\'s outcome: {"status": "reproduced", "differs" or "failed", '
        '"iteration", "differences": {metric: [original, rerun]}, "checked_at"}; {} if none.',
    )
    evaluation = serializers.JSONField(
        read_only=True,
        help_text="Holdout curves and diagnostics: roc, pr, calibration, confusion, cost_curve, "
        "feature_importance, residuals; each key only where it applies.",
    )
    environment = serializers.JSONField(
        read_only=True, help_text="Python, package and portal versions and the host it ran on."
    )
    external_run = serializers.JSONField(
        read_only=True,
        help_text="For a linked iteration, the run's own logged metrics and params; {} else.",
    )
    progress = serializers.JSONField(
        read_only=True,
        help_text='Training stage: {"stage": "loading", "fitting", "evaluating", "logging" or '
        '"done" (succeeded), "started_at", "log": ["HH:MM:SS line" in UTC]}; {} before '
        "training starts. Failed and cancelled runs keep the stage they stopped in.",
    )

    class Meta:
        model = Iteration
        fields = [
            "number",
            "status",
            "status_reason",
            "dataset",
            "recipe",
            "params",
            "seed",
            "test_size",
            "is_baseline",
            "source",
            "metrics",
            "targets",
            "threshold",
            "expected_cost",
            "feature_columns",
            "mlflow_run_id",
            "model_name",
            "model_version",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "progress",
            "reproduction_of",
            "reproduction",
            "evaluation",
            "environment",
            "external_run",
        ]
        read_only_fields = fields

    @extend_schema_field(VerdictSerializer(many=True))
    def get_targets(self, iteration: Iteration) -> list[dict[str, Any]]:
        verdicts: dict[int, list[dict[str, Any]]] = self.context.get("verdicts", {})
        return verdicts.get(iteration.pk, [])
