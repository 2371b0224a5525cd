"""The heartbeat of a running iteration, which the reaper in ``reaper.py`` watches."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.iterations.models import Iteration, IterationStatus

logger = logging.getLogger(__name__)


def _beat(iteration_id: int, stop: threading.Event, interval: float) -> None:
    try:
        while not stop.wait(interval):
            Iteration.objects.filter(pk=iteration_id, status=IterationStatus.RUNNING).update(
                heartbeat_at=timezone.now()
            )
    except Exception:
        # A missed beat is not fatal: the next one, or the reaper's margin, covers it.
        logger.exception("heartbeat for iteration id %s stopped", iteration_id)
    finally:
        connection.close()


@contextmanager
def heartbeat(iteration_id: int) -> Iterator[None]:
    """Stamp the iteration's ``heartbeat_at`` every few seconds while the block runs."""
    stop = threading.Event()
    beater = threading.Thread(
        target=_beat,
        args=(iteration_id, stop, settings.ITERATION_HEARTBEAT_SECONDS),
        name=f"heartbeat-{iteration_id}",
        daemon=True,
    )
    beater.start()
    try:
        yield
    finally:
        stop.set()
        # The thread may be waiting on a database lock; it is a daemon and ends on its own.
        beater.join(timeout=1)
