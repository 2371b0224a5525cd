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
        default=dict, blank=True, help_text="Result of replaying held-out rows before going live."
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
