import datetime

import pytest
from django.utils import timezone

from apps.projects.health import Health, HealthReport, project_health
from apps.projects.models import Project, Stage

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2027, 3, 1)


def _health(project: Project, retired_at: datetime.datetime | None = None) -> HealthReport:
    return project_health(
        project=project,
        metrics=list(project.metrics.all()),
        iteration_metrics=[],
        iterations_used=0,
        today=TODAY,
        retired_at=retired_at,
    )


def test_retired_project_reason_says_retired_and_when(project: Project) -> None:
    project.stage = Stage.RETIRED
    retired_at = timezone.make_aware(datetime.datetime(2027, 2, 14, 10, 0))

    report = _health(project, retired_at=retired_at)

    assert report.status == Health.ON_TRACK
    assert report.reason == "The project was retired on 2027-02-14."
    assert "production" not in report.reason


def test_retired_project_without_date_uses_last_change(project: Project) -> None:
    Project.objects.filter(pk=project.pk).update(stage=Stage.RETIRED)
    project.refresh_from_db()

    report = _health(project)

    assert report.reason == f"The project was retired on {timezone.localdate(project.updated_at)}."


def test_project_in_production_reason_unchanged(project: Project) -> None:
    project.stage = Stage.IN_PRODUCTION

    report = _health(project)

    assert report.reason == "A model is in production."
