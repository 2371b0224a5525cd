from django.conf import settings
from django.db import models


class Gate(models.TextChoices):
    FRAMING = "framing", "Framing sign-off"
    PROMOTION = "promotion", "Production promotion"
    RETIREMENT = "retirement", "Retirement"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    SUPERSEDED = "superseded", "Superseded"


REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.APPROVED,
            RequestStatus.REJECTED,
            RequestStatus.WITHDRAWN,
            RequestStatus.SUPERSEDED,
        }
    ),
    RequestStatus.APPROVED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.WITHDRAWN: frozenset(),
    RequestStatus.SUPERSEDED: frozenset(),
}


class ApprovalRequest(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="approval_requests"
    )
    gate = models.CharField(max_length=16, choices=Gate.choices)
    iteration = models.ForeignKey(
        "iterations.Iteration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approval_requests",
    )
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retirement_requests",
        help_text="The deployment a retirement request takes down; empty to retire the project.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    canary_share = models.FloatField(
        null=True,
        blank=True,
        help_text="Promotion only: on approval, the iteration serves this fraction of requests "
        "(above 0, below 1) as a canary next to the live version instead of replacing it.",
    )
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["iteration"],
                condition=models.Q(status="pending", gate="promotion"),
                name="approval_one_pending_promotion_per_iteration",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status="pending", gate="framing"),
                name="approval_one_pending_framing_per_project",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status="pending", gate="retirement"),
                name="approval_one_pending_retirement_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_gate_display()} request {self.pk} ({self.status})"


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    # Leaves the request pending: the requester replies by withdrawing it or by opening a
    # new request that supersedes it. It withdraws its author's earlier approval, because only
    # each decision maker's latest verdict counts.
    REQUEST_CHANGES = "request_changes", "Request changes"


class Decision(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text='The automatic checklist when the decision was made: [{"key", "label", '
        '"status", "detail"}], status one of passed, failed, not_applicable.',
    )
    overridden_checks = models.JSONField(
        default=list, blank=True, help_text="Keys of the failing checks this approval overrode."
    )
    override_justification = models.TextField(
        blank=True, help_text="Why the decision maker approved despite failing checks."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A decision maker may ask for changes several times, but approves only once,
            # so their approval counts once towards the policy's required number.
            models.UniqueConstraint(
                fields=["request", "decided_by"],
                condition=models.Q(verdict="approve"),
                name="decision_one_approval_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on request {self.request_id}"


DEFAULT_REGRESSION_TOLERANCE = 0.01


class ApprovalPolicy(models.Model):
    """The decision rules of one gate of one project; a project without a row uses the defaults."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="approval_policies"
    )
    gate = models.CharField(max_length=16, choices=Gate.choices)
    approvals_required = models.PositiveSmallIntegerField(
        default=1, help_text="How many different decision makers must approve, 1 to 5."
    )
    approvers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Decision makers who may approve; empty lets every decision maker approve.",
    )
    check_minimums = models.BooleanField(
        default=True, help_text="Block promotion unless every model metric meets its minimum."
    )
    check_regression = models.BooleanField(
        default=True,
        help_text="Block promotion when a model metric is worse than the live version's "
        "by more than the regression tolerance.",
    )
    regression_tolerance = models.FloatField(
        default=DEFAULT_REGRESSION_TOLERANCE,
        help_text="Largest accepted drop against the live version, in each metric's own unit.",
    )
    check_baseline = models.BooleanField(
        default=True,
        help_text="Block promotion unless the iteration beats the non-ML baselines on the "
        "project's first model metric.",
    )
    require_reproduced = models.BooleanField(
        default=False,
        help_text="Block promotion until a rerun of the iteration reproduced its metrics.",
    )
    supersede_pending = models.BooleanField(
        default=True,
        help_text="A new request for the project replaces its older pending request of this gate.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "gate"]
        constraints = [
            models.UniqueConstraint(fields=["project", "gate"], name="approval_policy_per_gate"),
        ]

    def __str__(self) -> str:
        return f"{self.gate} policy of project {self.project_id}"
