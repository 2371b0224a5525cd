"""Reads shaped for the home page, the project dashboard, the framing page and notifications.

Each selector runs a fixed number of queries, whatever the number of projects, iterations,
datasets or approvals: related rows come in with ``select_related`` and ``prefetch_related``.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.permissions import ROLE_ACTIONS, Action
from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.audit.models import Notification
from apps.dashboards.comparison import relative_change
from apps.dashboards.figures import metric_trend_figure
from apps.datasets.models import DatasetVersion
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.framing import ReadinessReport, readiness_verdict
from apps.projects.health import HealthReport, project_health
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
)

DECIDING_ROLES = [role.value for role, actions in ROLE_ACTIONS.items() if Action.DECIDE in actions]

NOTIFICATION_PAGE_SIZE = 100

# The scorecard shows this many of the newest iterations unless the reader asks for all.
SCORECARD_ROWS = 50

# Columns the dashboard never reads; skipping them keeps 500 iterations cheap to load.
HEAVY_ITERATION_FIELDS = (
    "evaluation",
    "holdout_sample",
    "progress",
    "environment",
    "feature_columns",
    "reproduction",
)
HEAVY_DATASET_FIELDS = ("dataset__profile", "dataset__schema", "dataset__detected")

_NEXT_STEPS: dict[str, str] = {
    Stage.APPROVED: "signed off; upload a dataset and start the first iteration",
    Stage.IN_DEVELOPMENT: "iterate until a model meets the targets, then request promotion",
    Stage.IN_PRODUCTION: "a model serves predictions; watch its metrics against the targets",
    Stage.REJECTED: "revise the framing and request sign-off again",
    Stage.RETIRED: "no further work is planned",
}


@dataclass(frozen=True)
class MetricCell:
    """One iteration's value of one metric, judged, with its changes in percent (+ is better)."""

    metric: SuccessMetric
    value: float | None
    verdict: str
    minimum_verdict: str
    change_from_previous: float | None = None
    change_from_production: float | None = None


@dataclass(frozen=True)
class IterationRow:
    iteration: Iteration
    cells: list[MetricCell]
    has_pending_promotion: bool

    @property
    def met_count(self) -> int:
        return sum(1 for cell in self.cells if cell.verdict == Verdict.MET)

    @property
    def minimum_met_count(self) -> int:
        """Count metrics whose minimum is met; a metric without a minimum uses its target."""
        return sum(
            1
            for cell in self.cells
            if (cell.minimum_verdict if cell.metric.minimum is not None else cell.verdict)
            == Verdict.MET
        )

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
class DashboardFilters:
    """The dataset, recipe and author filters of the charts and scorecard; empty means all."""

    dataset: int | None = None
    recipe: str = ""
    author: str = ""

    @property
    def active(self) -> bool:
        return self.dataset is not None or bool(self.recipe) or bool(self.author)

    def matches(self, iteration: Iteration) -> bool:
        if self.dataset is not None and iteration.dataset_id != self.dataset:
            return False
        if self.recipe and iteration.recipe != self.recipe:
            return False
        return not self.author or iteration.created_by.get_username() == self.author


def dashboard_filters_parse(params: Mapping[str, str]) -> DashboardFilters:
    """Read the filters from query parameters; a malformed dataset id is ignored, not an error."""
    dataset_text = (params.get("dataset") or "").strip()
    return DashboardFilters(
        dataset=int(dataset_text) if dataset_text.isdigit() else None,
        recipe=(params.get("recipe") or "").strip()[:64],
        author=(params.get("author") or "").strip()[:150],
    )


@dataclass(frozen=True)
class FilterOptions:
    datasets: list[DatasetVersion]
    recipes: list[str]
    authors: list[str]


@dataclass(frozen=True)
class NextDate:
    """The next agreed date the project works toward, and the days left (negative if past)."""

    label: str
    date: datetime.date
    days: int

    @property
    def overdue_days(self) -> int:
        return max(0, -self.days)


