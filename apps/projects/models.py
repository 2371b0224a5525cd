import math

from django.conf import settings
from django.db import models


class Stage(models.TextChoices):
    FRAMING = "framing", "Framing"
    APPROVED = "approved", "Framing approved"
    IN_DEVELOPMENT = "in_development", "In development"
    IN_PRODUCTION = "in_production", "In production"
    RETIRED = "retired", "Retired"
    REJECTED = "rejected", "Rejected"


# Every stage but retired may go to retired, because serving waits for the framing sign-off
# only when the project's policy requires it, and an abandoned project is retired too.
STAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    Stage.FRAMING: frozenset({Stage.APPROVED, Stage.REJECTED, Stage.RETIRED}),
    # Changing the agreed targets sends a signed-off project back to framing for a new sign-off.
    Stage.APPROVED: frozenset({Stage.IN_DEVELOPMENT, Stage.FRAMING, Stage.RETIRED}),
    Stage.IN_DEVELOPMENT: frozenset({Stage.IN_PRODUCTION, Stage.FRAMING, Stage.RETIRED}),
    Stage.IN_PRODUCTION: frozenset({Stage.RETIRED}),
    Stage.REJECTED: frozenset({Stage.FRAMING, Stage.RETIRED}),
    Stage.RETIRED: frozenset(),
}


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"


class Project(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    business_problem = models.TextField(
        help_text="The decision the model supports and why it matters."
    )
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.FRAMING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    decision = models.TextField(blank=True, help_text="The decision the model supports.")
    decision_owner = models.TextField(blank=True, help_text="Who acts on each prediction.")
    current_process = models.TextField(blank=True, help_text="How the decision is made today.")
    decision_frequency = models.CharField(
        max_length=200, blank=True, help_text="How often the decision is made."
    )
    data_available = models.TextField(blank=True, help_text="The data and labels available.")
    non_ml_alternative = models.TextField(
        blank=True, help_text="What would be done without a model."
    )
    suitability = models.JSONField(
        default=dict,
        blank=True,
        help_text="Answers to the ML-suitability checklist: question key to true or false.",
    )

    first_model_by = models.DateField(null=True, blank=True)
    production_by = models.DateField(null=True, blank=True)
    expected_iterations = models.PositiveIntegerField(null=True, blank=True)

    promotion_requires_framing_signoff = models.BooleanField(
        default=False,
        help_text="Refuse promotion requests until a decision maker has signed off the framing.",
    )

    cost_false_positive = models.FloatField(
        null=True, blank=True, help_text="Cost of one false alarm, in the project's unit."
    )
    cost_false_negative = models.FloatField(
        null=True, blank=True, help_text="Cost of one missed positive, in the project's unit."
    )
    value_true_positive = models.FloatField(
        null=True,
        blank=True,
        help_text="Value gained by one caught positive, in the project's unit; optional.",
    )
    checkin_every_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How often, in days, the team shows stakeholders where the project stands.",
    )

    # Set by apps.accounts.access for the requesting user; not stored.
    user_roles: list[str]
    user_actions: frozenset[str]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MetricKind(models.TextChoices):
    BUSINESS = "business", "Business"
    MODEL = "model", "Model"
    OPERATIONAL = "operational", "Operational"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class Verdict(models.TextChoices):
    MET = "met", "Met"
    MISSED = "missed", "Missed"
    UNDEFINED = "undefined", "Undefined"


def verdict_for(*, value: float | None, threshold: float | None, direction: str) -> str:
    """Judge ``value`` against ``threshold``. A missing or non-finite value never counts as met."""
    if threshold is None or value is None or not math.isfinite(value):
        return Verdict.UNDEFINED
    if direction == Direction.HIGHER:
        return Verdict.MET if value >= threshold else Verdict.MISSED
    return Verdict.MET if value <= threshold else Verdict.MISSED


class SuccessMetric(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=MetricKind.choices, default=MetricKind.MODEL)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    target = models.FloatField()
    minimum = models.FloatField(null=True, blank=True)
    stretch = models.FloatField(null=True, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="metric_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_direction_display()}, target {self.target})"

    def verdict(self, value: float | None) -> str:
        return verdict_for(value=value, threshold=self.target, direction=self.direction)

    def minimum_verdict(self, value: float | None) -> str:
        return verdict_for(value=value, threshold=self.minimum, direction=self.direction)


class Comment(models.Model):
    """A discussion post on a project, or on one of its iterations when ``iteration`` is set."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comments")
    iteration = models.ForeignKey(
        "iterations.Iteration",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="comments",
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(help_text="Markdown as written by the author.")
    body_html = models.TextField(help_text="Sanitised HTML rendered from the Markdown body.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} by {self.author_id}"


class TargetVersion(models.Model):
    """One agreed version of a project's success metrics and targets.

    Every change to the metrics writes a new version. A framing sign-off records who agreed
    to which version, so a later edit visibly reopens the agreement.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="target_versions")
    number = models.PositiveIntegerField()
    metrics = models.JSONField(help_text="Snapshot of the success metrics in this version.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    agreed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="target_version_unique"),
        ]

    def __str__(self) -> str:
        return f"targets v{self.number} of {self.project_id}"


class MetricObservation(models.Model):
    """A value of a business or operational metric, measured outside training and posted later."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="observations")
    # Editing the metrics deletes and recreates every SuccessMetric row, so CASCADE would erase
    # the history at each edit. The name is the lasting key. ``metric`` points at the row the
    # value was posted against and becomes null once an edit replaces that row.
    metric = models.ForeignKey(
        SuccessMetric,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="observations",
    )
    metric_name = models.CharField(max_length=64)
    value = models.FloatField()
    observed_on = models.DateField(help_text="The day the value was measured.")
    note = models.TextField(blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-observed_on", "-id"]
        indexes = [
            models.Index(
                fields=["project", "metric_name", "-observed_on"],
                name="observation_metric_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_name}={self.value} on {self.observed_on}"
