"""Online prediction from the live deployment of a project, with an in-process model cache.

Each serving process keeps the models it loaded, keyed by deployment or rollout id, and a
routing entry per project: the live deployment and any open canary or shadow rollout. The
routing entry is reread from the database at most every ``SERVING_REFRESH_SECONDS`` (and at
once in the process that made a change), so a new live version replaces the cached one in
every process within that bound, without a restart. A newly routed model is loaded and
warmed with one held-out row before it serves its first request.
"""

import dataclasses
import logging
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from apps.core.errors import Conflict, InvalidInput, PayloadTooLarge, Unprocessable
from apps.deployments import prediction_log
from apps.deployments.models import (
    PRODUCTION,
    Deployment,
    DeploymentStatus,
    PredictionVariant,
    Rollout,
    RolloutMode,
    RolloutStatus,
)
from apps.deployments.scoring import Scores, model_predict
from apps.deployments.serving_compiled import (
    CompiledPipeline,
    NotCompilable,
    compiled_verify,
    pipeline_compile,
    verification_rows,
)
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage, TaskType

logger = logging.getLogger(__name__)

# Caps on what one error response lists, so a bad request of thousands of rows gets a short,
# readable response.
MAX_REPORTED_ROWS = 20
MAX_REPORTED_COLUMNS = 10
MAX_COLUMN_NAME_LENGTH = 80

NUMERIC_KINDS = frozenset({"numeric", "integer"})
_NUMBER_TYPES = frozenset({int, float, type(None)})


@dataclass(frozen=True)
class ServedModel:
    deployment_id: int | None
    rollout_id: int | None
    model: Any
    feature_columns: list[str]
    feature_set: frozenset[str]
    numeric_columns: frozenset[str]
    threshold: float | None
    task_type: str
    iteration_number: int
    model_version: str
    # The verified numpy equivalent of the pipeline, or None where the generic path serves.
    compiled: CompiledPipeline | None = None

    @property
    def all_numeric(self) -> bool:
        return len(self.numeric_columns) == len(self.feature_columns)

    @property
    def matrix_compiled(self) -> bool:
        """Whether a request's float matrix in column order feeds the compiled path as is."""
        compiled = self.compiled
        return (
            compiled is not None
            and compiled.categorical is None
            and compiled.numeric is not None
            and compiled.numeric.columns == self.feature_columns
        )


@dataclass(frozen=True)
class Routing:
    """The live deployment and the open rollout, if any, that one project serves."""

    live_id: int | None
    rollout_id: int | None
    rollout_mode: str
    share: float
    expires_at: float


_routing: dict[int, Routing] = {}
_models: dict[tuple[str, int], ServedModel] = {}
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, int], threading.Lock] = {}


def routing_get(*, project_id: int, environment: str = PRODUCTION) -> Routing:
    """Return the project's routing, rereading it once ``SERVING_REFRESH_SECONDS`` passed."""
    now = time.monotonic()
    cached = _routing.get(project_id)
    if cached is not None and cached.expires_at > now:
        return cached
    live_id = (
        Deployment.objects.filter(
            project_id=project_id, environment=environment, status=DeploymentStatus.LIVE
        )
        .values_list("pk", flat=True)
        .first()
    )
    rollout = (
        Rollout.objects.filter(
            project_id=project_id, environment=environment, status=RolloutStatus.ACTIVE
        )
        .values_list("pk", "mode", "share")
        .first()
    )
    routing = Routing(
        live_id=live_id,
        rollout_id=rollout[0] if rollout else None,
        rollout_mode=rollout[1] if rollout else "",
        share=float(rollout[2]) if rollout else 0.0,
        expires_at=now + float(settings.SERVING_REFRESH_SECONDS),
    )
    _routing[project_id] = routing
    _models_evict(keep={("deployment", live_id or 0), ("rollout", routing.rollout_id or 0)})
    return routing


def routing_invalidate(*, project_id: int) -> None:
    """Make the next request of ``project_id`` in this process reread its routing."""
    _routing.pop(project_id, None)


def cache_clear() -> None:
    """Forget every cached model and routing entry of this process."""
    with _cache_lock:
        _routing.clear()
        _models.clear()


