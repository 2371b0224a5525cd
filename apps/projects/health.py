"""Project health: on track, at risk or off track, with the reason a stakeholder reads.

Health compares the agreed expectations (dates and iteration budget) and the targets with
what the project has produced so far. It is computed on read, never stored, so it cannot go
stale when a date passes.
"""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import models
from django.utils import timezone

from apps.projects.models import Project, Stage, SuccessMetric, Verdict

AT_RISK_DAYS = 14
BUDGET_AT_RISK_SHARE = 0.8


class Health(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    OFF_TRACK = "off_track", "Off track"


@dataclass(frozen=True)
class HealthReport:
    status: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return " ".join(self.reasons)


def minimums_met(metrics: Sequence[SuccessMetric], values: Mapping[str, float | None]) -> int:
    """Count model metrics whose minimum (or target, when no minimum is set) is met."""
    met = 0
    for metric in metrics:
        threshold_met = (
            metric.minimum_verdict(values.get(metric.name))
            if metric.minimum is not None
            else metric.verdict(values.get(metric.name))
        )
        met += threshold_met == Verdict.MET
    return met


def project_health(
    *,
    project: Project,
    metrics: Sequence[SuccessMetric],
    iteration_metrics: Sequence[Mapping[str, float | None]],
    iterations_used: int,
    today: datetime.date,
    retired_at: datetime.datetime | None = None,
) -> HealthReport:
    """Judge a project from its expectations and the metrics of its succeeded iterations.

    ``iteration_metrics`` contains one metric dict per succeeded iteration. ``iterations_used``
    counts every iteration started (failed ones included, baselines not) against the budget.
    A retired project is reported as retired, on ``retired_at`` when the caller knows it.
    """
    if project.stage == Stage.RETIRED:
        # NOTE: the project stores no retirement date, and retirement is its last save in
        # normal use, so updated_at stands for it. A later save would move that date.
        retired_on = timezone.localdate(retired_at or project.updated_at)
        return HealthReport(
            Health.ON_TRACK, (f"The project was retired on {retired_on.isoformat()}.",)
        )
    if project.stage == Stage.IN_PRODUCTION:
        return HealthReport(Health.ON_TRACK, ("A model is in production.",))
    if project.stage == Stage.REJECTED:
        return HealthReport(Health.OFF_TRACK, ("The framing was rejected.",))

    model_metrics = [m for m in metrics if m.kind == "model"]
    best = max((minimums_met(model_metrics, values) for values in iteration_metrics), default=0)
    all_met = bool(model_metrics) and best == len(model_metrics)
    off: list[str] = []
    risk: list[str] = []

    if project.production_by is not None:
        days_left = (project.production_by - today).days
        if days_left < 0:
            off.append(f"The production date {project.production_by} has passed.")
        elif days_left <= AT_RISK_DAYS and not all_met:
            risk.append(
                f"{days_left} days to the production date and no iteration meets every minimum."
            )
    if project.first_model_by is not None and not iteration_metrics:
        days_left = (project.first_model_by - today).days
        if days_left < 0:
            off.append(
                f"No trained model yet; the first-model date {project.first_model_by} has passed."
            )
        elif days_left <= AT_RISK_DAYS:
            risk.append(f"{days_left} days to the first-model date and no trained model yet.")
    if project.expected_iterations:
        budget = project.expected_iterations
        if iterations_used > budget and not all_met:
            off.append(
                f"{iterations_used} iterations used of a budget of {budget} "
                "and no iteration meets every minimum."
            )
        elif iterations_used >= BUDGET_AT_RISK_SHARE * budget and not all_met:
            risk.append(f"{iterations_used} of {budget} budgeted iterations used.")
    if iteration_metrics and model_metrics and not all_met:
        risk.append(f"The best iteration meets {best} of {len(model_metrics)} minimums.")

    if off:
        return HealthReport(Health.OFF_TRACK, tuple(off))
    if risk:
        return HealthReport(Health.AT_RISK, tuple(risk))
    if all_met:
        return HealthReport(Health.ON_TRACK, ("The best iteration meets every minimum.",))
    return HealthReport(Health.ON_TRACK, ("Within the agreed dates and iteration budget.",))
