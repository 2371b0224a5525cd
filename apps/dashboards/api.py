"""Read-only endpoints with the dashboard data: a project's scorecard, a comparison, the portfolio."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.dashboards.comparison import (
    MAX_COMPARED,
    IterationComparison,
    comparison_numbers_parse,
    iteration_comparison,
)
from apps.dashboards.portfolio import Milestone, Portfolio, portfolio_for_user
from apps.dashboards.selectors import (
    DashboardFilters,
    DashboardSummary,
    IterationRow,
    ProjectDashboard,
    project_dashboard,
)
from apps.dashboards.serializers import (
    ComparisonSerializer,
    PortfolioQuerySerializer,
    PortfolioSerializer,
    ScorecardQuerySerializer,
    ScorecardSerializer,
)
from apps.projects.models import SuccessMetric


def _metric_data(metric: SuccessMetric) -> dict[str, Any]:
    return {
        "name": metric.name,
        "direction": metric.direction,
        "unit": metric.unit,
        "target": metric.target,
        "minimum": metric.minimum,
        "stretch": metric.stretch,
        "baseline": metric.baseline,
    }


def _summary_data(summary: DashboardSummary) -> dict[str, Any]:
    live = summary.live_deployment
    return {
        "best_iteration": summary.best.iteration.number if summary.best else None,
        "metric_count": summary.metric_count,
        "minimums_met": summary.minimums_met,
        "targets_met": summary.targets_met,
        "production_iteration": live.iteration.number if live else None,
        "production_model_version": (live.model_version or None) if live else None,
        "health": {"status": summary.health.status, "reasons": list(summary.health.reasons)},
        "next_date": (
            {
                "label": summary.next_date.label,
                "date": summary.next_date.date,
                "days": summary.next_date.days,
            }
            if summary.next_date
            else None
        ),
        "iterations_used": summary.iterations_used,
        "iteration_budget": summary.iteration_budget,
    }


def _row_data(row: IterationRow, production_id: int | None) -> dict[str, Any]:
    iteration = row.iteration
    return {
        "number": iteration.number,
        "status": iteration.status,
        "recipe": iteration.recipe,
        "dataset": str(iteration.dataset),
        "dataset_id": iteration.dataset_id,
        "author": iteration.created_by.get_username(),
        "is_baseline": iteration.is_baseline,
        "in_production": iteration.pk == production_id,
        "threshold": iteration.threshold,
        "expected_cost": iteration.expected_cost,
        "created_at": iteration.created_at,
        "cells": [
            {
                "metric": cell.metric.name,
                "value": cell.value,
                "verdict": cell.verdict,
                "minimum_verdict": cell.minimum_verdict,
                "change_from_previous": cell.change_from_previous,
                "change_from_production": cell.change_from_production,
            }
            for cell in row.cells
        ],
    }


def scorecard_data(dashboard: ProjectDashboard) -> dict[str, Any]:
    assert dashboard.summary is not None  # project_dashboard always sets it
    live = dashboard.live_deployment
    production_id = live.iteration_id if live else None
    return {
        "summary": _summary_data(dashboard.summary),
        "metrics": [_metric_data(metric) for metric in dashboard.model_metrics],
        "iterations": [_row_data(row, production_id) for row in dashboard.rows],
    }


def comparison_data(comparison: IterationComparison) -> dict[str, Any]:
    return {
        "iterations": [
            {
                "number": iteration.number,
                "recipe": iteration.recipe,
                "status": iteration.status,
                "threshold": iteration.threshold,
                "expected_cost": iteration.expected_cost,
                "has_evaluation": bool(iteration.evaluation),
            }
            for iteration in comparison.iterations
        ],
        "spec_differences": [
            {"field": difference.field, "values": difference.values}
            for difference in comparison.spec_differences
        ],
        "metric_deltas": [
            {
                "metric": delta.metric.name,
                "values": delta.values,
                "changes": delta.changes,
                "verdicts": delta.verdicts,
            }
            for delta in comparison.metric_deltas
        ],
        "evaluation": {
            str(iteration.number): iteration.evaluation or {} for iteration in comparison.iterations
        },
    }


def _milestone_data(milestone: Milestone) -> dict[str, Any]:
    return {
        "expected_days": milestone.expected_days,
        "actual_days": milestone.actual_days,
        "reached": milestone.reached,
        "late": milestone.late,
    }


def portfolio_data(portfolio: Portfolio) -> dict[str, Any]:
    return {
        "stalled_after_days": portfolio.stalled_after_days,
        "funnel": [
            {"key": label.lower().replace(" ", "_"), "label": label, "count": count}
            for label, count in portfolio.funnel
        ],
        "stages": [
            {"key": key, "label": label, "count": count}
            for key, label, count in portfolio.stage_counts
        ],
        "health": [
            {"key": key, "label": label, "count": count}
            for key, label, count in portfolio.health_counts
        ],
        "judged_count": portfolio.judged_count,
        "meeting_minimums_count": portfolio.meeting_minimums_count,
        "projects": [
            {
                "slug": item.project.slug,
                "name": item.project.name,
                "stage": item.project.stage,
                "health": {"status": item.health.status, "reasons": list(item.health.reasons)},
                "best_iteration": item.best.iteration.number if item.best else None,
                "meets_minimums": item.meets_minimums,
                "iteration_count": item.iteration_count,
                "last_iteration_at": item.last_iteration_at,
                "days_since_activity": item.days_since_activity,
                "stalled": item.stalled,
                "production_iteration": (
                    item.live_deployment.iteration.number if item.live_deployment else None
                ),
                "serving": item.serving,
                "serving_without_signoff": item.serving_without_signoff,
                "first_model": _milestone_data(item.first_model),
                "production": _milestone_data(item.production),
            }
            for item in portfolio.projects
        ],
    }


class ScorecardApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(
        parameters=[ScorecardQuerySerializer],
        responses=ScorecardSerializer,
        summary="Get the project's summary and scorecard",
        description="Every iteration against each model metric's target, with its change from "
        "the previous iteration and from production in percent (positive is better). The "
        "filters narrow the iterations; the summary always judges them all.",
    )
    def get(self, request: Request, slug: str) -> Response:
        query = ScorecardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = DashboardFilters(
            dataset=query.validated_data.get("dataset"),
            recipe=query.validated_data.get("recipe", ""),
            author=query.validated_data.get("author", ""),
        )
        dashboard = project_dashboard(project=self.project, filters=filters)
        return Response(ScorecardSerializer(scorecard_data(dashboard)).data)


class CompareApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "iterations",
                OpenApiTypes.STR,
                required=True,
                description=f"Two to {MAX_COMPARED} iteration numbers separated by commas, "
                "for example 3,5. Changes are against the first.",
            )
        ],
        responses=ComparisonSerializer,
        summary="Compare iterations",
        description="What differs between the iterations' specs, their metric deltas and "
        "their holdout curves.",
    )
    def get(self, request: Request, slug: str) -> Response:
        numbers = comparison_numbers_parse(request.query_params.getlist("iterations"))
        comparison = iteration_comparison(project=self.project, numbers=numbers, with_charts=False)
        return Response(ComparisonSerializer(comparison_data(comparison)).data)


class PortfolioApi(APIView):
    @extend_schema(
        parameters=[PortfolioQuerySerializer],
        responses=PortfolioSerializer,
        summary="Get the portfolio of the caller's projects",
        description="Stage funnel, health counts, the share meeting their minimums, time to "
        "first model and to production against the agreed dates, and stalled projects.",
    )
    def get(self, request: Request) -> Response:
        query = PortfolioQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        portfolio = portfolio_for_user(
            user=request.user,
            stalled_after_days=query.validated_data["stalled_after_days"],
            with_charts=False,
        )
        return Response(PortfolioSerializer(portfolio_data(portfolio)).data)
