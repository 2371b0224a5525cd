import datetime
import threading

import pytest
from django.utils import timezone

from apps.iterations.heartbeat import heartbeat
from apps.iterations.models import Iteration
from apps.iterations.reaper import iterations_reap
from apps.iterations.tasks import reap_stale_iterations
from apps.iterations.tests.uploads import cancer_dataset

pytestmark = pytest.mark.django_db

__all__ = ["cancer_dataset"]


def _running(project, cancer_dataset, *, beat_age_seconds):
    iteration = Iteration.objects.filter(project=project).order_by("number").first()
    assert iteration is not None
    Iteration.objects.filter(pk=iteration.pk).update(
        status="running",
        started_at=timezone.now() - datetime.timedelta(minutes=10),
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=beat_age_seconds),
    )
    return iteration


def test_reaper_fails_iteration_with_stale_heartbeat(project, cancer_dataset):
    iteration = _running(project, cancer_dataset, beat_age_seconds=600)

    reaped = iterations_reap()

    iteration.refresh_from_db()
    assert reaped == [iteration.pk]
    assert iteration.status == "failed"
    assert "stopped responding" in iteration.status_reason


def test_reaper_spares_iteration_with_fresh_heartbeat(project, cancer_dataset):
    iteration = _running(project, cancer_dataset, beat_age_seconds=5)

    assert iterations_reap() == []
    iteration.refresh_from_db()
    assert iteration.status == "running"


def test_reaper_task_runs_the_reaper(project, cancer_dataset):
    iteration = _running(project, cancer_dataset, beat_age_seconds=600)

    reap_stale_iterations()

    iteration.refresh_from_db()
    assert iteration.status == "failed"


def test_heartbeat_block_returns_promptly(project, cancer_dataset, settings):
    settings.ITERATION_HEARTBEAT_SECONDS = 3600
    iteration = _running(project, cancer_dataset, beat_age_seconds=5)

    with heartbeat(iteration.pk):
        pass

    iteration.refresh_from_db()
    assert iteration.status == "running"


@pytest.mark.django_db(transaction=True)
def test_heartbeat_stamps_running_iteration(project, cancer_dataset, settings):
    settings.ITERATION_HEARTBEAT_SECONDS = 0.05
    iteration = _running(project, cancer_dataset, beat_age_seconds=600)
    stale = Iteration.objects.get(pk=iteration.pk).heartbeat_at

    with heartbeat(iteration.pk):
        for _ in range(200):
            if Iteration.objects.get(pk=iteration.pk).heartbeat_at != stale:
                break
            threading.Event().wait(0.05)

    stamped = Iteration.objects.get(pk=iteration.pk).heartbeat_at
    assert stale is not None
    assert stamped is not None
    assert stamped > stale