@dataclass(frozen=True)
class DashboardSummary:
    """The plain-words summary at the top of a project page: is the project on track?"""

    best: IterationRow | None
    metric_count: int
    minimums_met: int
    targets_met: int
    live_deployment: Deployment | None
    health: HealthReport
    next_date: NextDate | None
    iterations_used: int
    iteration_budget: int | None

    @property
    def budget_share(self) -> float | None:
        if not self.iteration_budget:
            return None
        return self.iterations_used / self.iteration_budget


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
    summary: DashboardSummary | None = None
    filters: DashboardFilters = field(default_factory=DashboardFilters)
    filter_options: FilterOptions | None = None
    all_rows: list[IterationRow] = field(default_factory=list)

    @property
    def budget_used(self) -> int:
        """Iterations counted against the expected number; the automatic baselines are not."""
        return sum(1 for row in self.all_rows or self.rows if not row.iteration.is_baseline)

    @property
    def scorecard_rows(self) -> list[IterationRow]:
        """The newest rows of the scorecard, oldest first, so the page stays short."""
        return self.rows[-SCORECARD_ROWS:]

    @property
    def hidden_row_count(self) -> int:
        return max(0, len(self.rows) - SCORECARD_ROWS)


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


def best_row(rows: list[IterationRow]) -> IterationRow | None:
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


def model_metrics_of(metrics: list[SuccessMetric]) -> list[SuccessMetric]:
    # Training measures model metrics only; business and operational ones are judged live.
    return [metric for metric in metrics if metric.kind == MetricKind.MODEL]


def _baseline_value(
    metric: SuccessMetric, baseline_rows: list[IterationRow], index: int
) -> float | None:
    """Return the agreed baseline value, or else the newest automatic baseline's value."""
    if metric.baseline is not None:
        return metric.baseline
    for row in reversed(baseline_rows):
        if row.cells[index].value is not None:
            return row.cells[index].value
    return None


def _charts(
    metrics: list[SuccessMetric],
    rows: list[IterationRow],
    *,
    production_number: int | None = None,
) -> list[MetricChart]:
    succeeded = [row for row in rows if row.iteration.status == IterationStatus.SUCCEEDED]
    plotted = [row for row in succeeded if not row.iteration.is_baseline]
    baseline_rows = [row for row in succeeded if row.iteration.is_baseline]
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
            stretch=metric.stretch,
            baseline=_baseline_value(metric, baseline_rows, index),
            baseline_points=[
                (row.iteration.number, row.cells[index].value) for row in baseline_rows
            ],
            production_number=production_number if production_number in numbers else None,
            unit=metric.unit,
        )
        charts.append(MetricChart(metric=metric, element_id=f"chart-{metric.name}", figure=figure))
    return charts


def _with_changes(rows: list[IterationRow], production: IterationRow | None) -> list[IterationRow]:
    """Add to each cell its change from the previous succeeded model iteration and production."""
    result = []
    previous: IterationRow | None = None
    for row in rows:
        judged = row.iteration.status == IterationStatus.SUCCEEDED and not row.iteration.is_baseline
        if not judged:
            result.append(row)
            continue
        cells = []
        for index, cell in enumerate(row.cells):
            direction = cell.metric.direction
            cells.append(
                replace(
                    cell,
                    change_from_previous=(
                        relative_change(
                            value=cell.value,
                            reference=previous.cells[index].value,
                            direction=direction,
                        )
                        if previous is not None
                        else None
                    ),
                    change_from_production=(
                        relative_change(
                            value=cell.value,
                            reference=production.cells[index].value,
                            direction=direction,
                        )
                        if production is not None and production.iteration.pk != row.iteration.pk
                        else None
                    ),
                )
            )
        changed = replace(row, cells=cells)
        result.append(changed)
        previous = changed
    return result


def _next_date(project: Project, *, has_model: bool, today: datetime.date) -> NextDate | None:
    if project.stage in (Stage.IN_PRODUCTION, Stage.RETIRED, Stage.REJECTED):
        return None
    if not has_model and project.first_model_by is not None:
        return NextDate(
            "first model", project.first_model_by, (project.first_model_by - today).days
        )
    if project.production_by is not None:
        return NextDate("production", project.production_by, (project.production_by - today).days)
    return None


def dashboard_summary(
    *,
    project: Project,
    metrics: list[SuccessMetric],
    rows: list[IterationRow],
    live: Deployment | None,
    today: datetime.date,
) -> DashboardSummary:
    """Summarise a project from rows already loaded, without a query."""
    model_metrics = model_metrics_of(metrics)
    best = best_row(rows)
    counted = [row for row in rows if not row.iteration.is_baseline]
    succeeded = [row for row in counted if row.iteration.status == IterationStatus.SUCCEEDED]
    health = project_health(
        project=project,
        metrics=metrics,
        iteration_metrics=[row.iteration.metrics for row in succeeded],
        iterations_used=len(counted),
        today=today,
    )
    return DashboardSummary(
        best=best,
        metric_count=len(model_metrics),
        minimums_met=best.minimum_met_count if best else 0,
        targets_met=best.met_count if best else 0,
        live_deployment=live,
        health=health,
        next_date=_next_date(project, has_model=bool(succeeded), today=today),
        iterations_used=len(counted),
        iteration_budget=project.expected_iterations,
    )


