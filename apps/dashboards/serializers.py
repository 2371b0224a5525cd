"""Response shapes of the dashboard endpoints, for the OpenAPI schema and for rendering.

Changes are percentages, positive when the value moved in the metric's better direction;
undefined metric values and changes are null, never zero.
"""

from typing import Any

from rest_framework import serializers


class MetricSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    direction = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    target = serializers.FloatField()
    minimum = serializers.FloatField(allow_null=True)
    stretch = serializers.FloatField(allow_null=True)
    baseline = serializers.FloatField(allow_null=True)


class ScorecardCellSerializer(serializers.Serializer[Any]):
    metric = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    verdict = serializers.ChoiceField(choices=["met", "missed", "undefined"])
    minimum_verdict = serializers.ChoiceField(choices=["met", "missed", "undefined"])
    change_from_previous = serializers.FloatField(allow_null=True)
    change_from_production = serializers.FloatField(allow_null=True)


class ScorecardRowSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    status = serializers.CharField()
    recipe = serializers.CharField()
    dataset = serializers.CharField()
    dataset_id = serializers.IntegerField()
    author = serializers.CharField()
    is_baseline = serializers.BooleanField()
    in_production = serializers.BooleanField()
    threshold = serializers.FloatField(allow_null=True)
    expected_cost = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    cells = ScorecardCellSerializer(many=True)


class HealthSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["on_track", "at_risk", "off_track"])
    reasons = serializers.ListField(child=serializers.CharField())


class NextDateSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]
    date = serializers.DateField()
    days = serializers.IntegerField(help_text="Days left; negative when the date has passed.")


class SummarySerializer(serializers.Serializer[Any]):
    best_iteration = serializers.IntegerField(allow_null=True)
    metric_count = serializers.IntegerField()
    minimums_met = serializers.IntegerField()
    targets_met = serializers.IntegerField()
    production_iteration = serializers.IntegerField(allow_null=True)
    production_model_version = serializers.CharField(allow_null=True)
    health = HealthSerializer()
    next_date = NextDateSerializer(allow_null=True)
    iterations_used = serializers.IntegerField()
    iteration_budget = serializers.IntegerField(allow_null=True)


class ScorecardSerializer(serializers.Serializer[Any]):
    summary = SummarySerializer()
    metrics = MetricSerializer(many=True)
    iterations = ScorecardRowSerializer(many=True)


class SpecDifferenceSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    values = serializers.ListField(child=serializers.JSONField(allow_null=True))


class MetricDeltaSerializer(serializers.Serializer[Any]):
    metric = serializers.CharField()
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))
    changes = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="Change from the first iteration in percent; null for the first.",
    )
    verdicts = serializers.ListField(child=serializers.CharField())


class ComparedIterationSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    recipe = serializers.CharField()
    status = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    expected_cost = serializers.FloatField(allow_null=True)
    has_evaluation = serializers.BooleanField()


class ComparisonSerializer(serializers.Serializer[Any]):
    iterations = ComparedIterationSerializer(many=True)
    spec_differences = SpecDifferenceSerializer(many=True)
    metric_deltas = MetricDeltaSerializer(many=True)
    evaluation = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Each iteration's holdout curves, keyed by iteration number.",
    )


class MilestoneSerializer(serializers.Serializer[Any]):
    expected_days = serializers.IntegerField(allow_null=True)
    actual_days = serializers.IntegerField()
    reached = serializers.BooleanField()
    late = serializers.BooleanField()


class PortfolioProjectSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField()
    name = serializers.CharField()
    stage = serializers.CharField()
    health = HealthSerializer()
    best_iteration = serializers.IntegerField(allow_null=True)
    meets_minimums = serializers.BooleanField(allow_null=True)
    iteration_count = serializers.IntegerField()
    last_iteration_at = serializers.DateTimeField(allow_null=True)
    days_since_activity = serializers.IntegerField()
    stalled = serializers.BooleanField()
    production_iteration = serializers.IntegerField(allow_null=True)
    serving = serializers.BooleanField(help_text="A version of the project is live.")
    serving_without_signoff = serializers.BooleanField(
        help_text="Live while its framing is not signed off; promotion does not wait for the "
        "sign-off unless the project's policy says so."
    )
    first_model = MilestoneSerializer()
    production = MilestoneSerializer()


class CountSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class PortfolioSerializer(serializers.Serializer[Any]):
    stalled_after_days = serializers.IntegerField()
    funnel = CountSerializer(many=True)
    stages = CountSerializer(many=True)
    health = CountSerializer(many=True)
    judged_count = serializers.IntegerField()
    meeting_minimums_count = serializers.IntegerField()
    projects = PortfolioProjectSerializer(many=True)


class PortfolioQuerySerializer(serializers.Serializer[Any]):
    stalled_after_days = serializers.IntegerField(min_value=1, max_value=3650, default=30)


class ScorecardQuerySerializer(serializers.Serializer[Any]):
    dataset = serializers.IntegerField(required=False, min_value=1)
    recipe = serializers.CharField(required=False, max_length=64)
    author = serializers.CharField(required=False, max_length=150)
