from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.progress import progress_percent
from apps.iterations.services import iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset
from apps.projects.models import Project

__all__ = ["cancer_dataset"]

ClientFor = Callable[[User], Client]

RUNNING_PROGRESS = {
    "stage": "fitting",
    "started_at": "2026-01-05T10:00:02+00:00",
    "log": ["10:00:00 Reading the dataset file.", "10:00:02 Fitting random_forest on 455 rows."],
}


def test_run_records_each_stage_in_order(project, alice, cancer_dataset):
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=3,
    )

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.progress["stage"] == "done"
    assert iteration.progress["started_at"]
    log = iteration.progress["log"]
    assert len(log) == 5
    assert "Reading the dataset file." in log[0]
    assert "Fitting logistic_regression" in log[1]
    assert "Evaluating on" in log[2]
    assert "MLflow" in log[3]
    assert f"Registered as version {iteration.model_version}." in log[4]


def test_cancelled_run_keeps_progress_unwritten(project, alice, cancer_dataset):
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=3,
    )
    Iteration.objects.filter(pk=iteration.pk).update(status=IterationStatus.CANCELLED)

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.progress == {}


def test_progress_percent_counts_current_stage_half_done():
    assert progress_percent({}) == 0
    assert progress_percent({"stage": "unknown"}) == 0
    assert progress_percent({"stage": "loading"}) == 12
    assert progress_percent({"stage": "fitting"}) == 37
    assert progress_percent({"stage": "logging"}) == 87


def test_status_partial_shows_stage_bar_and_log(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={}, status=IterationStatus.RUNNING, progress=RUNNING_PROGRESS)

    fragment = client_for(sam).get(reverse("iteration-status", args=[project.slug, 1])).text

    assert "width: 37%" in fragment
    assert 'class="progress-stage progress-stage-done">Loading' in fragment
    assert 'progress-stage-current" aria-current="step">Fitting' in fragment
    assert 'class="progress-stage progress-stage-pending">Evaluating' in fragment
    assert "10:00:02 Fitting random_forest on 455 rows." in fragment
    assert "<script" not in fragment


def test_queued_iteration_shows_no_stage_bar(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={}, status=IterationStatus.QUEUED)

    fragment = client_for(sam).get(reverse("iteration-status", args=[project.slug, 1])).text

    assert "progress-track" not in fragment


def test_api_detail_shows_progress(project, sam, make_iteration, api_client_for):
    make_iteration(1, metrics={}, status=IterationStatus.RUNNING, progress=RUNNING_PROGRESS)

    response = api_client_for(sam).get(f"/api/v1/projects/{project.slug}/iterations/1/")

    assert response.status_code == 200
    assert response.json()["progress"] == RUNNING_PROGRESS


def test_succeeded_iteration_shows_every_stage_done(project, alice, make_iteration, client):
    iteration = make_iteration(5, progress={"stage": "logging", "log": []})
    client.force_login(alice)

    page = client.get(f"/projects/{project.slug}/iterations/{iteration.number}/").content.decode()

    assert 'progress-stage-done">Logging' in page
    assert "progress-stage-current" not in page