def _models_evict(*, keep: set[tuple[str, int]]) -> None:
    # Models no routing entry refers to are dropped, so a process serving many versions over
    # time holds only the current ones. With several projects this keeps every project's
    # current models: the keys of other projects' routing entries are kept as well.
    wanted = set(keep)
    for routing in list(_routing.values()):
        wanted.add(("deployment", routing.live_id or 0))
        wanted.add(("rollout", routing.rollout_id or 0))
    for key in [key for key in _models if key not in wanted]:
        _models.pop(key, None)


def _no_live_version_error(project: Project) -> Conflict:
    if project.stage == Stage.RETIRED:
        return Conflict("This project is retired, so it serves no predictions.")
    return Conflict(
        "This project has no live deployment. Approve a promotion and wait for it to go live."
    )


def served_model(*, project: Project) -> ServedModel:
    """Return the live model of ``project``; raise Conflict (409) when none is live."""
    routing = routing_get(project_id=project.pk)
    if routing.live_id is None:
        raise _no_live_version_error(project)
    return model_get(kind="deployment", object_id=routing.live_id)


def model_get(*, kind: str, object_id: int) -> ServedModel:
    """Return the cached model of a deployment or rollout, loading and warming it once."""
    key = (kind, object_id)
    cached = _models.get(key)
    if cached is not None:
        return cached
    with _cache_lock:
        load_lock = _load_locks.setdefault(key, threading.Lock())
    # One thread per model loads; the others wait and then find the fresh entry.
    with load_lock:
        cached = _models.get(key)
        if cached is not None:
            return cached
        loaded = _model_load(kind=kind, object_id=object_id)
        _models[key] = loaded
    with _cache_lock:
        _load_locks.pop(key, None)
    logger.info(
        "serving %s %s (iteration %s, model version %s) through the %s scoring path",
        kind,
        object_id,
        loaded.iteration_number,
        loaded.model_version,
        "compiled" if loaded.compiled is not None else "generic",
    )
    return loaded


def _model_load(*, kind: str, object_id: int) -> ServedModel:
    source: Deployment | Rollout
    if kind == "deployment":
        source = Deployment.objects.select_related(
            "project", "iteration", "iteration__dataset"
        ).get(pk=object_id)
    else:
        source = Rollout.objects.select_related("project", "iteration", "iteration__dataset").get(
            pk=object_id
        )
    iteration: Iteration = source.iteration
    columns = list(iteration.feature_columns)
    served = ServedModel(
        deployment_id=object_id if kind == "deployment" else None,
        rollout_id=object_id if kind == "rollout" else None,
        model=mlflow_adapter.model_load(source.model_uri),
        feature_columns=columns,
        feature_set=frozenset(columns),
        numeric_columns=_numeric_columns(iteration.dataset.schema, columns),
        threshold=iteration.threshold,
        task_type=source.project.task_type,
        iteration_number=iteration.number,
        model_version=source.model_version,
    )
    _model_warm(served, iteration=iteration)
    return dataclasses.replace(served, compiled=_compiled_build(served, iteration=iteration))


def _compiled_build(served: ServedModel, *, iteration: Iteration) -> CompiledPipeline | None:
    """Compile the pipeline and check it against the real one; None keeps the generic path."""
    label = f"iteration {iteration.number} model version {served.model_version}"
    try:
        compiled = pipeline_compile(
            served.model,
            task_type=served.task_type,
            threshold=served.threshold,
            feature_columns=served.feature_columns,
        )
    except NotCompilable as exc:
        logger.info("%s serves through the generic pipeline: %s", label, exc)
        return None
    holdout = [
        row
        for row in (iteration.holdout_sample or {}).get("rows") or []
        if isinstance(row, dict) and row.keys() == served.feature_set
    ]
    if not holdout:
        logger.warning("%s serves through the generic pipeline: no holdout rows to verify", label)
        return None
    categorical = [c for c in served.feature_columns if c not in served.numeric_columns]
    rows = verification_rows(
        holdout,
        numeric_columns=[c for c in served.feature_columns if c in served.numeric_columns],
        categorical=categorical,
    )
    try:
        reason = compiled_verify(
            compiled,
            model=served.model,
            frames=lambda batch: _instances_frame(batch, served=served),
            rows=rows,
            task_type=served.task_type,
            threshold=served.threshold,
        )
    except (Unprocessable, ValueError, TypeError) as exc:
        reason = f"verification raised {type(exc).__name__}: {exc}"
    if reason is not None:
        logger.warning("%s serves through the generic pipeline: %s", label, reason)
        return None
    return compiled


