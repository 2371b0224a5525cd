"""Time one training through the portal's queue and worker against the same work as a script.

Run from the repository root: ``.venv/bin/python benchmarks/training/run.py [--repeat N]``.

Both sides do the same work on the same dataset version: ``apps.iterations.training.train``
(split, fit, evaluation), then logging the run, its metrics, evaluation artifacts and model to
MLflow and registering a model version. The baseline calls those functions in this process,
as a plain script would. The portal side queues an iteration with ``iteration_start`` and
waits for a ``celery -A portal worker`` process, started here and idle before each
iteration, to finish it. Everything lives in a temporary folder (SQLite database, MLflow
store, filesystem broker), so the run touches no other state.

Reported, with the fastest of ``--repeat`` runs of each side because on a shared machine the
slower runs measure the other load:

- time ratio: portal end-to-end time (``iteration_start`` returns to the iteration reading
  succeeded, polled every 20 ms) over the baseline's time. Goal: at most 1.25.
- queue-to-start: the iteration's ``started_at`` minus its ``created_at``, the time a queued
  iteration waits for an idle worker to claim it. Goal: at most 2 s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
TIME_RATIO_GOAL = 1.25
QUEUE_TO_START_GOAL_S = 2.0
WORKER_READY_TIMEOUT_S = 120.0
ITERATION_TIMEOUT_S = 600.0
POLL_INTERVAL_S = 0.02
RECIPE = "random_forest"
PARAMS = {"n_estimators": 200}
# Settings that would point the benchmark at another database, store or broker.
INHERITED_SETTINGS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_WRITE_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_ARTIFACT_ROOT",
    "PORTAL_MEDIA_ROOT",
)


def _environment(var_dir: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS}
    environment |= {
        "PORTAL_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CELERY_BROKER_URL": "filesystem://",
        "PYTHONUNBUFFERED": "1",
    }
    return environment


def _worker_start(environment: dict[str, str], log_path: Path) -> "subprocess.Popen[bytes]":
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-P",
                "solo",
                "-Q",
                "cpu",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=info",
            ],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while " ready." not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise SystemExit(f"The worker did not start. Its log:\n{log_path.read_text()}")
        time.sleep(0.2)
    return worker


def _setup(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    for name in INHERITED_SETTINGS:
        if name not in environment:
            os.environ.pop(name, None)
    sys.path.insert(0, str(REPOSITORY_ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _project_and_dataset() -> tuple[Any, Any, Any]:
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from sklearn.datasets import load_breast_cancer

    from apps.datasets.services import dataset_create
    from apps.iterations.models import Iteration, IterationStatus
    from apps.projects.models import TaskType
    from apps.projects.services import MetricInput, project_create

    user = User.objects.create_user("benchmark")
    project = project_create(
        user=user,
        name="Training benchmark",
        business_problem="Measure the overhead of training through the portal.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[MetricInput(name="roc_auc", target=0.95)],
        cost_false_positive=1.0,
        cost_false_negative=10.0,
    )
    frame = load_breast_cancer(as_frame=True).frame
    dataset = dataset_create(
        project=project,
        user=user,
        uploaded_file=SimpleUploadedFile("biopsies.csv", frame.to_csv(index=False).encode()),
        name="biopsies",
        target_column="target",
    )
    # The upload queues the two baseline iterations, which the worker is not running yet;
    # they are cancelled so every timed iteration finds the worker idle.
    Iteration.objects.filter(project=project, status=IterationStatus.QUEUED).update(
        status=IterationStatus.CANCELLED
    )
    return user, project, dataset


def _baseline_once(project: Any, dataset: Any, number: int) -> float:
    """Train and log as a script would, with the portal's own functions; return seconds."""
    from apps.iterations import mlflow_adapter
    from apps.iterations.recipes import RECIPES, recipe_params_validate
    from apps.iterations.services import datetime_features, training_features
    from apps.iterations.training import train

    recipe = RECIPES[RECIPE]
    started = time.perf_counter()
    result = train(
        dataset_path=dataset.file.path,
        dataset_format=dataset.format,
        dataset_detected=dataset.detected or None,
        target=dataset.target_column,
        feature_columns=training_features(dataset),
        datetime_columns=datetime_features(dataset),
        recipe=recipe,
        params=recipe_params_validate(recipe, PARAMS, task_type=project.task_type),
        seed=number,
        test_size=0.2,
        task_type=project.task_type,
        cost_false_positive=project.cost_false_positive,
        cost_false_negative=project.cost_false_negative,
    )
    logged = mlflow_adapter.training_run_log(
        project_slug=f"{project.slug}-script",
        iteration_number=number,
        params={"recipe": RECIPE, **PARAMS, "seed": number},
        metrics=result.metrics,
        pipeline=result.pipeline,
        input_example=result.input_example,
        tags={},
        evaluation=result.evaluation,
        environment=result.environment,
    )
    mlflow_adapter.model_version_register(
        run_id=logged.run_id,
        model_name=mlflow_adapter.registered_model_name(f"{project.slug}-script"),
    )
    return time.perf_counter() - started


