"""Checks a model must pass before it serves: signature, held-out replay and latency.

The deploy task and a rollout's preparation both run ``model_checks`` on the loaded model, so
a canary or shadow candidate is judged by the same rules as a version that goes live.
"""

import math
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from apps.deployments.scoring import model_predict
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration
from apps.projects.models import TaskType

# Regressors are compared with a tolerance because a reloaded model may round the last bits
# of a float differently on another machine or library build.
REGRESSION_RELATIVE_TOLERANCE = 1e-6
REGRESSION_ABSOLUTE_TOLERANCE = 1e-9
PROBABILITY_TOLERANCE = 1e-6
# Single-row scoring calls timed after the replay; the first call is a warm-up and not counted.
LATENCY_SAMPLES = 50
MAX_REPORTED_MISMATCHES = 20
MAX_REPORTED_COLUMNS = 10


def model_checks(
    *, model: Any, iteration: Iteration, task_type: str, model_uri: str | None = None
) -> dict[str, Any]:
    """Run every deploy check and return ``{"passed", "reason", "signature", "rows", ...}``.

    ``model_uri`` is where ``model`` was loaded from. It defaults to the iteration's registered
    version, which is what deployments and rollouts load. The signature check runs first, so a
    model that expects other columns fails with that reason rather than with a scoring error
    during the replay. Latency is measured only for a model that passed, on the replayed rows,
    and is recorded as ``latency_ms``.
    """
    if model_uri is None and iteration.model_name and iteration.model_version:
        model_uri = mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    signature = signature_check(
        model=model,
        feature_columns=list(iteration.feature_columns),
        signature_inputs=mlflow_adapter.model_signature_inputs(model_uri) if model_uri else [],
    )
    if not signature["passed"]:
        return {
            **_result(passed=False, rows=0, mismatches=[], reason=signature["reason"]),
            "signature": signature,
        }
    replay = replay_holdout(model=model, iteration=iteration, task_type=task_type)
    replay["signature"] = signature
    if replay["passed"]:
        replay["latency_ms"] = latency_measure(
            model=model, iteration=iteration, task_type=task_type
        )
    return replay


