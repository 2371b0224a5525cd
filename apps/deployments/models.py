from django.conf import settings
from django.db import models


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DEPLOYING = "deploying", "Deploying"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


DEPLOYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    DeploymentStatus.PENDING: frozenset({DeploymentStatus.DEPLOYING, DeploymentStatus.FAILED}),
    DeploymentStatus.DEPLOYING: frozenset({DeploymentStatus.LIVE, DeploymentStatus.FAILED}),
    DeploymentStatus.LIVE: frozenset({DeploymentStatus.RETIRED}),
    DeploymentStatus.RETIRED: frozenset(),
    DeploymentStatus.FAILED: frozenset(),
}

PRODUCTION = "production"


class Deployment(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="deployments"
    )
    iteration = models.ForeignKey(
        "iterations.Iteration", on_delete=models.PROTECT, related_name="deployments"
    )
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deployments",
    )
    environment = models.CharField(max_length=32, default=PRODUCTION)
    status = models.CharField(
        max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING
    )
    status_reason = models.TextField(blank=True)
    model_uri = models.CharField(max_length=500, blank=True)
    model_version = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deploying_since = models.DateTimeField(
        null=True, blank=True, help_text="When a deploy task claimed this deployment."
    )
    live_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    smoke_test = models.JSONField(
        default=dict,
        blank=True,
        help_text="Result of the deploy checks: signature, held-out replay and measured latency.",
    )
    previous_live = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The deployment that was live before this one; a rollback restores it.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment"],
                condition=models.Q(status="live"),
                name="deployment_one_live_per_environment",
            ),
        ]

    def __str__(self) -> str:
        return f"deployment {self.pk} of iteration {self.iteration_id} ({self.status})"


class RolloutMode(models.TextChoices):
    CANARY = "canary", "Canary"
    SHADOW = "shadow", "Shadow"


class RolloutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


ROLLOUT_TRANSITIONS: dict[str, frozenset[str]] = {
    RolloutStatus.PENDING: frozenset(
        {RolloutStatus.ACTIVE, RolloutStatus.FAILED, RolloutStatus.STOPPED}
    ),
    RolloutStatus.ACTIVE: frozenset({RolloutStatus.STOPPED, RolloutStatus.COMPLETED}),
    RolloutStatus.STOPPED: frozenset(),
    RolloutStatus.COMPLETED: frozenset(),
    RolloutStatus.FAILED: frozenset(),
}


class Rollout(models.Model):
    """A candidate version next to the live one: a canary serves a share of the requests,
    a shadow scores every request without changing the response."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=32, default=PRODUCTION)
    iteration = models.ForeignKey(
        "iterations.Iteration", on_delete=models.PROTECT, related_name="rollouts"
    )
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rollouts",
        help_text="The approved promotion that allows a canary to serve this iteration.",
    )
    mode = models.CharField(max_length=8, choices=RolloutMode.choices)
    share = models.FloatField(
        default=0.0, help_text="Canary only: fraction of requests (0 to 1) the candidate serves."
    )
    status = models.CharField(
        max_length=16, choices=RolloutStatus.choices, default=RolloutStatus.PENDING
    )
    status_reason = models.TextField(blank=True)
    model_uri = models.CharField(max_length=500)
    model_version = models.CharField(max_length=32)
    smoke_test = models.JSONField(default=dict, blank=True)
    shadow_failures = models.PositiveIntegerField(
        default=0, help_text="Shadow only: rows the candidate failed to score while active."
    )
    shadow_failure_reason = models.TextField(
        blank=True, help_text="Shadow only: why the latest failed rows could not be scored."
    )
    task_id = models.CharField(max_length=64, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    active_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment"],
                condition=models.Q(status__in=["pending", "active"]),
                name="rollout_one_open_per_environment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mode} rollout {self.pk} of iteration {self.iteration_id} ({self.status})"


class PredictionVariant(models.TextChoices):
    LIVE = "live", "Live"
    CANARY = "canary", "Canary"
    SHADOW = "shadow", "Shadow"


class PredictionLog(models.Model):
    """One scored row. Served rows and the shadow's row for the same request share
    ``prediction_id``; outcomes refer to a served prediction by that id."""

    prediction_id = models.UUIDField(db_index=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    rollout = models.ForeignKey(
        Rollout, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    variant = models.CharField(max_length=8, choices=PredictionVariant.choices)
    model_version = models.CharField(max_length=32)
    prediction = models.JSONField()
    probability = models.JSONField(null=True, blank=True)
    inputs = models.JSONField(
        null=True, blank=True, help_text="The row as sent, only when input logging is on."
    )
    inputs_hash = models.CharField(max_length=64, help_text="sha256 of the row as canonical JSON.")
    latency_ms = models.FloatField(help_text="Scoring time of the whole request, in ms.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prediction_id", "variant"], name="prediction_log_one_row_per_variant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant} prediction {self.prediction_id}"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    BatchStatus.QUEUED: frozenset({BatchStatus.RUNNING, BatchStatus.FAILED}),
    BatchStatus.RUNNING: frozenset({BatchStatus.SUCCEEDED, BatchStatus.FAILED}),
    BatchStatus.SUCCEEDED: frozenset(),
    BatchStatus.FAILED: frozenset(),
}


class BatchJob(models.Model):
    """A CSV scored by a worker with the deployment that was live when it was submitted."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="batches")
    input_file = models.FileField(upload_to="batches/input/")
    output_file = models.FileField(upload_to="batches/output/", blank=True)
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.QUEUED
    )
    status_reason = models.TextField(blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"
