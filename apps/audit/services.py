import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from apps.audit.models import AuditEvent

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
