"""Reads shaped for the home page, the project dashboard, the framing page and notifications.

Each selector runs a fixed number of queries, whatever the number of projects, iterations,
datasets or approvals: related rows come in with ``select_related`` and ``prefetch_related``.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch

from apps.accounts.models import Membership
from apps.accounts.permissions import ROLE_ACTIONS, Action
from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.audit.models import Notification
from apps.dashboards.figures import metric_trend_figure
from apps.datasets.models import DatasetVersion
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.framing import ReadinessReport, readiness_verdict
from apps.projects.health import HealthReport
from apps.projects.metrics import MODEL_METRICS
from apps.projects.models import (
    Comment,
    Direction,
    MetricKind,
    Project,
    Stage,
    SuccessMetric,
    TargetVersion,
    Verdict,
)
from apps.projects.selectors import (
    ObservedMetric,
    comment_list,
    metric_observation_latest,
    project_health_report,
)

DECIDING_ROLES = [role.value for role, actions in ROLE_ACTIONS.items() if Action.DECIDE in actions]

NOTIFICATION_PAGE_SIZE = 100

_NEXT_STEPS: dict[str, str] = {
    Stage.APPROVED: "signed off; upload a dataset and start the first iteration",
    Stage.IN_DEVELOPMENT: "iterate until a model meets the targets, then request promotion",
    Stage.IN_PRODUCTION: "a model serves predictions; watch its metrics against the targets",
    Stage.REJECTED: "revise the framing and request sign-off again",
    Stage.RETIRED: "no further work is planned",
}


@dataclass(frozen=True)
class MetricCell:
    metric: SuccessMetric
    value: float | None
    verdict: str
    minimum_verdict: str


@dataclass(frozen=True)
class IterationRow:
    iteration: Iteration
    cells: list[MetricCell]
    has_pending_promotion: bool

    @property
    def met_count(self) -> int:
        return sum(1 for cell in self.cells if cell.verdict == Verdict.MET)

    @property
    def all_met(self) -> bool:
        return bool(self.cells) and self.met_count == len(self.cells)


@dataclass(frozen=True)
class MetricChart:
    metric: SuccessMetric
    element_id: str
    figure: dict[str, Any]


@dataclass(frozen=True)
class FramingStatus:
    """State of the framing: readiness, agreed targets, sign-off requests and the next step."""

    readiness: ReadinessReport
    target_version: TargetVersion | None
    pending_request: ApprovalRequest | None
    latest_request: ApprovalRequest | None
    next_step: str


@dataclass(frozen=True)
class ProjectDashboard:
    project: Project
    metrics: list[SuccessMetric]
    model_metrics: list[SuccessMetric]
    rows: list[IterationRow]
    best: IterationRow | None
    charts: list[MetricChart]
    datasets: list[DatasetVersion]
    deployments: list[Deployment]
    live_deployment: Deployment | None
    approvals: list[ApprovalRequest]
    members: list[Membership]
    health: HealthReport
    framing: FramingStatus
    comments: list[Comment]
    pending_approvals: list[ApprovalRequest] = field(default_factory=list)
    observed_metrics: list[ObservedMetric] = field(default_factory=list)

    @property
    def budget_used(self) -> int:
        """Iterations counted against the expected number; the automatic baselines are not."""
        return sum(1 for row in self.rows if not row.iteration.is_baseline)


@dataclass(frozen=True)
class ProjectSummary:
    project: Project
    headline_metric: SuccessMetric | None
    best: IterationRow | None
    live_deployment: Deployment | None
    iteration_count: int


def metric_label(metric: SuccessMetric) -> str:
    spec = MODEL_METRICS.get(metric.name) if metric.kind == MetricKind.MODEL else None
    return spec.label if spec is not None else metric.name.replace("_", " ").capitalize()


def _metric_value(iteration: Iteration, metric: SuccessMetric) -> float | None:
    value = (iteration.metrics or {}).get(metric.name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def iteration_row(
    iteration: Iteration, metrics: list[SuccessMetric], *, has_pending_promotion: bool = False
) -> IterationRow:
    cells = []
    for metric in metrics:
        value = _metric_value(iteration, metric)
        cells.append(
            MetricCell(
                metric=metric,
                value=value,
                verdict=metric.verdict(value),
                minimum_verdict=metric.minimum_verdict(value),
            )
        )
    return IterationRow(
        iteration=iteration, cells=cells, has_pending_promotion=has_pending_promotion
    )


def _best_row(rows: list[IterationRow]) -> IterationRow | None:
    """Pick the succeeded iteration that meets most targets, then the best headline value."""
    # A non-ML baseline is the yardstick, never the best model.
    succeeded = [
        row
        for row in rows
        if row.iteration.status == IterationStatus.SUCCEEDED and not row.iteration.is_baseline
    ]
    if not succeeded:
        return None

    def score(row: IterationRow) -> tuple[int, float, int]:
        headline = row.cells[0] if row.cells else None
        value = headline.value if headline is not None else None
        if value is None:
            signed = float("-inf")
        else:
            signed = value if headline.metric.direction == Direction.HIGHER else -value  # type: ignore[union-attr]
        return (row.met_count, signed, row.iteration.number)

    return max(succeeded, key=score)


def _model_metrics(metrics: list[SuccessMetric]) -> list[SuccessMetric]:
    # Training measures model metrics only; business and operational ones are judged live.
    return [metric for metric in metrics if metric.kind == MetricKind.MODEL]


def _charts(metrics: list[SuccessMetric], rows: list[IterationRow]) -> list[MetricChart]:
    plotted = [row for row in rows if row.iteration.status == IterationStatus.SUCCEEDED]
    numbers = [row.iteration.number for row in plotted]
    charts = []
    for index, metric in enumerate(metrics):
        figure = metric_trend_figure(
            title=metric_label(metric),
            direction=metric.direction,
            iteration_numbers=numbers,
            values=[row.cells[index].value for row in plotted],
            target=metric.target,
            minimum=metric.minimum,
            unit=metric.unit,
        )
        charts.append(MetricChart(metric=metric, element_id=f"chart-{metric.name}", figure=figure))
    return charts


def stage_next_step(*, stage: str, framing_pending: bool, live: bool = False) -> str:
    """Return what comes next in ``stage``, in the words a stakeholder reads."""
    if stage == Stage.FRAMING and live:
        # The default policy lets a model go live before sign-off, so the step states it.
        return (
            "a model is live, but the framing is not signed off yet: waiting for sign-off"
            if framing_pending
            else "a model is live, but the framing is not signed off yet: request sign-off"
        )
    if stage == Stage.FRAMING:
        return (
            "waiting for sign-off"
            if framing_pending
            else "complete the framing and request sign-off"
        )
    return _NEXT_STEPS.get(stage, "")


def framing_status(
    *, project: Project, approvals: list[ApprovalRequest] | None = None, live: bool = False
) -> FramingStatus:
    """Summarise the framing. Pass ``approvals`` (newest first) when already loaded."""
    if approvals is None:
        approvals = list(
            ApprovalRequest.objects.filter(project=project, gate=Gate.FRAMING)
            .select_related("requested_by")
            .prefetch_related("decisions__decided_by")
            .order_by("-created_at", "-id")
        )
    framing_requests = [approval for approval in approvals if approval.gate == Gate.FRAMING]
    pending = next(
        (approval for approval in framing_requests if approval.status == RequestStatus.PENDING),
        None,
    )
    return FramingStatus(
        readiness=readiness_verdict(project.suitability or {}),
        target_version=(
            TargetVersion.objects.filter(project=project)
            .select_related("created_by", "agreed_by")
            .order_by("-number")
            .first()
        ),
        pending_request=pending,
        latest_request=framing_requests[0] if framing_requests else None,
        next_step=stage_next_step(
            stage=project.stage, framing_pending=pending is not None, live=live
        ),
    )


def target_version_list(*, project: Project) -> list[TargetVersion]:
    """Return every version of the project's targets, newest first."""
    return list(
        TargetVersion.objects.filter(project=project)
        .select_related("created_by", "agreed_by")
        .order_by("-number")
    )


