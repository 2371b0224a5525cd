import datetime
import logging
from smtplib import SMTPException
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent, EmailDelivery, Notification, NotificationPreference
from apps.core.errors import InvalidInput

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
    email: bool = False,
) -> Notification:
    """Store an in-app notification for one user. Call it inside the triggering transaction.

    With ``email``, the notification also goes out by email as the user's preference sets:
    right after the transaction commits, or in the next daily digest.
    """
    notification = Notification.objects.create(
        user_id=user_id,
        project_id=project.pk if project is not None else None,
        kind=kind,
        message=message[:500],
        url=url,
        by_email=email,
    )
    logger.info("notification %s for user %s: %s", kind, user_id, notification.pk)
    if email:
        delivery = email_delivery_for(user_id=user_id)
        if delivery == EmailDelivery.IMMEDIATE:
            notification_id = notification.pk
            transaction.on_commit(lambda: notification_email_send(notification_id=notification_id))
        elif delivery == EmailDelivery.NONE:
            # Marked as handled so that a later switch to the digest does not mail old news.
            Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
    return notification


def email_delivery_for(*, user_id: int) -> str:
    preference = NotificationPreference.objects.filter(user_id=user_id).first()
    return preference.email_delivery if preference is not None else EmailDelivery.IMMEDIATE


def _absolute(url: str) -> str:
    base = str(getattr(settings, "PORTAL_BASE_URL", "")).rstrip("/")
    return f"{base}{url}" if url.startswith("/") else url


def notification_email_send(*, notification_id: int) -> bool:
    """Email one notification unless it went out already; return whether this call sent it.

    The conditional update claims the row, so a notification is mailed at most once even
    if two callers race. A failed send releases the claim and is logged, not raised,
    because the in-app notification already reached the user.
    """
    claimed = Notification.objects.filter(
        pk=notification_id, by_email=True, emailed_at__isnull=True
    ).update(emailed_at=timezone.now())
    if not claimed:
        return False
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    if not notification.user.email:
        return False
    body = notification.message
    if notification.url:
        body += f"\n\nOpen it: {_absolute(notification.url)}"
    try:
        send_mail(
            subject=f"[ML Portal] {notification.message[:80]}",
            message=body,
            from_email=None,
            recipient_list=[notification.user.email],
        )
    except (OSError, SMTPException):
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        logger.exception(
            "email for notification %s to user %s failed", notification_id, notification.user_id
        )
        return False
    logger.info("emailed notification %s to user %s", notification_id, notification.user_id)
    return True


def notification_digest_send(*, now: datetime.datetime | None = None) -> int:
    """Email each digest subscriber their notifications not yet emailed, in one message each.

    Returns the number of digests sent. Each user's notifications are claimed before the
    send, so a digest task delivered twice does not mail the same notification twice.
    """
    now = now or timezone.now()
    user_ids = list(
        NotificationPreference.objects.filter(email_delivery=EmailDelivery.DAILY_DIGEST)
        .values_list("user_id", flat=True)
        .order_by("user_id")
    )
    sent = 0
    for user_id in user_ids:
        with transaction.atomic():
            pending = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(
                    user_id=user_id, by_email=True, emailed_at__isnull=True, created_at__lte=now
                )
                .select_related("user")
                .order_by("created_at", "id")
            )
            if not pending:
                continue
            Notification.objects.filter(pk__in=[item.pk for item in pending]).update(emailed_at=now)
        user = pending[0].user
        if not user.email:
            continue
        lines = [
            f"- {item.created_at:%Y-%m-%d %H:%M} {item.message}"
            + (f" ({_absolute(item.url)})" if item.url else "")
            for item in pending
        ]
        try:
            send_mail(
                subject=f"[ML Portal] Daily digest: {len(pending)} notification"
                + ("s" if len(pending) != 1 else ""),
                message="\n".join(lines),
                from_email=None,
                recipient_list=[user.email],
            )
        except (OSError, SMTPException):
            Notification.objects.filter(pk__in=[item.pk for item in pending]).update(
                emailed_at=None
            )
            logger.exception("digest email to user %s failed", user_id)
            continue
        sent += 1
        logger.info("digest of %s notifications emailed to user %s", len(pending), user_id)
    return sent


def notification_preference_set(
    *, user: AbstractBaseUser, email_delivery: str
) -> NotificationPreference:
    """Choose how ``user`` gets notifications by email; the change is audited."""
    if email_delivery not in EmailDelivery.values:
        raise InvalidInput(
            f"Unknown email delivery '{email_delivery}'. Use one of: "
            f"{', '.join(EmailDelivery.values)}.",
            field="email_delivery",
        )
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(
            user_id=user.pk
        )
        before = preference.email_delivery
        preference.email_delivery = email_delivery
        preference.save()
        audit_record(
            actor=user,
            action="notification_preference.updated",
            target=preference,
            before={"email_delivery": before},
            after={"email_delivery": email_delivery},
        )
    return preference


def notification_mark_read(*, user_id: int, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
