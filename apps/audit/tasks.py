import logging

from celery import shared_task

from apps.audit.services import notification_digest_send

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=600)
def send_notification_digests() -> int:
    """Email the daily digest to every user who chose it. Run once a day by Celery beat."""
    sent = notification_digest_send()
    logger.info("notification digest task sent %s digests", sent)
    return sent