def user_notifications(*, user: AbstractBaseUser | AnonymousUser) -> list[Notification]:
    """Return the user's most recent notifications, newest first."""
    if not user.is_authenticated:
        return []
    return list(
        Notification.objects.filter(user_id=user.pk)
        .select_related("project")
        .order_by("-created_at", "-id")[:NOTIFICATION_PAGE_SIZE]
    )


def unread_notification_count(*, user: AbstractBaseUser | AnonymousUser) -> int:
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def project_dashboard(*, project: Project) -> ProjectDashboard:
    """Collect everything the project page shows, in a fixed number of queries."""
    metrics = list(project.metrics.all())
    model_metrics = _model_metrics(metrics)
    iterations = list(
        Iteration.objects.filter(project=project)
        .select_related("dataset", "created_by")
        .order_by("number")
    )
    approvals = list(
        ApprovalRequest.objects.filter(project=project)
        .select_related("iteration", "requested_by")
        .prefetch_related("decisions__decided_by")
        .order_by("-created_at", "-id")
    )
    pending_iteration_ids = {
        approval.iteration_id
        for approval in approvals
        if approval.status == RequestStatus.PENDING and approval.gate == Gate.PROMOTION
    }
    rows = [
        iteration_row(
            iteration, model_metrics, has_pending_promotion=iteration.pk in pending_iteration_ids
        )
        for iteration in iterations
    ]
    deployments = list(
        Deployment.objects.filter(project=project)
        .select_related("iteration", "created_by")
        .order_by("-created_at", "-id")
    )
    live = next(
        (
            deployment
            for deployment in deployments
            if deployment.status == DeploymentStatus.LIVE and deployment.environment == PRODUCTION
        ),
        None,
    )
    return ProjectDashboard(
        project=project,
        metrics=metrics,
        model_metrics=model_metrics,
        rows=rows,
        best=_best_row(rows),
        charts=_charts(model_metrics, rows),
        datasets=list(
            DatasetVersion.objects.filter(project=project)
            .select_related("created_by")
            .order_by("-created_at", "-id")
        ),
        deployments=deployments,
        live_deployment=live,
        approvals=approvals,
        members=list(
            Membership.objects.filter(project=project)
            .select_related("user")
            .order_by("user__username", "role")
        ),
        health=project_health_report(project=project),
        framing=framing_status(project=project, approvals=approvals, live=live is not None),
        comments=list(comment_list(project=project)),
        pending_approvals=[a for a in approvals if a.status == RequestStatus.PENDING],
        observed_metrics=metric_observation_latest(project=project, metrics=metrics),
    )