def _model_warm(served: ServedModel, *, iteration: Iteration) -> None:
    # The first call into a fitted pipeline builds caches (validation of feature names,
    # compiled predictors), so one scored row here keeps that cost off the first request.
    rows = (iteration.holdout_sample or {}).get("rows") or []
    if not rows:
        return
    try:
        frame = _instances_frame(rows[:1], served=served)
        model_predict(
            model=served.model, frame=frame, task_type=served.task_type, threshold=served.threshold
        )
    except (Unprocessable, ValueError, TypeError):
        logger.warning("warm-up of model version %s failed", served.model_version, exc_info=True)


def _numeric_columns(schema: Any, feature_columns: list[str]) -> frozenset[str]:
    features = set(feature_columns)
    numeric: set[str] = set()
    for column in schema if isinstance(schema, list) else []:
        if not isinstance(column, dict) or column.get("name") not in features:
            continue
        kind = str(column.get("kind", "")).lower()
        dtype = str(column.get("dtype", "")).lower()
        if kind in NUMERIC_KINDS or dtype.startswith(("int", "uint", "float")):
            numeric.add(str(column["name"]))
    return frozenset(numeric)


def predict(*, project: Project, instances: Any) -> dict[str, Any]:
    """Score ``instances`` (a list of ``{column: value}`` objects) with the live model.

    An active canary serves a random ``share`` of the requests instead; an active shadow
    scores the same rows off the request path. The response carries one prediction id per
    row, which outcomes refer to.

    Raises InvalidInput (400) when ``instances`` is not a non-empty list of objects.
    Raises PayloadTooLarge (413) above ``settings.PREDICT_MAX_INSTANCES`` instances.
    Raises Unprocessable (422) when columns are missing or unknown, when a numeric column
    gets another value, or gets NaN or an infinity (null is a missing value, which the model
    imputes). Raises Conflict (409) when the project has no live deployment.
    Error messages name the rows and columns but never repeat the values sent.
    """
    _instances_check_shape(instances)
    routing = routing_get(project_id=project.pk)
    if routing.live_id is None:
        raise _no_live_version_error(project)
    served, variant = _served_for_request(routing)
    started = time.perf_counter()
    try:
        scores = _instances_score(instances, served=served)
    except (ValueError, TypeError) as exc:
        # scikit-learn raises ValueError for inputs its pipeline cannot take (a category it
        # cannot encode, for example). The values are the caller's, so the message is kept
        # out of the response and only the type is logged.
        logger.warning(
            "project %s model version %s could not score %s instances: %s",
            project.slug,
            served.model_version,
            len(instances),
            type(exc).__name__,
        )
        raise Unprocessable(
            "The model could not score these instances. Check for categories that the "
            "training data did not contain.",
            field="instances",
        ) from None
    latency_ms = (time.perf_counter() - started) * 1000
    prediction_ids = [str(uuid.uuid4()) for _ in instances]
    result: dict[str, Any] = {"predictions": scores.predictions}
    if served.task_type == TaskType.CLASSIFICATION and scores.probabilities is not None:
        result["probabilities"] = scores.probabilities
        result["threshold"] = served.threshold
    result.update(
        {
            "iteration": served.iteration_number,
            "model_version": served.model_version,
            "deployment": routing.live_id,
            "variant": variant,
            "prediction_ids": prediction_ids,
        }
    )
    if random.random() < settings.PREDICTION_LOG_SAMPLE_RATE:
        prediction_log.served_enqueue(
            project_id=project.pk,
            served=served,
            routing=routing,
            variant=variant,
            instances=instances,
            prediction_ids=prediction_ids,
            predictions=scores.predictions,
            probabilities=scores.probabilities,
            latency_ms=latency_ms,
        )
        if routing.rollout_mode == RolloutMode.SHADOW and routing.rollout_id is not None:
            prediction_log.shadow_enqueue(
                project_id=project.pk,
                rollout_id=routing.rollout_id,
                instances=instances,
                prediction_ids=prediction_ids,
            )
    return result


