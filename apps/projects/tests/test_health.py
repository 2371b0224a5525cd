import datetime

import pytest

from apps.projects.health import Health, project_health
from apps.projects.models import Stage

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 1)
GOOD = {"roc_auc": 0.97, "recall": 0.95}
WEAK = {"roc_auc": 0.85, "recall": 0.95}


def _health(project, *, iteration_metrics=(), used=0, **plan):
    for field, value in plan.items():
        setattr(project, field, value)
    return project_health(
        project=project,
        metrics=list(project.metrics.all()),
        iteration_metrics=list(iteration_metrics),
        iterations_used=used,
        today=TODAY,
    )


def test_health_on_track_when_best_iteration_meets_minimums(project):
    report = _health(project, iteration_metrics=[WEAK, GOOD], used=2, expected_iterations=5)

    assert report.status == Health.ON_TRACK
    assert "meets every minimum" in report.reason


def test_health_at_risk_when_budget_nearly_used(project):
    report = _health(project, iteration_metrics=[WEAK], used=4, expected_iterations=5)

    assert report.status == Health.AT_RISK
    assert "4 of 5" in report.reason


def test_health_off_track_when_budget_exceeded_without_minimums(project):
    report = _health(project, iteration_metrics=[WEAK], used=6, expected_iterations=5)

    assert report.status == Health.OFF_TRACK
    assert "budget of 5" in report.reason


def test_health_off_track_when_production_date_passed(project):
    report = _health(
        project, iteration_metrics=[GOOD], used=1, production_by=datetime.date(2027, 2, 1)
    )

    assert report.status == Health.OFF_TRACK
    assert "2027-02-01" in report.reason


def test_health_at_risk_before_first_model(project):
    report = _health(project, first_model_by=datetime.date(2027, 3, 10))

    assert report.status == Health.AT_RISK
    assert "9 days" in report.reason


def test_undefined_metric_never_counts_as_met(project):
    report = _health(project, iteration_metrics=[{"roc_auc": None, "recall": 0.95}], used=1)

    assert report.status == Health.AT_RISK
    assert "1 of 2 minimums" in report.reason


def test_health_on_track_in_production(project):
    project.stage = Stage.IN_PRODUCTION

    assert _health(project, used=9, expected_iterations=2).status == Health.ON_TRACK


def test_project_api_reports_health(project, alice, api_client_for):
    body = api_client_for(alice).get(f"/api/v1/projects/{project.slug}/").json()

    assert body["health"] in Health.values
    assert body["health_reason"]
