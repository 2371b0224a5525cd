"""The stage a running iteration is in, stored on the row so that its page can show it."""

import logging
from typing import Any

from django.utils import timezone

from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.training import (
    STAGE_EVALUATING,
    STAGE_FITTING,
    STAGE_LOADING,
    StageCallback,
)

logger = logging.getLogger(__name__)

STAGE_LOGGING = "logging"
PROGRESS_STAGES = (STAGE_LOADING, STAGE_FITTING, STAGE_EVALUATING, STAGE_LOGGING)
PROGRESS_LOG_MAX_LINES = 20


def progress_recorder(iteration_id: int) -> StageCallback:
    """Return a callback that stores each stage on the iteration with one UPDATE per stage.

    The update only touches a ``running`` row, so a run that was cancelled or reaped while
    it trained does not write over the state that ended it.
    """
    progress: dict[str, Any] = {"stage": "", "started_at": "", "log": []}

    def record(stage: str, line: str) -> None:
        now = timezone.now()
        progress["stage"] = stage
        progress["started_at"] = now.isoformat()
        progress["log"] = [*progress["log"], f"{now:%H:%M:%S} {line}"][-PROGRESS_LOG_MAX_LINES:]
        Iteration.objects.filter(pk=iteration_id, status=IterationStatus.RUNNING).update(
            progress=dict(progress)
        )
        logger.info("iteration id %s entered stage %s", iteration_id, stage)

    return record


def progress_percent(progress: dict[str, Any]) -> int:
    """Return how far through the stages ``progress`` is, counting its stage as half done."""
    stage = progress.get("stage") if isinstance(progress, dict) else None
    if stage not in PROGRESS_STAGES:
        return 0
    position = PROGRESS_STAGES.index(stage)
    return int((position + 0.5) * 100 / len(PROGRESS_STAGES))
