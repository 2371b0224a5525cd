import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

from apps.audit.models import AuditEvent, Notification

logger = logging.getLogger(__name__)


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model,
    project: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    message: str = "",
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction that makes the change."""
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    event = AuditEvent.objects.create(
        actor_id=actor_id,
        project_id=project.pk if project is not None else None,
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk),
        before=before or {},
        after=after or {},
        message=message,
    )
    logger.info(
        "audit %s %s:%s actor=%s project=%s",
        action,
        event.object_type,
        event.object_id,
        actor_id,
        event.project_id,
    )
    return event


def notification_send(
    *,
    user_id: int,
    kind: str,
    message: str,
    project: models.Model | None = None,
    url: str = "",
) -> Notification:
    """Store an in-app notification for one user. Call it inside the triggering transaction."""
    notification = Notification.objects.create(
        user_id=user_id,
        project_id=project.pk if project is not None else None,
        kind=kind,
        message=message[:500],
        url=url,
    )
    logger.info("notification %s for user %s: %s", kind, user_id, notification.pk)
    return notification


def notification_mark_read(*, user_id: int, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
