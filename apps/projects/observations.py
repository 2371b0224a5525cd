"""Business and operational metric values, which people measure and post after training.

Training computes the model metrics of every iteration. Hours saved per week or the p95
latency of the live service are measured elsewhere, so people enter them here, one dated value
at a time, and the project page judges the latest one against the agreed minimum and target.
"""

import datetime
import logging
import math

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import InvalidInput
from apps.projects.models import MetricKind, MetricObservation, Project, SuccessMetric

logger = logging.getLogger(__name__)

OBSERVED_KINDS = (MetricKind.BUSINESS, MetricKind.OPERATIONAL)
NOTE_MAX_LENGTH = 2000


def _finite_value(value: float | int | str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"'{value}' is not a number.", field="value")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"'{value}' is not a number.", field="value") from None
    if not math.isfinite(number):
        raise InvalidInput(
            f"'{value}' is not a finite number; send a measured value, not NaN or infinity.",
            field="value",
        )
    return number


def _observed_metric(*, project: Project, metric_name: str) -> SuccessMetric:
    """Return the project's metric named ``metric_name``, locked, if people may post values of it."""
    # The lock keeps a concurrent edit of the metrics from deleting the row before the insert.
    metric = (
        SuccessMetric.objects.select_for_update().filter(project=project, name=metric_name).first()
    )
    if metric is None:
        known = list(
            SuccessMetric.objects.filter(project=project, kind__in=OBSERVED_KINDS)
            .order_by("position", "id")
            .values_list("name", flat=True)
        )
        hint = (
            f"Use one of: {', '.join(known)}."
            if known
            else "Add a business or operational metric to the framing first."
        )
        raise InvalidInput(
            f"The project has no success metric named '{metric_name}'. {hint}", field="metric"
        )
    if metric.kind not in OBSERVED_KINDS:
        raise InvalidInput(
            f"'{metric_name}' is a model metric, which training measures for each iteration. "
            "Post values of business or operational metrics only.",
            field="metric",
        )
    return metric


def metric_observation_post(
    *,
    project: Project,
    user: User,
    metric_name: str,
    value: float | int | str,
    observed_on: datetime.date,
    note: str = "",
) -> MetricObservation:
    """Record a measured value of a business or operational metric and audit it."""
    number = _finite_value(value)
    today = timezone.localdate()
    if observed_on > today:
        raise InvalidInput(
            f"The observation date {observed_on.isoformat()} is in the future; "
            f"use {today.isoformat()} or an earlier day.",
            field="observed_on",
        )
    note = note.strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(
            f"The note has {len(note)} characters; the maximum is {NOTE_MAX_LENGTH}.",
            field="note",
        )

    with transaction.atomic():
        metric = _observed_metric(project=project, metric_name=metric_name.strip())
        observation = MetricObservation.objects.create(
            project=project,
            metric=metric,
            metric_name=metric.name,
            value=number,
            observed_on=observed_on,
            note=note,
            posted_by=user,
        )
        audit_record(
            actor=user,
            action="metric.observed",
            target=observation,
            project=project,
            after={
                "metric": metric.name,
                "value": number,
                "observed_on": observed_on.isoformat(),
                "note": note,
            },
        )
    logger.info(
        "project %s metric %s observed %s on %s by user %s",
        project.slug,
        metric.name,
        number,
        observed_on,
        user.pk,
    )
    return observation
