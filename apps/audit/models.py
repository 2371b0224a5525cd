from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AuditLogImmutable(Exception):
    """Raised on any attempt to change or delete a recorded audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable("Audit events are append-only and cannot be updated.")

    def delete(self) -> NoReturn:
        raise AuditLogImmutable("Audit events are append-only and cannot be deleted.")


class AuditEvent(models.Model):
    """One state change in the portal: who did what to which object, before and after."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for changes made by the system, such as a worker finishing a run.",
    )
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64, help_text="Dotted name, such as iteration.queued.")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AuditLogImmutable("Audit events are append-only and cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable("Audit events are append-only and cannot be deleted.")


class Notification(models.Model):
    """An in-app message to one user, such as a mention or a decision on their request."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(max_length=32, help_text="Such as mention or promotion.decided.")
    message = models.CharField(max_length=500)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    by_email = models.BooleanField(
        default=False, help_text="Whether the notification also goes out by email."
    )
    emailed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the notification went out by email, alone or in a digest; empty until then.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class EmailDelivery(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately, one email per notification"
    DAILY_DIGEST = "daily_digest", "Once a day, in one digest email"
    NONE = "none", "No email, in-app only"


class NotificationPreference(models.Model):
    """A user's choice of email delivery for notifications; without a row, email is immediate."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_delivery = models.CharField(
        max_length=16, choices=EmailDelivery.choices, default=EmailDelivery.IMMEDIATE
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.email_delivery} for {self.user_id}"
