from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from apps.accounts.models import Membership
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.health import HealthReport, project_health
from apps.projects.models import Comment, Project


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
    """Projects the user holds any role in, with metrics and members loaded in two queries."""
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
