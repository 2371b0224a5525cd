"""A worker killed with SIGKILL mid-fit: the reaper fails its iteration, and a second worker
that receives the task again neither trains it nor logs a second MLflow run."""

import datetime
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from sklearn.datasets import make_classification

from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.reaper import iterations_reap
from apps.iterations.services import iteration_start
from apps.iterations.tasks import train_iteration
from apps.iterations.tests.uploads import upload_csv
from apps.projects.models import Project
from tests.e2e.conftest import WorkerProcess, WorkerStarter

pytestmark = pytest.mark.e2e

FIT_START_TIMEOUT = 240.0
WORKER_EXIT_TIMEOUT = 15.0
REDELIVERY_TIMEOUT = 120.0
# Enough trees on enough rows and columns that the fit lasts far longer than the wait for its
# first heartbeat, so the worker is killed mid-fit rather than after the run was logged.
SLOW_FOREST_PARAMS = {"n_estimators": 5000, "max_depth": None, "min_samples_leaf": 1}


def _wide_csv(tmp_path: Path) -> Path:
    features, labels = make_classification(
        n_samples=4000, n_features=60, n_informative=30, random_state=5
    )
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(features.shape[1])])
    frame["label"] = labels
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    return path


def _wait(
    check: Callable[[], Any], *, timeout: float, description: str, worker: WorkerProcess
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(
                f"Timed out after {timeout:.0f} s waiting for {description}. "
                f"The worker's log:\n{worker.log_tail()}"
            )
        time.sleep(0.5)


def _mlflow_run_count(iteration: Iteration) -> int:
    """Count this iteration's MLflow runs in any state, matched by its training task id."""
    client = mlflow.MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    experiment = client.get_experiment_by_name(
        mlflow_adapter.experiment_name(iteration.project.slug)
    )
    if experiment is None:
        return 0
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{mlflow_adapter.TASK_TAG}` = '{iteration.task_id}'",
    )
    return len(runs)


def _fitting_with_heartbeat(iteration_id: int) -> Iteration | None:
    iteration = Iteration.objects.get(pk=iteration_id)
    if iteration.is_finished:
        pytest.fail(f"The iteration ended {iteration.status} before the worker was killed.")
    beaten = (
        iteration.status == IterationStatus.RUNNING
        and iteration.heartbeat_at is not None
        and iteration.started_at is not None
        and iteration.heartbeat_at > iteration.started_at
    )
    if beaten and iteration.progress.get("stage") == "fitting":
        return iteration
    return None


@pytest.mark.usefixtures("transactional_db")
def test_killed_worker_iteration_is_reaped(
    worker_start: WorkerStarter, project: Project, alice: User, tmp_path: Path
) -> None:
    first = worker_start({"PORTAL_ITERATION_HEARTBEAT_SECONDS": "1"})
    dataset = upload_csv(project, alice, _wide_csv(tmp_path), "label", name="wide")
    queued = iteration_start(
        project=project,
        user=alice,
        dataset_id=dataset.pk,
        recipe="random_forest",
        params=SLOW_FOREST_PARAMS,
        seed=3,
    )

    running = _wait(
        lambda: _fitting_with_heartbeat(queued.pk),
        timeout=FIT_START_TIMEOUT,
        description=f"iteration {queued.number} to be fitting with a heartbeat",
        worker=first,
    )
    assert running.status == IterationStatus.RUNNING

    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=WORKER_EXIT_TIMEOUT)
    assert first.process.returncode == -signal.SIGKILL

    # Nothing is left to mark the run failed, so it stays running until the reaper looks.
    assert Iteration.objects.get(pk=queued.pk).status == IterationStatus.RUNNING
    assert iterations_reap() == []
    past_limit = timezone.now() + datetime.timedelta(
        seconds=settings.ITERATION_STALE_AFTER_SECONDS + 60
    )
    reaped = iterations_reap(now=past_limit)

    assert reaped == [queued.pk]
    failed = Iteration.objects.get(pk=queued.pk)
    assert failed.status == IterationStatus.FAILED
    assert "stopped responding" in failed.status_reason
    assert failed.finished_at is not None
    assert failed.progress["stage"] == "fitting"
    assert _mlflow_run_count(failed) == 0

    # NOTE: whether the broker redelivers the killed task on its own is not deterministic: the
    # filesystem transport drops a message once a worker reads it, and Redis restores unacked
    # messages only after its visibility timeout (an hour by default). The test therefore
    # sends the same task id again, which is what a redelivery puts on the queue.
    second = worker_start()
    train_iteration.apply_async(args=(queued.pk,), task_id=queued.task_id)
    _wait(
        lambda: f"train_iteration[{queued.task_id}] succeeded" in second.log(),
        timeout=REDELIVERY_TIMEOUT,
        description="the second worker to finish the redelivered task",
        worker=second,
    )

    after = Iteration.objects.get(pk=queued.pk)
    assert after.status == IterationStatus.FAILED, second.log_tail()
    assert after.status_reason == failed.status_reason
    assert after.mlflow_run_id == ""
    assert _mlflow_run_count(after) == 0