def _portal_once(project: Any, user: Any, dataset: Any, number: int) -> dict[str, float]:
    """Queue one iteration, wait for the worker to finish it and return its timings."""
    from apps.iterations.models import Iteration, IterationStatus
    from apps.iterations.services import iteration_start

    started = time.perf_counter()
    iteration = iteration_start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe=RECIPE,
        params=PARAMS,
        seed=number,
    )
    deadline = started + ITERATION_TIMEOUT_S
    while True:
        current = Iteration.objects.get(pk=iteration.pk)
        if current.is_finished:
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"Iteration {current.number} did not finish in time.")
        time.sleep(POLL_INTERVAL_S)
    seconds = time.perf_counter() - started
    if current.status != IterationStatus.SUCCEEDED:
        raise SystemExit(f"Iteration {current.number} {current.status}: {current.status_reason}")
    assert current.started_at is not None
    queue_to_start = (current.started_at - current.created_at).total_seconds()
    return {"seconds": seconds, "queue_to_start_s": queue_to_start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each side (default 3).")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="portal-training-benchmark-") as folder:
        var_dir = Path(folder)
        environment = _environment(var_dir)
        _setup(environment)
        user, project, dataset = _project_and_dataset()
        worker = _worker_start(environment, var_dir / "worker.log")
        try:
            baseline: list[float] = []
            portal: list[dict[str, float]] = []
            # Alternating the sides spreads any change in machine load over both.
            for number in range(1, arguments.repeat + 1):
                baseline.append(_baseline_once(project, dataset, number))
                portal.append(_portal_once(project, user, dataset, number))
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    baseline_best = min(baseline)
    portal_best = min(run["seconds"] for run in portal)
    queue_to_start = [run["queue_to_start_s"] for run in portal]
    report = {
        "recipe": RECIPE,
        "params": PARAMS,
        "rows": dataset.row_count,
        "repeat": arguments.repeat,
        "baseline_s": [round(value, 3) for value in baseline],
        "portal_s": [round(run["seconds"], 3) for run in portal],
        "time_ratio": round(portal_best / baseline_best, 3),
        "time_ratio_goal": TIME_RATIO_GOAL,
        "queue_to_start_s": [round(value, 3) for value in queue_to_start],
        "queue_to_start_median_s": round(statistics.median(queue_to_start), 3),
        "queue_to_start_goal_s": QUEUE_TO_START_GOAL_S,
    }
    print(json.dumps(report, indent=2))
    ratio_met = report["time_ratio"] <= TIME_RATIO_GOAL
    start_met = max(queue_to_start) <= QUEUE_TO_START_GOAL_S
    print(
        f"time ratio {report['time_ratio']:.2f}x (goal <= {TIME_RATIO_GOAL}x): "
        f"{'met' if ratio_met else 'missed'}; queue-to-start max {max(queue_to_start):.2f} s "
        f"(goal <= {QUEUE_TO_START_GOAL_S} s): {'met' if start_met else 'missed'}"
    )


if __name__ == "__main__":
    main()
