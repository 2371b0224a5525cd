"""Buffered prediction logging and shadow scoring, off the request path.

A request only appends its scores to an in-process buffer. The log rows and their input
hashes are built when the buffer is written, so that work stays off the request path. A daemon
thread per serving process (started on first use when ``PREDICTION_LOG_BACKGROUND`` is on)
scores queued shadow requests and writes the buffer with one ``bulk_create`` every
``PREDICTION_LOG_FLUSH_SECONDS``. The buffer contains at most ``PREDICTION_LOG_BUFFER_MAX``
rows. Past that, new rows are dropped and counted, so requests do not slow down.

NOTE: rows still buffered when a process is killed (SIGKILL, out of memory) are lost; a
graceful stop flushes them from an ``atexit`` hook.
"""

import atexit
import hashlib
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from apps.deployments.models import PredictionLog, PredictionVariant

if TYPE_CHECKING:
    from apps.deployments.serving import Routing, ServedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _ServedBatch:
    """One request's served predictions, expanded into log rows at flush time."""

    project_id: int
    deployment_id: int | None
    rollout_id: int | None
    variant: str
    model_version: str
    instances: list[dict[str, Any]]
    prediction_ids: list[str]
    predictions: list[Any]
    probabilities: list[Any] | None
    latency_ms: float
    keep_inputs: bool
    created_at: Any

    def rows(self) -> list[PredictionLog]:
        return [
            PredictionLog(
                prediction_id=prediction_id,
                project_id=self.project_id,
                deployment_id=self.deployment_id,
                rollout_id=self.rollout_id,
                variant=self.variant,
                model_version=self.model_version,
                prediction=prediction,
                probability=self.probabilities[index] if self.probabilities is not None else None,
                inputs=self.instances[index] if self.keep_inputs else None,
                inputs_hash=_inputs_hash(self.instances[index]),
                latency_ms=self.latency_ms,
                created_at=self.created_at,
            )
            for index, (prediction_id, prediction) in enumerate(
                zip(self.prediction_ids, self.predictions, strict=True)
            )
        ]


@dataclass(frozen=True)
class _ShadowJob:
    project_id: int
    rollout_id: int
    instances: list[dict[str, Any]]
    prediction_ids: list[str]
    created_at: Any


_rows: deque[PredictionLog] = deque()
_served: deque[_ServedBatch] = deque()
_served_rows = 0
_shadow_jobs: deque[_ShadowJob] = deque()
_state_lock = threading.Lock()
_flush_lock = threading.Lock()
_dropped = 0
_thread: threading.Thread | None = None
_wake = threading.Event()


def served_enqueue(
    *,
    project_id: int,
    served: "ServedModel",
    routing: "Routing",
    variant: str,
    instances: list[dict[str, Any]],
    prediction_ids: list[str],
    predictions: list[Any],
    probabilities: list[Any] | None,
    latency_ms: float,
) -> None:
    """Buffer one log row per served prediction; the rows are built when written."""
    global _served_rows
    batch = _ServedBatch(
        project_id=project_id,
        deployment_id=served.deployment_id,
        rollout_id=served.rollout_id,
        variant=variant,
        model_version=served.model_version,
        instances=instances,
        prediction_ids=prediction_ids,
        predictions=predictions,
        probabilities=probabilities,
        latency_ms=latency_ms,
        keep_inputs=settings.PREDICTION_LOG_INPUTS,
        created_at=timezone.now(),
    )
    count = len(prediction_ids)
    with _state_lock:
        if len(_rows) + _served_rows + count > settings.PREDICTION_LOG_BUFFER_MAX:
            _count_dropped(count)
            return
        _served.append(batch)
        _served_rows += count
    _thread_ensure()


def shadow_enqueue(
    *,
    project_id: int,
    rollout_id: int,
    instances: list[dict[str, Any]],
    prediction_ids: list[str],
) -> None:
    """Queue a request for scoring by the shadow model on the background thread."""
    with _state_lock:
        if len(_shadow_jobs) >= settings.PREDICTION_LOG_BUFFER_MAX:
            _count_dropped(len(instances))
            return
        _shadow_jobs.append(
            _ShadowJob(project_id, rollout_id, instances, prediction_ids, timezone.now())
        )
    _thread_ensure()


def _append(rows: list[PredictionLog]) -> None:
    with _state_lock:
        room = settings.PREDICTION_LOG_BUFFER_MAX - len(_rows) - _served_rows
        if room < len(rows):
            _count_dropped(len(rows) - max(room, 0))
            rows = rows[: max(room, 0)]
        _rows.extend(rows)
    _thread_ensure()


