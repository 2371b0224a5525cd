"""Two gunicorn processes serving the same project see swaps, rollbacks and retirement."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User

from apps.accounts.services import token_create
from apps.deployments.models import Deployment
from apps.deployments.services import (
    deployment_create,
    deployment_retire,
    deployment_rollback,
    deployment_run,
)
from apps.deployments.tests.training import dataset_upload, iteration_train
from apps.projects.models import Project
from tests.e2e.conftest import REPO_ROOT, _database_url

pytestmark = pytest.mark.e2e

REFRESH_SECONDS = 1
# Generous next to the one-second refresh bound, so a slow machine does not fail the test.
SWITCH_TIMEOUT = 60.0
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def start_servers(settings: Any, tmp_path: Path) -> Iterator[Callable[[int], list[str]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(count: int) -> list[str]:
        urls = []
        for index in range(count):
            port = _free_port()
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "DATABASE_URL": _database_url(),
                "PORTAL_VAR_DIR": str(tmp_path / f"server-{index}"),
                "PORTAL_MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
                "MLFLOW_ARTIFACT_ROOT": settings.MLFLOW_ARTIFACT_ROOT,
                "PORTAL_SERVING_REFRESH_SECONDS": str(REFRESH_SECONDS),
                "PORTAL_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": "1",
            }
            log = (tmp_path / f"server-{index}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "gunicorn"),
                        "-c",
                        "portal/gunicorn.conf.py",
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        return urls

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _predict(url: str, slug: str, key: str, rows: list[dict[str, Any]]) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/projects/{slug}/predict/",
        json={"instances": rows},
        headers={"Authorization": f"Token {key}"},
        timeout=30,
    )


def _wait_until(check: Callable[[], bool], *, timeout: float, description: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {description}.")
        time.sleep(0.2)


def _deploy(project: Project, iteration: Any, user: User) -> Deployment:
    deployment = deployment_create(project=project, iteration=iteration, approval=None, user=user)
    deployment_run(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == "live", deployment.status_reason
    return deployment


@pytest.mark.usefixtures("transactional_db")
def test_every_server_process_follows_the_live_version(
    start_servers: Callable[[int], list[str]],
    project: Project,
    alice: User,
    dana: User,
    breast_cancer_csv: Path,
) -> None:
    dataset = dataset_upload(project=project, user=alice, csv_path=breast_cancer_csv)
    first = _deploy(project, iteration_train(project=project, user=alice, dataset=dataset), alice)
    rows = first.iteration.holdout_sample["rows"][:2]
    _, key = token_create(user=alice, name="e2e")
    urls = start_servers(2)

    def serves(version: str) -> Callable[[], bool]:
        def check() -> bool:
            for url in urls:
                try:
                    response = _predict(url, project.slug, key, rows)
                except requests.ConnectionError:
                    return False
                if response.status_code != 200 or response.json()["model_version"] != version:
                    return False
            return True

        return check

    _wait_until(serves(first.model_version), timeout=START_TIMEOUT, description="servers ready")

    second_iteration = iteration_train(project=project, user=alice, dataset=dataset, seed=1)
    second = _deploy(project, second_iteration, alice)
    _wait_until(serves(second.model_version), timeout=SWITCH_TIMEOUT, description="the swap")

    deployment_rollback(project=project, user=dana)
    _wait_until(serves(first.model_version), timeout=SWITCH_TIMEOUT, description="the rollback")

    live = Deployment.objects.get(project=project, status="live")
    deployment_retire(deployment=live, user=dana, reason="Retired by the test.")

    def conflicts() -> bool:
        return all(_predict(url, project.slug, key, rows).status_code == 409 for url in urls)

    _wait_until(conflicts, timeout=SWITCH_TIMEOUT, description="the retirement")
