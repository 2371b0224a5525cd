from django.conf import settings
from django.db import models


class IterationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ITERATION_TRANSITIONS: dict[str, frozenset[str]] = {
    IterationStatus.QUEUED: frozenset(
        {IterationStatus.RUNNING, IterationStatus.CANCELLED, IterationStatus.FAILED}
    ),
    IterationStatus.RUNNING: frozenset(
        {IterationStatus.SUCCEEDED, IterationStatus.FAILED, IterationStatus.CANCELLED}
    ),
    IterationStatus.SUCCEEDED: frozenset(),
    IterationStatus.FAILED: frozenset(),
    IterationStatus.CANCELLED: frozenset(),
}


class IterationSource(models.TextChoices):
    TRAINED = "trained", "Trained by the portal"
    LINKED = "linked", "Linked from an MLflow run"


FINISHED_STATUSES = frozenset(
    {IterationStatus.SUCCEEDED, IterationStatus.FAILED, IterationStatus.CANCELLED}
)


class Iteration(models.Model):
    """One model version: a training spec, the run that executed it and what it measured."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="iterations"
    )
    number = models.PositiveIntegerField(help_text="1, 2, 3… within the project.")
    dataset = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="iterations"
    )
    recipe = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    test_size = models.FloatField(default=0.2, help_text="Share of rows held out for evaluation.")
    is_baseline = models.BooleanField(default=False)
    source = models.CharField(
        max_length=16,
        choices=IterationSource.choices,
        default=IterationSource.TRAINED,
        help_text="Trained by a portal worker from its spec, or linked from an MLflow run "
        "trained elsewhere and evaluated by the portal on the dataset's holdout.",
    )
    external_run = models.JSONField(
        default=dict,
        blank=True,
        help_text='For a linked iteration, what the MLflow run logged itself: {"run_name", '
        '"metrics", "params", "model_uri", "flavors"}; empty for trained iterations.',
    )

    status = models.CharField(
        max_length=16, choices=IterationStatus.choices, default=IterationStatus.QUEUED
    )
    status_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    progress = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"stage": "loading", "fitting", "evaluating" or "logging", "started_at": '
        'when that stage began, "log": ["HH:MM:SS line", ...]}; empty until training starts.',
    )

    feature_columns = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Metric name to value; null where undefined."
    )
    threshold = models.FloatField(null=True, blank=True)
    expected_cost = models.FloatField(null=True, blank=True)
    evaluation = models.JSONField(
        default=dict,
        blank=True,
        help_text="Holdout curves and diagnostics for charts, each list at most 200 points: "
        '"roc" {"fpr", "tpr", "auc"}, "pr" {"recall", "precision", "average_precision"}, '
        '"calibration" {"mean_predicted", "fraction_positive"}, "confusion" {"labels", '
        '"matrix" [[tn, fp], [fn, tp]], "threshold"}, "cost_curve" {"thresholds", '
        '"expected_cost"}, "feature_importance" [{"feature", "importance"}] (top 30, largest '
        'first), "residuals" {"predicted", "residual"} (regressors). Keys absent where they '
        "do not apply.",
    )
    holdout_sample = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"rows": [...], "predictions": [...]} from the holdout, replayed on deploy.',
    )
    environment = models.JSONField(default=dict, blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=255, blank=True)
    model_version = models.CharField(max_length=32, blank=True)

    reproduction_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reproductions",
        help_text="The iteration whose spec this one reruns to check that it reproduces.",
    )
    reproduction = models.JSONField(
        default=dict,
        blank=True,
        help_text='Outcome of the latest rerun: {"status", "iteration", "differences", '
        '"checked_at"}; empty until a reproduction finishes.',
    )

    class Meta:
        ordering = ["project_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="iteration_unique_number"),
        ]

    def __str__(self) -> str:
        return f"iteration {self.number}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
