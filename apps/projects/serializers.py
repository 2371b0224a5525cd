from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Role
from apps.core.serializers import StrictSerializer
from apps.projects.forms import ERROR_COST_MAX
from apps.projects.framing import SUITABILITY_QUESTIONS, Readiness, readiness_verdict
from apps.projects.health import Health, HealthReport
from apps.projects.models import (
    Comment,
    Direction,
    MetricKind,
    MetricObservation,
    Project,
    SuccessMetric,
    TargetVersion,
    TaskType,
    Verdict,
)
from apps.projects.observations import NOTE_MAX_LENGTH
from apps.projects.selectors import project_health_report
from apps.projects.services import FRAMING_FIELDS, MetricInput


class SuccessMetricSerializer(serializers.ModelSerializer[SuccessMetric]):
    class Meta:
        model = SuccessMetric
        fields = ["name", "kind", "direction", "minimum", "target", "stretch", "baseline", "unit"]


class MetricInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=MetricKind.choices, default=MetricKind.MODEL)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False, allow_null=True)
    target = serializers.FloatField()
    minimum = serializers.FloatField(required=False, allow_null=True)
    stretch = serializers.FloatField(required=False, allow_null=True)
    baseline = serializers.FloatField(required=False, allow_null=True)
    unit = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    def to_metric(self, data: dict[str, Any]) -> MetricInput:
        return MetricInput(**data)


class MemberInputSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class ExpectationsSerializer(StrictSerializer):
    first_model_by = serializers.DateField(required=False, allow_null=True)
    production_by = serializers.DateField(required=False, allow_null=True)
    expected_iterations = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    checkin_every_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=365
    )


def _error_cost_field() -> serializers.FloatField:
    # The upper bound also rejects infinity, and DRF's FloatField rejects NaN.
    return serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=ERROR_COST_MAX
    )


class ErrorCostsSerializer(StrictSerializer):
    false_positive = _error_cost_field()
    false_negative = _error_cost_field()
    true_positive_value = _error_cost_field()


class FramingSerializer(StrictSerializer):
    decision = serializers.CharField(required=False, allow_blank=True)
    decision_owner = serializers.CharField(required=False, allow_blank=True)
    current_process = serializers.CharField(required=False, allow_blank=True)
    decision_frequency = serializers.CharField(required=False, allow_blank=True, max_length=200)
    data_available = serializers.CharField(required=False, allow_blank=True)
    non_ml_alternative = serializers.CharField(required=False, allow_blank=True)
    suitability = serializers.DictField(
        child=serializers.BooleanField(allow_null=True),
        required=False,
        help_text="Checklist answers: " + ", ".join(q.key for q in SUITABILITY_QUESTIONS) + ".",
    )


class ReadinessSerializer(serializers.Serializer[Any]):
    verdict = serializers.ChoiceField(choices=Readiness.choices)
    reasons = serializers.ListField(child=serializers.CharField())


class PolicySerializer(StrictSerializer):
    promotion_requires_framing_signoff = serializers.BooleanField(required=False)


