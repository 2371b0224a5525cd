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
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
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
        ]

    def __str__(self) -> str:
        return f"{self.get_gate_display()} request {self.pk} ({self.status})"


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Decision(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "decided_by"], name="decision_one_per_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on request {self.request_id}"
