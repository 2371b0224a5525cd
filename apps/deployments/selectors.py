import statistics
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.deployments.models import (
    PRODUCTION,
    BatchJob,
    Deployment,
    DeploymentStatus,
    PredictionLog,
    PredictionVariant,
    Rollout,
    RolloutMode,
)
from apps.projects.models import Project

# A rollout's comparison reads at most this many recent predictions per variant, so its cost
# does not grow with traffic.
COMPARISON_WINDOW = 5_000


def project_deployments(*, project: Project) -> QuerySet[Deployment]:
    """Return every deployment of ``project``, newest first, with its iteration and approval."""
    return (
        Deployment.objects.filter(project=project)
        .select_related("iteration", "approval", "created_by")
        .order_by("-created_at", "-id")
    )


def live_deployment(*, project: Project, environment: str = PRODUCTION) -> Deployment | None:
    return (
        Deployment.objects.filter(
            project=project, environment=environment, status=DeploymentStatus.LIVE
        )
        .select_related("iteration")
        .first()
    )


def project_rollouts(*, project: Project) -> QuerySet[Rollout]:
    return (
        Rollout.objects.filter(project=project)
        .select_related("iteration", "started_by", "approval")
        .order_by("-created_at", "-id")
    )


def rollout_get(*, project: Project, rollout_id: int) -> Rollout:
    rollout = project_rollouts(project=project).filter(pk=rollout_id).first()
    if rollout is None:
        raise Http404("No rollout with that id in this project.")
    return rollout


def project_batches(*, project: Project) -> QuerySet[BatchJob]:
    return (
        BatchJob.objects.filter(project=project)
        .select_related("deployment__iteration", "created_by")
        .order_by("-created_at", "-id")
    )


def batch_get(*, project: Project, batch_id: int) -> BatchJob:
    batch = project_batches(project=project).filter(pk=batch_id).first()
    if batch is None:
        raise Http404("No batch with that id in this project.")
    return batch


def rollout_comparison(*, rollout: Rollout) -> dict[str, Any]:
    """Compare a rollout's candidate with the live version on the latest logged requests.

    For a shadow: the share of rows where both predicted the same, the mean absolute
    probability difference, and each side's latency. For a canary: how many rows each side
    served and each side's latency. Two queries, whatever the traffic.
    """
    if rollout.mode == RolloutMode.SHADOW:
        return _shadow_comparison(rollout)
    return _canary_comparison(rollout)


def _shadow_comparison(rollout: Rollout) -> dict[str, Any]:
    shadow_rows = list(
        PredictionLog.objects.filter(rollout=rollout, variant=PredictionVariant.SHADOW)
        .order_by("-created_at", "-id")
        .values("prediction_id", "prediction", "probability", "latency_ms")[:COMPARISON_WINDOW]
    )
    served_rows = {
        row["prediction_id"]: row
        for row in PredictionLog.objects.filter(
            prediction_id__in=[row["prediction_id"] for row in shadow_rows],
            variant=PredictionVariant.LIVE,
        ).values("prediction_id", "prediction", "probability", "latency_ms")
    }
    pairs = [
        (served_rows[row["prediction_id"]], row)
        for row in shadow_rows
        if row["prediction_id"] in served_rows
    ]
    agreeing = sum(1 for live, shadow in pairs if live["prediction"] == shadow["prediction"])
    differences = [
        abs(float(live["probability"]) - float(shadow["probability"]))
        for live, shadow in pairs
        if isinstance(live["probability"], (int, float))
        and isinstance(shadow["probability"], (int, float))
    ]
    return {
        "pairs": len(pairs),
        "agreement": round(agreeing / len(pairs), 4) if pairs else None,
        "mean_probability_difference": (
            round(statistics.fmean(differences), 6) if differences else None
        ),
        "live": _latency_summary([live["latency_ms"] for live, _ in pairs]),
        "candidate": _latency_summary([shadow["latency_ms"] for _, shadow in pairs]),
    }


def _canary_comparison(rollout: Rollout) -> dict[str, Any]:
    rows = list(
        PredictionLog.objects.filter(
            project_id=rollout.project_id,
            created_at__gte=rollout.active_at or rollout.created_at,
            variant__in=[PredictionVariant.LIVE, PredictionVariant.CANARY],
        )
        .order_by("-created_at", "-id")
        .values("variant", "latency_ms")[: 2 * COMPARISON_WINDOW]
    )
    live = [row["latency_ms"] for row in rows if row["variant"] == PredictionVariant.LIVE]
    canary = [row["latency_ms"] for row in rows if row["variant"] == PredictionVariant.CANARY]
    total = len(live) + len(canary)
    return {
        "rows": total,
        "canary_share_observed": round(len(canary) / total, 4) if total else None,
        "live": _latency_summary(live),
        "candidate": _latency_summary(canary),
    }


def _latency_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"rows": 0, "p50_ms": None, "p99_ms": None}
    ordered = sorted(values)
    return {
        "rows": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
    }