def plan_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Map the nested ``framing``, ``expectations`` and ``error_costs`` objects onto fields."""
    fields: dict[str, Any] = {}
    for key in ("name", "business_problem"):
        if key in data:
            fields[key] = data[key]
    fields.update(data.get("framing") or {})
    fields.update(data.get("policy") or {})
    fields.update(data.get("expectations") or {})
    costs = data.get("error_costs") or {}
    if "false_positive" in costs:
        fields["cost_false_positive"] = costs["false_positive"]
    if "false_negative" in costs:
        fields["cost_false_negative"] = costs["false_negative"]
    if "true_positive_value" in costs:
        fields["value_true_positive"] = costs["true_positive_value"]
    return fields


class ProjectWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    business_problem = serializers.CharField()
    task_type = serializers.ChoiceField(choices=TaskType.choices)
    metrics = MetricInputSerializer(many=True)
    framing = FramingSerializer(required=False)
    policy = PolicySerializer(required=False)
    expectations = ExpectationsSerializer(required=False)
    error_costs = ErrorCostsSerializer(required=False)
    members = MemberInputSerializer(many=True, required=False)


class ProjectPatchSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    business_problem = serializers.CharField(required=False)
    metrics = MetricInputSerializer(many=True, required=False)
    framing = FramingSerializer(required=False)
    policy = PolicySerializer(required=False)
    expectations = ExpectationsSerializer(required=False)
    error_costs = ErrorCostsSerializer(required=False)


class MemberSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    role = serializers.CharField(read_only=True)


class ProjectSerializer(serializers.ModelSerializer[Project]):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    metrics = SuccessMetricSerializer(many=True, read_only=True)
    expectations = serializers.SerializerMethodField()
    error_costs = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    health_reason = serializers.SerializerMethodField()
    framing = serializers.SerializerMethodField()
    readiness = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()
    members = MemberSerializer(source="memberships", many=True, read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "business_problem",
            "task_type",
            "stage",
            "health",
            "health_reason",
            "framing",
            "readiness",
            "policy",
            "metrics",
            "expectations",
            "error_costs",
            "members",
            "created_by",
            "created_at",
            "updated_at",
            "url",
        ]

    @extend_schema_field(ExpectationsSerializer)
    def get_expectations(self, project: Project) -> dict[str, Any]:
        return {
            "first_model_by": project.first_model_by,
            "production_by": project.production_by,
            "expected_iterations": project.expected_iterations,
            "checkin_every_days": project.checkin_every_days,
        }

    @extend_schema_field(FramingSerializer)
    def get_framing(self, project: Project) -> dict[str, Any]:
        framing: dict[str, Any] = {field: getattr(project, field) for field in FRAMING_FIELDS}
        framing["suitability"] = project.suitability
        return framing

    @extend_schema_field(PolicySerializer)
    def get_policy(self, project: Project) -> dict[str, Any]:
        return {"promotion_requires_framing_signoff": project.promotion_requires_framing_signoff}

    @extend_schema_field(ReadinessSerializer)
    def get_readiness(self, project: Project) -> dict[str, Any]:
        report = readiness_verdict(project.suitability)
        return {"verdict": report.verdict, "reasons": list(report.reasons)}

    @extend_schema_field(serializers.ChoiceField(choices=Health.choices))
    def get_health(self, project: Project) -> str:
        return self._health(project).status

    def get_health_reason(self, project: Project) -> str:
        return self._health(project).reason

    def _health(self, project: Project) -> HealthReport:
        # Both health fields come from one report, computed once and kept on the instance.
        cached = getattr(project, "_health_report", None)
        if cached is None:
            cached = project_health_report(project=project)
            project._health_report = cached  # type: ignore[attr-defined]
        return cached

    @extend_schema_field(ErrorCostsSerializer)
    def get_error_costs(self, project: Project) -> dict[str, float | None]:
        return {
            "false_positive": project.cost_false_positive,
            "false_negative": project.cost_false_negative,
            "true_positive_value": project.value_true_positive,
        }

    def get_url(self, project: Project) -> str:
        return f"/projects/{project.slug}/"


class CommentSerializer(serializers.ModelSerializer[Comment]):
    author = serializers.CharField(source="author.username", read_only=True)
    iteration = serializers.IntegerField(source="iteration.number", read_only=True, allow_null=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "iteration", "body", "body_html", "created_at"]


class CommentCreateSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(trim_whitespace=True, max_length=10_000)
    iteration = serializers.IntegerField(
        required=False, allow_null=True, help_text="Iteration number, for a comment on it."
    )


class TargetVersionSerializer(serializers.ModelSerializer[TargetVersion]):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    agreed_by = serializers.CharField(source="agreed_by.username", read_only=True, allow_null=True)

    class Meta:
        model = TargetVersion
        fields = ["number", "metrics", "created_by", "created_at", "agreed_by", "agreed_at"]


class MetricObservationSerializer(serializers.ModelSerializer[MetricObservation]):
    """A posted value, judged against the current targets of the metric with the same name.

    The context maps metric names to ``SuccessMetric`` rows under ``metrics``. A value of a
    metric that the framing no longer lists is judged ``undefined``.
    """

    metric = serializers.CharField(source="metric_name", read_only=True)
    posted_by = serializers.CharField(source="posted_by.username", read_only=True)
    verdict = serializers.SerializerMethodField()
    minimum_verdict = serializers.SerializerMethodField()

    class Meta:
        model = MetricObservation
        fields = [
            "id",
            "metric",
            "value",
            "observed_on",
            "note",
            "verdict",
            "minimum_verdict",
            "posted_by",
            "created_at",
        ]

    def _metric(self, observation: MetricObservation) -> SuccessMetric | None:
        metrics: dict[str, SuccessMetric] = self.context.get("metrics", {})
        return metrics.get(observation.metric_name)

    @extend_schema_field(serializers.ChoiceField(choices=Verdict.values))
    def get_verdict(self, observation: MetricObservation) -> str:
        metric = self._metric(observation)
        return metric.verdict(observation.value) if metric is not None else Verdict.UNDEFINED

    @extend_schema_field(serializers.ChoiceField(choices=Verdict.values))
    def get_minimum_verdict(self, observation: MetricObservation) -> str:
        metric = self._metric(observation)
        if metric is None:
            return Verdict.UNDEFINED
        return metric.minimum_verdict(observation.value)


class MetricObservationCreateSerializer(serializers.Serializer[Any]):
    metric = serializers.CharField(
        max_length=64, help_text="Name of a business or operational success metric."
    )
    value = serializers.FloatField(help_text="The measured value, a finite number.")
    observed_on = serializers.DateField(
        help_text="The day the value was measured, today or earlier."
    )
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_LENGTH
    )
