import datetime

import pytest
from django.utils import timezone

from apps.dashboards.tests.conftest import dataset, make_iteration
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.services import deployments_reap
from apps.deployments.tasks import reap_stale_deployments

pytestmark = pytest.mark.django_db

__all__ = ["dataset", "make_iteration"]


def _deploying(project, iteration, *, age_seconds):
    return Deployment.objects.create(
        project=project,
        iteration=iteration,
        status=DeploymentStatus.DEPLOYING,
        deploying_since=timezone.now() - datetime.timedelta(seconds=age_seconds),
    )


def test_reaper_fails_deployment_stuck_deploying(project, make_iteration):
    stuck = _deploying(project, make_iteration(1), age_seconds=3600)

    assert deployments_reap() == [stuck.pk]

    stuck.refresh_from_db()
    assert stuck.status == DeploymentStatus.FAILED
    assert "stopped before finishing" in stuck.status_reason


def test_reaper_spares_recent_deployment(project, make_iteration):
    recent = _deploying(project, make_iteration(1), age_seconds=30)

    reap_stale_deployments()

    recent.refresh_from_db()
    assert recent.status == DeploymentStatus.DEPLOYING
