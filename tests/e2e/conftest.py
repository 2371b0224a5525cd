"""A real Celery worker process for end-to-end tests.

The worker is a separate ``celery -A portal worker`` process, so it reads its settings from
the environment. The fixture hands it the test database and the media folder and MLflow store
that this test uses. Its broker is the test's own, so a portal worker started from the same
checkout neither takes these tasks nor hands the test its own.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from tests.conftest import IsolatedBroker

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT = 90.0
WORKER_STOP_TIMEOUT = 15.0


@dataclass
class WorkerProcess:
    process: "subprocess.Popen[bytes]"
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _database_url() -> str:
    """Return a DATABASE_URL for the test database this process is connected to."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or "localhost"
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(f"No worker DATABASE_URL for the engine {db['ENGINE']}.")


def _worker_env(settings: Any, isolated_broker: IsolatedBroker) -> dict[str, str]:
    return {
        **os.environ,
        **isolated_broker.worker_env,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(),
        "PORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "MLFLOW_ARTIFACT_ROOT": settings.MLFLOW_ARTIFACT_ROOT,
        "PYTHONUNBUFFERED": "1",
    }


def _worker_stop(worker: WorkerProcess) -> None:
    if worker.process.poll() is not None:
        return
    worker.process.terminate()
    try:
        worker.process.wait(timeout=WORKER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


def _worker_launch(env: dict[str, str], log_path: Path) -> WorkerProcess:
    hostname = f"e2e-{uuid.uuid4().hex[:8]}@%h"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
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
                "cpu,serving",
                "--hostname",
                hostname,
                "--without-gossip",
                "--without-mingle",
                "--loglevel=info",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # A process group of its own lets a test kill the worker and any children at once.
            start_new_session=True,
        )
    return WorkerProcess(process=process, log_path=log_path)


WorkerStarter = Callable[..., WorkerProcess]


@pytest.fixture
def worker_start(
    transactional_db: None, settings: Any, tmp_path: Path, isolated_broker: IsolatedBroker
) -> Iterator[WorkerStarter]:
    """Return ``start(extra_env=None)``, which starts a ready worker; all are stopped after.

    Every worker it starts shares the test's database, media folder, MLflow store and broker.
    """
    started: list[WorkerProcess] = []

    def start(extra_env: dict[str, str] | None = None) -> WorkerProcess:
        env = {**_worker_env(settings, isolated_broker), **(extra_env or {})}
        worker = _worker_launch(env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        _worker_wait_ready(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            _worker_stop(worker)


@pytest.fixture
def celery_worker(worker_start: WorkerStarter) -> WorkerProcess:
    """Start ``celery -A portal worker`` on the test database and stop it after the test."""
    return worker_start()


def _worker_wait_ready(worker: WorkerProcess) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(
                f"The Celery worker exited with status {worker.process.returncode} "
                f"before it was ready. Its log:\n{worker.log_tail()}"
            )
        if " ready." in worker.log():
            return
        time.sleep(0.2)
    pytest.fail(
        f"The Celery worker was not ready within {WORKER_START_TIMEOUT:.0f} s. "
        f"Its log:\n{worker.log_tail()}"
    )


@pytest.fixture
def wait_for(celery_worker: WorkerProcess) -> Callable[..., Any]:
    """Return ``wait(check, timeout=, description=)``: poll ``check`` until it returns a truthy
    value and return that value, failing with the worker's log when time runs out."""

    def wait(check: Callable[[], Any], *, timeout: float, description: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if celery_worker.process.poll() is not None:
                pytest.fail(
                    f"The Celery worker exited with status {celery_worker.process.returncode} "
                    f"while waiting for {description}. Its log:\n{celery_worker.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Timed out after {timeout:.0f} s waiting for {description}. "
                    f"The worker's log:\n{celery_worker.log_tail()}"
                )
            time.sleep(0.5)

    return wait