def _count_dropped(count: int) -> None:
    global _dropped
    _dropped += count


def _inputs_hash(row: dict[str, Any]) -> str:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def prediction_log_flush() -> int:
    """Score queued shadow requests and write every buffered row; return rows written.

    The background thread calls this on its interval; tests and the ``atexit`` hook call it
    directly.
    """
    global _dropped, _served_rows
    with _flush_lock:
        _shadow_jobs_run()
        with _state_lock:
            rows = list(_rows)
            _rows.clear()
            batches = list(_served)
            _served.clear()
            _served_rows = 0
            dropped, _dropped = _dropped, 0
        for batch in batches:
            rows.extend(batch.rows())
        if dropped:
            logger.warning(
                "prediction log buffer full: %s rows were not logged; lower "
                "PREDICTION_LOG_SAMPLE_RATE or flush more often",
                dropped,
            )
        if not rows:
            return 0
        try:
            PredictionLog.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        except DatabaseError:
            logger.exception("writing %s prediction log rows failed; they are dropped", len(rows))
            return 0
        return len(rows)


def _shadow_jobs_run() -> None:
    from apps.deployments import serving
    from apps.deployments.services import rollout_shadow_failures_record, shadow_failure_reason

    # Rollout id to (unscored rows, latest reason), written once per flush, never per request.
    failures: dict[int, tuple[int, str]] = {}
    while True:
        with _state_lock:
            if not _shadow_jobs:
                break
            job = _shadow_jobs.popleft()
        try:
            scores, latency_ms = serving.shadow_score(
                rollout_id=job.rollout_id, instances=job.instances
            )
            model_version = serving.shadow_model_version(rollout_id=job.rollout_id)
        except Exception as error:
            # A shadow must never affect serving, so its failures are counted and skipped.
            logger.warning(
                "shadow rollout %s could not score %s instances",
                job.rollout_id,
                len(job.instances),
                exc_info=True,
            )
            count, _ = failures.get(job.rollout_id, (0, ""))
            failures[job.rollout_id] = (
                count + len(job.instances),
                shadow_failure_reason(error),
            )
            continue
        rows = [
            PredictionLog(
                prediction_id=prediction_id,
                project_id=job.project_id,
                rollout_id=job.rollout_id,
                variant=PredictionVariant.SHADOW,
                model_version=model_version,
                prediction=prediction,
                probability=(
                    scores.probabilities[index] if scores.probabilities is not None else None
                ),
                inputs=None,
                inputs_hash=_inputs_hash(job.instances[index]),
                latency_ms=latency_ms,
                created_at=job.created_at,
            )
            for index, (prediction_id, prediction) in enumerate(
                zip(job.prediction_ids, scores.predictions, strict=True)
            )
        ]
        with _state_lock:
            _rows.extend(rows)
    for rollout_id, (count, reason) in failures.items():
        try:
            rollout_shadow_failures_record(rollout_id=rollout_id, failures=count, reason=reason)
        except Exception:
            logger.warning("shadow failures of rollout %s not recorded", rollout_id, exc_info=True)


def buffer_clear() -> None:
    """Drop every buffered row and queued shadow request of this process."""
    global _dropped, _served_rows
    with _state_lock:
        _rows.clear()
        _served.clear()
        _served_rows = 0
        _shadow_jobs.clear()
        _dropped = 0


def _thread_ensure() -> None:
    global _thread
    if not settings.PREDICTION_LOG_BACKGROUND:
        return
    if _thread is not None and _thread.is_alive():
        return
    with _state_lock:
        if _thread is not None and _thread.is_alive():
            return
        # A forked serving process inherits the parent's module state but not its threads,
        # so is_alive() is False there and each process starts its own writer.
        _thread = threading.Thread(target=_run, name="prediction-log", daemon=True)
        _thread.start()


def _run() -> None:
    interval = float(settings.PREDICTION_LOG_FLUSH_SECONDS)
    while True:
        _wake.wait(interval)
        _wake.clear()
        try:
            prediction_log_flush()
        except Exception:
            logger.exception("prediction log flush failed")
        finally:
            close_old_connections()


def _flush_at_exit() -> None:
    if _rows or _served or _shadow_jobs:
        try:
            prediction_log_flush()
        except Exception:
            logger.exception("prediction log flush at exit failed")


atexit.register(_flush_at_exit)