def _instances_score(instances: list[dict[str, Any]], *, served: ServedModel) -> Scores:
    """Check ``instances`` and score them, through the compiled path where it applies.

    Raises Unprocessable (422) for rows that do not match the model's columns, before any
    scoring, on either path.
    """
    compiled = served.compiled
    if compiled is not None:
        if served.matrix_compiled:
            matrix = _numeric_matrix_fast(instances, served=served)
            if matrix is not None:
                return compiled.score_arrays(numeric=matrix, categorical=None)
        _instances_errors_raise(instances, served=served)
        scores = compiled.score_rows(instances)
        if scores is not None:
            return scores
    frame = _instances_frame(instances, served=served)
    return model_predict(
        model=served.model, frame=frame, task_type=served.task_type, threshold=served.threshold
    )


def _served_for_request(routing: Routing) -> tuple[ServedModel, str]:
    live_id = routing.live_id
    assert live_id is not None
    if (
        routing.rollout_mode == RolloutMode.CANARY
        and routing.rollout_id is not None
        and random.random() < routing.share
    ):
        try:
            return model_get(kind="rollout", object_id=routing.rollout_id), PredictionVariant.CANARY
        except Exception:
            # The candidate passed its checks on the worker. If this process still cannot
            # load it, the live version scores the request, so the request does not fail.
            logger.exception("canary rollout %s could not be loaded", routing.rollout_id)
    return model_get(kind="deployment", object_id=live_id), PredictionVariant.LIVE


def shadow_score(*, rollout_id: int, instances: list[dict[str, Any]]) -> tuple[Any, float]:
    """Score ``instances`` with a shadow rollout's model; return its scores and time in ms."""
    served = model_get(kind="rollout", object_id=rollout_id)
    started = time.perf_counter()
    scores = _instances_score(instances, served=served)
    return scores, (time.perf_counter() - started) * 1000


def shadow_model_version(*, rollout_id: int) -> str:
    return model_get(kind="rollout", object_id=rollout_id).model_version


def _instances_check_shape(instances: Any) -> None:
    if instances is None:
        raise InvalidInput('Send {"instances": [{column: value, ...}, ...]}.', field="instances")
    if not isinstance(instances, list):
        raise InvalidInput("Must be a list of objects, one per row to score.", field="instances")
    if not instances:
        raise InvalidInput("Send at least one instance to score.", field="instances")
    limit = settings.PREDICT_MAX_INSTANCES
    if len(instances) > limit:
        raise PayloadTooLarge(
            f"Too many instances: {len(instances)} sent, at most {limit} per request. "
            "Split the request or use batch scoring.",
            field="instances",
        )
    not_objects = [index for index, row in enumerate(instances) if not isinstance(row, dict)]
    if not_objects:
        raise InvalidInput(
            "Each instance must be an object of column names to values.",
            errors={
                f"instances[{index}]": ["Must be an object of column names to values."]
                for index in not_objects[:MAX_REPORTED_ROWS]
            },
        )


def _instances_frame(instances: list[dict[str, Any]], *, served: ServedModel) -> pd.DataFrame:
    """Check every instance against the model's columns and build the frame in their order."""
    if served.all_numeric:
        frame = _numeric_frame_fast(instances, served=served)
        if frame is not None:
            return frame
    _instances_errors_raise(instances, served=served)
    frame = pd.DataFrame.from_records(instances, columns=served.feature_columns)
    for column in served.numeric_columns:
        frame[column] = pd.to_numeric(frame[column])
    return frame