def signature_check(
    *,
    model: Any,
    feature_columns: list[str],
    signature_inputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Compare the model's input columns with the iteration's features, in two ways.

    scikit-learn records the training frame's columns, in order, as ``feature_names_in_``.
    The MLflow signature (``signature_inputs``, as ``model_signature_inputs`` returns it) is
    what the registry promises to callers, and a model logged outside the portal may carry
    one that differs from the estimator, so its column names must be the features too. Order
    is not compared there, because MLflow matches signature columns by name. A mismatch in
    either means the registry version is not the model the iteration describes. A model needs
    at least one of the two, because without both nothing records which columns it expects.
    """
    signature_columns = _named_columns(signature_inputs or [])
    trained_on = getattr(model, "feature_names_in_", None)
    if trained_on is None and not signature_columns:
        return _signature_result(
            reason="The model does not record the columns it was trained on.",
            columns=[],
            signature_columns=signature_columns,
        )
    columns = [str(name) for name in trained_on] if trained_on is not None else []
    if trained_on is not None and columns != list(feature_columns):
        missing = [name for name in feature_columns if name not in columns]
        extra = [name for name in columns if name not in feature_columns]
        return _signature_result(
            reason=(
                "The model's input columns differ from the iteration's features "
                f"({len(missing)} missing, {len(extra)} unexpected, or in another order)."
            ),
            columns=columns,
            signature_columns=signature_columns,
        )
    if signature_columns:
        missing = [name for name in feature_columns if name not in signature_columns]
        extra = [name for name in signature_columns if name not in feature_columns]
        if missing or extra:
            parts = ["The registered model's signature does not match the iteration's features."]
            if missing:
                parts.append(f"Missing from the signature: {_column_list(missing)}.")
            if extra:
                parts.append(f"In the signature but not among the features: {_column_list(extra)}.")
            return _signature_result(
                reason=" ".join(parts), columns=columns, signature_columns=signature_columns
            )
    return {
        "passed": True,
        "reason": "",
        "columns": columns or signature_columns,
        "signature_columns": signature_columns,
    }


def _named_columns(specs: list[dict[str, Any]]) -> list[str]:
    """Return the column names of a signature's input specs, or [] for a tensor signature.

    A tensor-based signature names no columns, so there is nothing to compare it with.
    """
    names = [spec.get("name") for spec in specs]
    if not names or any(not isinstance(name, str) for name in names):
        return []
    return [str(name) for name in names]


def _column_list(names: list[str]) -> str:
    listed = ", ".join(f"'{name}'" for name in names[:MAX_REPORTED_COLUMNS])
    unlisted = len(names) - MAX_REPORTED_COLUMNS
    return f"{listed} and {unlisted} more" if unlisted > 0 else listed


def _signature_result(
    *, reason: str, columns: list[str], signature_columns: list[str]
) -> dict[str, Any]:
    return {
        "passed": False,
        "reason": reason,
        "columns": columns,
        "signature_columns": signature_columns,
    }


def replay_holdout(*, model: Any, iteration: Iteration, task_type: str) -> dict[str, Any]:
    """Predict the iteration's recorded held-out rows again and compare with the recording.

    Returns ``{"passed", "rows", "mismatches", "reason"}``. A model that loads but predicts
    differently from the one that was evaluated (a wrong artifact, a changed library) fails
    here, before it can serve. Training records ``predict`` (for a classifier, the most
    probable class, before any cost-based threshold) and, for classifiers, every class's
    probability, so the replay compares the same outputs.
    """
    sample = iteration.holdout_sample or {}
    rows = sample.get("rows") or []
    expected = sample.get("predictions") or []
    expected_probabilities = sample.get("probabilities")
    if not rows:
        return _result(
            passed=False, rows=0, mismatches=[], reason="The iteration has no held-out rows."
        )
    if len(expected) != len(rows):
        return _result(
            passed=False,
            rows=len(rows),
            mismatches=[],
            reason=(
                f"The iteration recorded {len(expected)} predictions for {len(rows)} held-out rows."
            ),
        )
    frame = pd.DataFrame.from_records(rows, columns=list(iteration.feature_columns))
    replayed = np.asarray(model.predict(frame)).tolist()
    mismatches = {
        index
        for index, (recorded, output) in enumerate(zip(expected, replayed, strict=True))
        if not _prediction_matches(recorded, output, task_type=task_type)
    }
    if (
        task_type == TaskType.CLASSIFICATION
        and isinstance(expected_probabilities, list)
        and len(expected_probabilities) == len(rows)
        and hasattr(model, "predict_proba")
    ):
        mismatches |= _probability_mismatches(
            expected_probabilities, np.asarray(model.predict_proba(frame))
        )
    if mismatches:
        return _result(
            passed=False,
            rows=len(rows),
            mismatches=sorted(mismatches)[:MAX_REPORTED_MISMATCHES],
            reason=(
                f"The loaded model predicted differently from the evaluated one on "
                f"{len(mismatches)} of {len(rows)} held-out rows; the previous version stays live."
            ),
        )
    return _result(passed=True, rows=len(rows), mismatches=[], reason="")


def latency_measure(*, model: Any, iteration: Iteration, task_type: str) -> dict[str, float]:
    """Time single-row scoring on held-out rows; return p50, p99 and max in milliseconds.

    The time is the model's alone, on the worker that deploys, so it is a lower bound of what
    a request adds. The serving benchmark measures the whole request.
    """
    rows = (iteration.holdout_sample or {}).get("rows") or []
    columns = list(iteration.feature_columns)
    frames = [
        pd.DataFrame.from_records([row], columns=columns)
        for row in (rows * (LATENCY_SAMPLES // max(len(rows), 1) + 1))[: LATENCY_SAMPLES + 1]
    ]
    timings: list[float] = []
    for frame in frames:
        started = time.perf_counter()
        model_predict(model=model, frame=frame, task_type=task_type, threshold=iteration.threshold)
        timings.append((time.perf_counter() - started) * 1000)
    measured = sorted(timings[1:]) or [0.0]
    return {
        "samples": float(len(measured)),
        "p50": round(statistics.median(measured), 3),
        "p99": round(measured[min(len(measured) - 1, math.ceil(0.99 * len(measured)) - 1)], 3),
        "max": round(measured[-1], 3),
    }


def _probability_mismatches(recorded: list[Any], replayed: "np.ndarray[Any, Any]") -> set[int]:
    mismatches: set[int] = set()
    for index, (recorded_row, replayed_row) in enumerate(zip(recorded, replayed, strict=True)):
        try:
            recorded_values = np.asarray(recorded_row, dtype=float)
            close = recorded_values.shape == replayed_row.shape and np.allclose(
                recorded_values, replayed_row, rtol=0, atol=PROBABILITY_TOLERANCE
            )
        except (TypeError, ValueError):
            close = False
        if not close:
            mismatches.add(index)
    return mismatches


def _result(*, passed: bool, rows: int, mismatches: list[int], reason: str) -> dict[str, Any]:
    return {"passed": passed, "rows": rows, "mismatches": mismatches, "reason": reason}


def _prediction_matches(recorded: Any, replayed: Any, *, task_type: str) -> bool:
    if task_type == TaskType.REGRESSION:
        try:
            return math.isclose(
                float(recorded),
                float(replayed),
                rel_tol=REGRESSION_RELATIVE_TOLERANCE,
                abs_tol=REGRESSION_ABSOLUTE_TOLERANCE,
            )
        except (TypeError, ValueError):
            return False
    # JSON may have turned a label into another type (1 vs 1.0 vs "1"), so labels that print
    # the same count as equal.
    return bool(recorded == replayed) or str(recorded) == str(replayed)
