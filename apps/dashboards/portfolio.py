"""The portfolio: every project a user can see, summarised for stakeholders and decision makers.

``portfolio_for_user`` runs four queries whatever the number of projects, iterations or
deployments: projects (with a subquery for an approved framing sign-off), then their metrics,
iterations and production deployments prefetched.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Prefetch
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.dashboards.figures import (
    MilestonePoint,
    health_counts_figure,
    milestone_figure,
    stage_funnel_figure,
)
from apps.dashboards.selectors import IterationRow, best_row, iteration_row, model_metrics_of
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.health import Health, HealthReport, project_health
from apps.projects.models import Project, Stage

DEFAULT_STALLED_AFTER_DAYS = 30
MAX_STALLED_AFTER_DAYS = 3650

# Stages in which the team is expected to be training models; only these can stall.
ITERATING_STAGES = (Stage.APPROVED, Stage.IN_DEVELOPMENT)

FUNNEL_STEPS = ("Framed", "Signed off", "In development", "In production")
"""The funnel steps; each counts the projects that reached it, as ``funnel_reached`` judges."""

# Only a framing sign-off moves a project out of framing into these stages. A retired project
# may have been retired from framing, so it counts as signed off only with an approved sign-off.
SIGNED_OFF_STAGES = frozenset({Stage.APPROVED, Stage.IN_DEVELOPMENT, Stage.IN_PRODUCTION})
DEVELOPMENT_STAGES = frozenset({Stage.IN_DEVELOPMENT, Stage.IN_PRODUCTION})


@dataclass(frozen=True)
class Milestone:
    """Days from framing to a milestone: taken (or elapsed so far) against agreed."""

    expected_days: int | None
    actual_days: int
    reached: bool

    @property
    def late(self) -> bool:
        return self.expected_days is not None and self.actual_days > self.expected_days


@dataclass(frozen=True)
class PortfolioProject:
    project: Project
    health: HealthReport
    best: IterationRow | None
    meets_minimums: bool | None
    iteration_count: int
    last_iteration_at: datetime.datetime | None
    days_since_activity: int
    stalled: bool
    first_model: Milestone
    production: Milestone
    live_deployment: Deployment | None

    @property
    def serving(self) -> bool:
        """True when a deployment of the project is live, which counts as in production.

        Serving waits for the framing sign-off only when the project's policy requires it,
        so the stage alone can lag behind: a project in framing may already serve.
        """
        return self.live_deployment is not None

    @property
    def signed_off(self) -> bool:
        """Whether the framing was signed off: by its stage, or by an approved sign-off."""
        return self.project.stage in SIGNED_OFF_STAGES or bool(
            getattr(self.project, "framing_signed_off", False)
        )

    @property
    def serving_without_signoff(self) -> bool:
        return self.serving and not self.signed_off

    def funnel_reached(self, step: str) -> bool:
        """Return whether the project reached the funnel ``step``, judged by what it produced.

        A version that was ever live counts as in production (and so in development) whatever
        the stage, because serving does not wait for the framing sign-off unless the policy
        requires it. A retired project counts only for the steps it reached before retirement.
        """
        ever_live = self.production.reached
        if step == "Framed":
            return self.project.stage != Stage.REJECTED
        if step == "Signed off":
            return self.signed_off
        if step == "In development":
            return (
                self.project.stage in DEVELOPMENT_STAGES
                or ever_live
                or (self.project.stage == Stage.RETIRED and self.iteration_count > 0)
            )
        if step == "In production":
            return ever_live
        raise ValueError(f"Unknown funnel step '{step}'.")


@dataclass(frozen=True)
class Portfolio:
    projects: list[PortfolioProject]
    stalled_after_days: int
    funnel: list[tuple[str, int]]
    stage_counts: list[tuple[str, str, int]]
    health_counts: list[tuple[str, str, int]]
    judged_count: int
    meeting_minimums_count: int
    charts: list[tuple[str, str, dict[str, Any]]]

    @property
    def stages_present(self) -> list[tuple[str, str, int]]:
        return [entry for entry in self.stage_counts if entry[2]]

    @property
    def stalled(self) -> list[PortfolioProject]:
        return [item for item in self.projects if item.stalled]

    @property
    def meeting_minimums_share(self) -> float | None:
        if not self.judged_count:
            return None
        return self.meeting_minimums_count / self.judged_count


def _days_between(start: datetime.date, end: datetime.date) -> int:
    return max(0, (end - start).days)


def _milestone(
    *,
    started: datetime.date,
    due: datetime.date | None,
    reached_at: datetime.datetime | None,
    today: datetime.date,
) -> Milestone:
    expected = _days_between(started, due) if due is not None else None
    if reached_at is not None:
        return Milestone(expected, _days_between(started, timezone.localdate(reached_at)), True)
    return Milestone(expected, _days_between(started, today), False)


def _portfolio_project(
    project: Project, *, stalled_after_days: int, today: datetime.date
) -> PortfolioProject:
    metrics = list(project.metrics.all())
    model_metrics = model_metrics_of(metrics)
    iterations: list[Iteration] = list(project.iterations.all())
    counted = [iteration for iteration in iterations if not iteration.is_baseline]
    succeeded = [it for it in counted if it.status == IterationStatus.SUCCEEDED]
    rows = [iteration_row(iteration, model_metrics) for iteration in iterations]
    best = best_row(rows)
    health = project_health(
        project=project,
        metrics=metrics,
        iteration_metrics=[iteration.metrics for iteration in succeeded],
        iterations_used=len(counted),
        today=today,
    )

    deployments: list[Deployment] = getattr(project, "production_deployments", [])
    live = next((d for d in deployments if d.status == DeploymentStatus.LIVE), None)
    went_live = [d.live_at for d in deployments if d.live_at is not None]
    first_model_at = min((it.finished_at or it.created_at for it in succeeded), default=None)

    last_iteration_at = max((it.created_at for it in counted), default=None)
    activity = last_iteration_at or project.created_at
    days_since_activity = _days_between(timezone.localdate(activity), today)
    started = timezone.localdate(project.created_at)
    return PortfolioProject(
        project=project,
        health=health,
        best=best,
        meets_minimums=(
            best.minimum_met_count == len(model_metrics) if best and model_metrics else None
        ),
        iteration_count=len(counted),
        last_iteration_at=last_iteration_at,
        days_since_activity=days_since_activity,
        stalled=project.stage in ITERATING_STAGES and days_since_activity >= stalled_after_days,
        first_model=_milestone(
            started=started, due=project.first_model_by, reached_at=first_model_at, today=today
        ),
        production=_milestone(
            started=started,
            due=project.production_by,
            reached_at=min(went_live, default=None),
            today=today,
        ),
        live_deployment=live,
    )


def _visible_projects(user: AbstractBaseUser | AnonymousUser) -> list[Project]:
    if not user.is_authenticated:
        return []
    # Membership is the only way to see a project, for staff too, as in apps.accounts.access.
    signed_off = ApprovalRequest.objects.filter(
        project=OuterRef("pk"), gate=Gate.FRAMING, status=RequestStatus.APPROVED
    )
    projects = (
        Project.objects.filter(memberships__user_id=user.pk)
        .distinct()
        .annotate(framing_signed_off=Exists(signed_off))
        .prefetch_related(
            "metrics",
            Prefetch(
                "iterations",
                queryset=Iteration.objects.only(
                    "id",
                    "project_id",
                    "number",
                    "status",
                    "metrics",
                    "is_baseline",
                    "created_at",
                    "finished_at",
                ).order_by("number"),
            ),
            Prefetch(
                "deployments",
                queryset=Deployment.objects.filter(environment=PRODUCTION)
                .exclude(live_at__isnull=True)
                .select_related("iteration")
                .only(
                    "id",
                    "project_id",
                    "iteration_id",
                    "status",
                    "live_at",
                    "model_version",
                    "iteration__number",
                )
                .order_by("live_at"),
                to_attr="production_deployments",
            ),
        )
        .order_by("name")
    )
    return list(projects)


def _charts(
    funnel: list[tuple[str, int]],
    health_counts: list[tuple[str, str, int]],
    items: list[PortfolioProject],
) -> list[tuple[str, str, dict[str, Any]]]:
    def points(kind: str) -> list[MilestonePoint]:
        result = []
        for item in items:
            milestone: Milestone = getattr(item, kind)
            if milestone.expected_days is None:
                continue
            result.append(
                MilestonePoint(
                    project=item.project.name,
                    expected_days=milestone.expected_days,
                    actual_days=milestone.actual_days,
                    reached=milestone.reached,
                )
            )
        return result

    return [
        ("portfolio-funnel", "Projects by stage", stage_funnel_figure(stages=funnel)),
        (
            "portfolio-health",
            "Health of active projects",
            health_counts_figure(counts=health_counts),
        ),
        (
            "portfolio-milestones",
            "Days to first model and to production against the agreed dates",
            milestone_figure(first_model=points("first_model"), production=points("production")),
        ),
    ]


def portfolio_for_user(
    *,
    user: AbstractBaseUser | AnonymousUser,
    stalled_after_days: int = DEFAULT_STALLED_AFTER_DAYS,
    today: datetime.date | None = None,
    with_charts: bool = True,
) -> Portfolio:
    """Summarise every project ``user`` is a member of, in four queries.

    A project in development counts as stalled when no iteration has started for
    ``stalled_after_days`` days (counted from its creation when it has none).
    """
    today = today or timezone.localdate()
    items = [
        _portfolio_project(project, stalled_after_days=stalled_after_days, today=today)
        for project in _visible_projects(user)
    ]
    stages = [item.project.stage for item in items]
    # A version that was ever live counts as in production even while the framing waits for
    # sign-off, so the funnel agrees with each row's production milestone. Such a project is not
    # counted as signed off, so that step can be smaller than the ones after it.
    funnel = [
        (step, sum(1 for item in items if item.funnel_reached(step))) for step in FUNNEL_STEPS
    ]
    stage_counts = [(value, label, stages.count(value)) for value, label in Stage.choices]
    # Retired and rejected projects are finished, so their health says nothing about work
    # ahead and they are left out of the health counts.
    active = [item for item in items if item.project.stage not in (Stage.RETIRED, Stage.REJECTED)]
    health_counts = [
        (value, label, sum(1 for item in active if item.health.status == value))
        for value, label in Health.choices
    ]
    judged = [item for item in active if item.meets_minimums is not None]
    return Portfolio(
        projects=items,
        stalled_after_days=stalled_after_days,
        funnel=funnel,
        stage_counts=stage_counts,
        health_counts=health_counts,
        judged_count=len(judged),
        meeting_minimums_count=sum(1 for item in judged if item.meets_minimums),
        charts=_charts(funnel, health_counts, items) if with_charts else [],
    )
