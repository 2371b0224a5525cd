"""Fail running iterations whose worker vanished.

A worker killed with SIGKILL cannot mark its iteration failed, and a redelivered task does
not touch a row that is already ``running``. While a run is alive its heartbeat thread
stamps ``heartbeat_at``; the periodic reaper fails runs whose stamp has gone stale.
"""

import datetime
import logging

from django.conf import settings
from django.utils import timezone

from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.services import iteration_fail

logger = logging.getLogger(__name__)


def iterations_reap(*, now: datetime.datetime | None = None) -> list[int]:
    """Fail running iterations whose heartbeat is older than the configured limit.

    Returns the ids of the iterations it failed.
    """
    now = now or timezone.now()
    stale_after = datetime.timedelta(seconds=settings.ITERATION_STALE_AFTER_SECONDS)
    stale = list(
        Iteration.objects.filter(
            status=IterationStatus.RUNNING, heartbeat_at__lt=now - stale_after
        ).values_list("pk", "heartbeat_at")
    )
    reaped: list[int] = []
    for iteration_id, last_beat in stale:
        reason = (
            "The worker running this iteration stopped responding: no heartbeat since "
            f"{last_beat:%Y-%m-%d %H:%M:%S} UTC. Start it again or retry it."
        )
        if iteration_fail(iteration_id=iteration_id, reason=reason):
            logger.warning("reaped iteration id %s: last heartbeat %s", iteration_id, last_beat)
            reaped.append(iteration_id)
    return reaped