def _filter_options(iterations: list[Iteration], datasets: list[DatasetVersion]) -> FilterOptions:
    used_datasets = {iteration.dataset_id for iteration in iterations}
    return FilterOptions(
        datasets=[dataset for dataset in datasets if dataset.pk in used_datasets],
        recipes=sorted({iteration.recipe for iteration in iterations}),
        authors=sorted({iteration.created_by.get_username() for iteration in iterations}),
    )


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


def _live_production(deployments: list[Deployment]) -> Deployment | None:
    return next(
        (
            deployment
            for deployment in deployments
            if deployment.status == DeploymentStatus.LIVE and deployment.environment == PRODUCTION
        ),
        None,
    )


def project_dashboard(
    *, project: Project, filters: DashboardFilters | None = None
) -> ProjectDashboard:
    """Collect everything the project page shows, in a fixed number of queries.

    ``filters`` narrow the charts and the scorecard. The summary, the best iteration and the
    health always judge every iteration, so a filter cannot hide that a project is off track.
    """
    filters = filters or DashboardFilters()
    metrics = list(project.metrics.all())
    model_metrics = model_metrics_of(metrics)
    iterations = list(
        Iteration.objects.filter(project=project)
        .select_related("dataset", "created_by")
        .defer(*HEAVY_ITERATION_FIELDS, *HEAVY_DATASET_FIELDS)
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
    deployments = list(
        Deployment.objects.filter(project=project)
        .select_related("iteration", "created_by")
        .defer(*(f"iteration__{name}" for name in HEAVY_ITERATION_FIELDS))
        .order_by("-created_at", "-id")
    )
    live = _live_production(deployments)
    all_rows = [
        iteration_row(
            iteration, model_metrics, has_pending_promotion=iteration.pk in pending_iteration_ids
        )
        for iteration in iterations
    ]
    production_row = next(
        (row for row in all_rows if live is not None and row.iteration.pk == live.iteration_id),
        None,
    )
    all_rows = _with_changes(all_rows, production_row)
    rows = [row for row in all_rows if filters.matches(row.iteration)]
    datasets = list(
        DatasetVersion.objects.filter(project=project)
        .select_related("created_by")
        .defer("profile", "schema")
        .order_by("-created_at", "-id")
    )
    summary = dashboard_summary(
        project=project, metrics=metrics, rows=all_rows, live=live, today=timezone.localdate()
    )
    return ProjectDashboard(
        project=project,
        metrics=metrics,
        model_metrics=model_metrics,
        rows=rows,
        best=summary.best,
        charts=_charts(
            model_metrics,
            rows,
            production_number=production_row.iteration.number if production_row else None,
        ),
        datasets=datasets,
        deployments=deployments,
        live_deployment=live,
        approvals=approvals,
        members=list(
            Membership.objects.filter(project=project)
            .select_related("user")
            .order_by("user__username", "role")
        ),
        health=summary.health,
        framing=framing_status(project=project, approvals=approvals, live=live is not None),
        comments=list(comment_list(project=project)),
        pending_approvals=[a for a in approvals if a.status == RequestStatus.PENDING],
        observed_metrics=metric_observation_latest(project=project, metrics=metrics),
        summary=summary,
        filters=filters,
        filter_options=_filter_options(iterations, datasets),
        all_rows=all_rows,
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
        metrics = model_metrics_of(list(project.metrics.all()))
        iterations = list(project.iterations.all())
        rows = [iteration_row(iteration, metrics) for iteration in iterations]
        live_deployments: list[Deployment] = project.live_deployments
        summaries.append(
            ProjectSummary(
                project=project,
                headline_metric=metrics[0] if metrics else None,
                best=best_row(rows),
                live_deployment=live_deployments[0] if live_deployments else None,
                iteration_count=sum(1 for iteration in iterations if not iteration.is_baseline),
            )
        )
    return summaries


def user_is_decision_maker(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user_id=user.pk, role__in=DECIDING_ROLES).exists()
