"""The stage a running iteration is in, stored on the row so that its page can show it."""

import logging
import time
from typing import Any

from django.utils import timezone

from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.training import (
    STAGE_EVALUATING,
    STAGE_FITTING,
    STAGE_LOADING,
    CancelCheck,
    StageCallback,
)

logger = logging.getLogger(__name__)

STAGE_LOGGING = "logging"
STAGE_DONE = "done"
"""The stage of a succeeded iteration. Failed and cancelled ones keep the stage they ended in."""
PROGRESS_STAGES = (STAGE_LOADING, STAGE_FITTING, STAGE_EVALUATING, STAGE_LOGGING)
PROGRESS_LOG_MAX_LINES = 20
CANCEL_CHECK_INTERVAL_S = 1.0
"""The minimum time, in seconds, between two status reads of one cancel check."""


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


def progress_done(progress: Any, *, line: str) -> dict[str, Any]:
    """Return ``progress`` moved to the ``done`` stage, with ``line`` appended to its log."""
    now = timezone.now()
    previous = progress if isinstance(progress, dict) else {}
    log = previous.get("log")
    lines: list[str] = list(log) if isinstance(log, list) else []
    return {
        **previous,
        "stage": STAGE_DONE,
        "started_at": now.isoformat(),
        "log": [*lines, f"{now:%H:%M:%S} {line}"][-PROGRESS_LOG_MAX_LINES:],
    }


def cancel_checker(
    iteration_id: int, *, interval_s: float = CANCEL_CHECK_INTERVAL_S
) -> CancelCheck:
    """Return a check that is True once the iteration is no longer ``running``.

    Cancelling, or the reaper failing the run, changes the status while the worker computes.
    The check reads the status at most once per ``interval_s`` seconds, returning the last
    result in between, so calling it between every permutation repeat stays cheap. Once it
    returns True it returns True on every later call.
    """
    state = {"checked_at": -float("inf"), "stopped": False}

    def check() -> bool:
        if state["stopped"]:
            return True
        now = time.monotonic()
        if now - state["checked_at"] < interval_s:
            return False
        state["checked_at"] = now
        status = Iteration.objects.filter(pk=iteration_id).values_list("status", flat=True).first()
        if status != IterationStatus.RUNNING:
            logger.info("iteration id %s is %s; stopping its training", iteration_id, status)
            state["stopped"] = True
        return bool(state["stopped"])

    return check


def progress_percent(progress: dict[str, Any]) -> int:
    """Return how far through the stages ``progress`` is, counting its stage as half done."""
    stage = progress.get("stage") if isinstance(progress, dict) else None
    if stage == STAGE_DONE:
        return 100
    if stage not in PROGRESS_STAGES:
        return 0
    position = PROGRESS_STAGES.index(stage)
    return int((position + 0.5) * 100 / len(PROGRESS_STAGES))