def user_projects(*, user: AbstractBaseUser | AnonymousUser) -> list[ProjectSummary]:
    """Return the projects ``user`` belongs to, each with its best iteration and live version."""
    if not user.is_authenticated:
        return []
    projects = (
        Project.objects.filter(memberships__user_id=user.pk)
        .distinct()
        .prefetch_related(
            "metrics",
            Prefetch(
                "iterations",
                queryset=Iteration.objects.order_by("number").defer(
                    "holdout_sample", "environment", "feature_columns", "params"
                ),
            ),
            Prefetch(
                "deployments",
                queryset=Deployment.objects.filter(
                    status=DeploymentStatus.LIVE, environment=PRODUCTION
                ).select_related("iteration"),
                to_attr="live_deployments",
            ),
        )
        .order_by("name")
    )
    summaries = []
    for project in projects:
        metrics = _model_metrics(list(project.metrics.all()))
        iterations = list(project.iterations.all())
        rows = [iteration_row(iteration, metrics) for iteration in iterations]
        live_deployments: list[Deployment] = project.live_deployments
        summaries.append(
            ProjectSummary(
                project=project,
                headline_metric=metrics[0] if metrics else None,
                best=_best_row(rows),
                live_deployment=live_deployments[0] if live_deployments else None,
                iteration_count=sum(1 for iteration in iterations if not iteration.is_baseline),
            )
        )
    return summaries


def user_is_decision_maker(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user_id=user.pk, role__in=DECIDING_ROLES).exists()