def _numeric_frame_fast(
    instances: list[dict[str, Any]], *, served: ServedModel
) -> pd.DataFrame | None:
    """Build the frame of an all-numeric model in a few vectorized steps.

    Returns None when any row may be invalid; the caller then checks row by row, which is
    slower but names every error.
    """
    matrix = _numeric_matrix_fast(instances, served=served)
    if matrix is None:
        return None
    return pd.DataFrame(matrix, columns=served.feature_columns, copy=False)


def _numeric_matrix_fast(instances: list[dict[str, Any]], *, served: ServedModel) -> Any:
    """Return the float matrix of an all-numeric model's rows, or None as above."""
    columns = served.feature_columns
    feature_set = served.feature_set
    try:
        values = [[row[column] for column in columns] for row in instances]
    except KeyError:
        return None
    if any(len(row) != len(columns) or row.keys() != feature_set for row in instances):
        return None
    seen_types = {type(value) for row in values for value in row}
    if not seen_types <= _NUMBER_TYPES:
        return None
    try:
        matrix = np.array(values, dtype=np.float64)
    except OverflowError:
        return None
    if float in seen_types and type(None) not in seen_types and not np.isfinite(matrix).all():
        return None
    if float in seen_types and type(None) in seen_types:
        # null and NaN both become NaN here, so only the row-by-row check can separate them.
        return None
    return matrix


def _instances_errors_raise(instances: list[dict[str, Any]], *, served: ServedModel) -> None:
    expected = served.feature_columns
    expected_set = set(expected)
    errors: dict[str, list[str]] = {}
    bad_rows = 0
    for index, row in enumerate(instances):
        row_errors = _row_errors(row, expected, expected_set, served.numeric_columns)
        if not row_errors:
            continue
        bad_rows += 1
        if bad_rows <= MAX_REPORTED_ROWS:
            for field, messages in row_errors.items():
                errors.setdefault(f"instances[{index}]{field}", []).extend(messages)
    if bad_rows:
        shown = min(bad_rows, MAX_REPORTED_ROWS)
        more = f" The first {shown} are listed." if bad_rows > shown else ""
        raise Unprocessable(
            f"{bad_rows} of {len(instances)} instances do not match the model's columns.{more}",
            errors=errors,
        )


def _row_errors(
    row: dict[str, Any],
    expected: list[str],
    expected_set: set[str],
    numeric_columns: frozenset[str],
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    missing = [column for column in expected if column not in row]
    if missing:
        errors[""] = [f"Missing columns: {_names(missing)}."]
    unknown = [str(key) for key in row if key not in expected_set]
    if unknown:
        errors.setdefault("", []).append(
            f"Unknown columns: {_names(unknown)}. The model takes: {_names(expected)}."
        )
    for column in expected:
        if column not in row:
            continue
        value = row[column]
        if column in numeric_columns:
            if not _is_number(value):
                errors[f".{column}"] = [
                    f"Column '{column}' must be a finite number, or null for a missing value."
                ]
        elif isinstance(value, (dict, list)):
            errors[f".{column}"] = [f"Column '{column}' must be a string, number or null."]
        elif isinstance(value, float) and not math.isfinite(value):
            errors[f".{column}"] = [f"Column '{column}' must not be NaN or infinite."]
    return errors


def _is_number(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        # An integer too large for a float cannot reach the model intact.
        return False


def _names(columns: list[str]) -> str:
    shown = [
        name if len(name) <= MAX_COLUMN_NAME_LENGTH else name[:MAX_COLUMN_NAME_LENGTH] + "…"
        for name in columns[:MAX_REPORTED_COLUMNS]
    ]
    rest = len(columns) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def live_models_preload() -> int:
    """Load and warm the model of every live deployment in this process; return how many.

    Serving processes call this once at start, so no request pays for a model load.
    """
    loaded = 0
    project_ids = Deployment.objects.filter(status=DeploymentStatus.LIVE).values_list(
        "project_id", flat=True
    )
    for project_id in project_ids:
        routing = routing_get(project_id=project_id)
        for kind, object_id in (("deployment", routing.live_id), ("rollout", routing.rollout_id)):
            if object_id is None:
                continue
            try:
                model_get(kind=kind, object_id=object_id)
                loaded += 1
            except Exception:
                logger.exception("preloading %s %s failed", kind, object_id)
    return loaded
