from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import Membership
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.health import HealthReport, project_health
from apps.projects.models import (
    Comment,
    MetricKind,
    MetricObservation,
    Project,
    SuccessMetric,
)


def _iterations_for_health() -> "Prefetch[Any, Any]":
    return Prefetch(
        "iterations",
        queryset=Iteration.objects.only("id", "project_id", "status", "metrics", "is_baseline"),
        to_attr="health_iterations",
    )


def project_health_report(*, project: Project) -> HealthReport:
    """Health of a project loaded by a selector of this module (iterations prefetched)."""
    iterations = getattr(project, "health_iterations", None)
    if iterations is None:
        iterations = list(project.iterations.only("id", "status", "metrics", "is_baseline"))
    # The automatic non-ML baselines neither use up the iteration budget nor count as a model.
    iterations = [i for i in iterations if not i.is_baseline]
    return project_health(
        project=project,
        metrics=list(project.metrics.all()),
        iteration_metrics=[i.metrics for i in iterations if i.status == IterationStatus.SUCCEEDED],
        iterations_used=len(iterations),
        today=timezone.localdate(),
    )


def project_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Return the projects where the user has any role, with metrics and members prefetched."""
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(memberships__user_id=user.pk)
        .distinct()
        .select_related("created_by")
        .prefetch_related(
            "metrics",
            Prefetch("memberships", queryset=Membership.objects.select_related("user")),
            _iterations_for_health(),
        )
        .order_by("name")
    )


def project_with_details(*, project: Project) -> Project:
    """Reload a project with its metrics and members for a detail page or endpoint."""
    return (
        Project.objects.select_related("created_by")
        .prefetch_related(
            "metrics",
            Prefetch("memberships", queryset=Membership.objects.select_related("user")),
            _iterations_for_health(),
        )
        .get(pk=project.pk)
    )


def comment_list(*, project: Project, iteration_number: int | None = None) -> QuerySet[Comment]:
    comments = Comment.objects.filter(project=project).select_related("author", "iteration")
    if iteration_number is not None:
        comments = comments.filter(iteration__number=iteration_number)
    return comments.order_by("created_at", "id")


@dataclass(frozen=True)
class ObservedMetric:
    """A business or operational metric with its latest posted value, judged against its targets."""

    metric: SuccessMetric
    latest: MetricObservation | None
    verdict: str
    minimum_verdict: str


def metric_observation_list(
    *, project: Project, metric_name: str | None = None
) -> QuerySet[MetricObservation]:
    """Return the project's posted values, newest observation date first."""
    observations = MetricObservation.objects.filter(project=project).select_related("posted_by")
    if metric_name is not None:
        observations = observations.filter(metric_name=metric_name)
    return observations.order_by("-observed_on", "-id")


def metric_observation_latest(
    *, project: Project, metrics: list[SuccessMetric] | None = None
) -> list[ObservedMetric]:
    """Return each business and operational metric with its latest value, in one query.

    Pass ``metrics`` when the project's metrics are already loaded; otherwise they cost a
    second query. Values are matched by metric name, so they outlive edits of the targets.
    """
    if metrics is None:
        metrics = list(project.metrics.all())
    observed = [metric for metric in metrics if metric.kind != MetricKind.MODEL]
    if not observed:
        return []
    newest_id = (
        MetricObservation.objects.filter(
            project_id=OuterRef("project_id"), metric_name=OuterRef("metric_name")
        )
        .order_by("-observed_on", "-id")
        .values("id")[:1]
    )
    latest_by_name = {
        observation.metric_name: observation
        for observation in MetricObservation.objects.filter(
            project=project, metric_name__in=[metric.name for metric in observed]
        )
        .filter(id=Subquery(newest_id))
        .select_related("posted_by")
    }
    results = []
    for metric in observed:
        latest = latest_by_name.get(metric.name)
        value = latest.value if latest is not None else None
        results.append(
            ObservedMetric(
                metric=metric,
                latest=latest,
                verdict=metric.verdict(value),
                minimum_verdict=metric.minimum_verdict(value),
            )
        )
    return results
