"""Online prediction from the live deployment of a project, with an in-process model cache.

Each worker process keeps the last model it loaded per project. A prediction reads the live
deployment's id with one query and reloads the model only when that id changed, so a new
live version replaces the old one in every process without a restart.
"""

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings

from apps.core.errors import Conflict, InvalidInput, PayloadTooLarge, Unprocessable
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.deployments.scoring import model_predict
from apps.iterations import mlflow_adapter
from apps.projects.models import Project, TaskType

logger = logging.getLogger(__name__)

# Caps on what one error response lists, so a bad request of thousands of rows gets a short,
# readable response.
MAX_REPORTED_ROWS = 20
MAX_REPORTED_COLUMNS = 10
MAX_COLUMN_NAME_LENGTH = 80

NUMERIC_KINDS = frozenset({"numeric", "integer"})


@dataclass(frozen=True)
class ServedModel:
    deployment_id: int
    model: Any
    feature_columns: list[str]
    numeric_columns: frozenset[str]
    threshold: float | None
    task_type: str
    iteration_number: int
    model_version: str


_cache: dict[int, ServedModel] = {}
_cache_lock = threading.Lock()
_load_locks: dict[int, threading.Lock] = {}


def live_deployment_id(*, project: Project, environment: str = PRODUCTION) -> int | None:
    return (
        Deployment.objects.filter(
            project_id=project.pk, environment=environment, status=DeploymentStatus.LIVE
        )
        .values_list("pk", flat=True)
        .first()
    )


def served_model(*, project: Project) -> ServedModel:
    """Return the live model of ``project``, loading it only when the live version changed."""
    deployment_id = live_deployment_id(project=project)
    if deployment_id is None:
        raise Conflict(
            "This project has no live deployment. Approve a promotion and wait for it to go live."
        )
    cached = _cache.get(project.pk)
    if cached is not None and cached.deployment_id == deployment_id:
        return cached

    with _cache_lock:
        load_lock = _load_locks.setdefault(project.pk, threading.Lock())
    # One thread per project loads; the others wait and then find the fresh entry.
    with load_lock:
        cached = _cache.get(project.pk)
        if cached is not None and cached.deployment_id == deployment_id:
            return cached
        loaded = _served_model_load(deployment_id=deployment_id)
        _cache[project.pk] = loaded
    logger.info(
        "project %s serving deployment %s (iteration %s, model version %s)",
        project.slug,
        loaded.deployment_id,
        loaded.iteration_number,
        loaded.model_version,
    )
    return loaded


def _served_model_load(*, deployment_id: int) -> ServedModel:
    deployment = Deployment.objects.select_related(
        "project", "iteration", "iteration__dataset"
    ).get(pk=deployment_id)
    iteration = deployment.iteration
    return ServedModel(
        deployment_id=deployment.pk,
        model=mlflow_adapter.model_load(deployment.model_uri),
        feature_columns=list(iteration.feature_columns),
        numeric_columns=_numeric_columns(iteration.dataset.schema, iteration.feature_columns),
        threshold=iteration.threshold,
        task_type=deployment.project.task_type,
        iteration_number=iteration.number,
        model_version=deployment.model_version,
    )


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


def cache_clear() -> None:
    """Forget every cached model of this process."""
    with _cache_lock:
        _cache.clear()


def predict(*, project: Project, instances: Any) -> dict[str, Any]:
    """Score ``instances`` (a list of ``{column: value}`` objects) with the live model.

    Raises InvalidInput (400) when ``instances`` is not a non-empty list of objects.
    Raises PayloadTooLarge (413) above ``settings.PREDICT_MAX_INSTANCES`` instances.
    Raises Unprocessable (422) when columns are missing or unknown, or when a numeric column
    gets another value. Raises Conflict (409) when the project has no live deployment.
    Error messages name the rows and columns but never repeat the values sent.
    """
    _instances_check_shape(instances)
    served = served_model(project=project)
    frame = _instances_frame(instances, served=served)
    try:
        scores = model_predict(
            model=served.model,
            frame=frame,
            task_type=served.task_type,
            threshold=served.threshold,
        )
    except (ValueError, TypeError) as exc:
        # scikit-learn raises ValueError for inputs its pipeline cannot take (an empty value
        # where the model has no imputer, a category it cannot encode). The values are the
        # caller's, so the message is kept out of the response and only the type is logged.
        logger.warning(
            "project %s deployment %s could not score %s instances: %s",
            project.slug,
            served.deployment_id,
            len(instances),
            type(exc).__name__,
        )
        raise Unprocessable(
            "The model could not score these instances. Check for empty values and for "
            "categories that the training data did not contain.",
            field="instances",
        ) from None
    result: dict[str, Any] = {"predictions": scores.predictions}
    if served.task_type == TaskType.CLASSIFICATION and scores.probabilities is not None:
        result["probabilities"] = scores.probabilities
        result["threshold"] = served.threshold
    result.update(
        {
            "iteration": served.iteration_number,
            "model_version": served.model_version,
            "deployment": served.deployment_id,
        }
    )
    return result


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
    frame = pd.DataFrame.from_records(instances, columns=expected)
    for column in served.numeric_columns:
        frame[column] = pd.to_numeric(frame[column])
    return frame


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
                errors[f".{column}"] = [f"Column '{column}' must be a finite number or null."]
        elif isinstance(value, (dict, list)):
            errors[f".{column}"] = [f"Column '{column}' must be a string, number or null."]
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
