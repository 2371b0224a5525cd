"""Batch scoring through the API, scored by a real Celery worker."""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from django.contrib.auth.models import User

from apps.accounts.services import token_create
from apps.deployments.services import deployment_create, deployment_run
from apps.deployments.tests.training import dataset_upload, iteration_train
from apps.projects.models import Project
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

BATCH_TIMEOUT = 180.0


@pytest.mark.usefixtures("transactional_db")
def test_uploaded_csv_is_scored_by_worker_and_downloaded(
    live_server: Any,
    celery_worker: WorkerProcess,
    wait_for: Callable[..., Any],
    project: Project,
    alice: User,
    breast_cancer_csv: Path,
) -> None:
    dataset = dataset_upload(project=project, user=alice, csv_path=breast_cancer_csv)
    iteration = iteration_train(project=project, user=alice, dataset=dataset)
    deployment = deployment_create(project=project, iteration=iteration, approval=None, user=alice)
    deployment_run(deployment_id=deployment.pk)
    _, key = token_create(user=alice, name="e2e")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    base = f"{live_server.url}/api/v1/projects/{project.slug}/batches/"
    rows = pd.read_csv(breast_cancer_csv).drop(columns=["diagnosis"]).head(300)

    created = session.post(
        base,
        files={"file": ("rows.csv", rows.to_csv(index=False).encode(), "text/csv")},
        timeout=60,
    )
    assert created.status_code == 202, created.text
    batch_id = created.json()["id"]

    def finished() -> dict[str, Any] | None:
        body = session.get(f"{base}{batch_id}/", timeout=60).json()
        return body if body["status"] in {"succeeded", "failed"} else None

    batch = wait_for(finished, timeout=BATCH_TIMEOUT, description="the batch to finish")
    assert batch["status"] == "succeeded", batch["status_reason"]
    assert batch["rows_total"] == 300
    assert batch["rows_done"] == 300
    assert batch["progress"] == 1.0

    download = session.get(f"{base}{batch_id}/download/", timeout=60)
    assert download.status_code == 200
    scored = pd.read_csv(io.BytesIO(download.content))
    assert len(scored) == 300
    assert set(scored["prediction"]) <= {0, 1}
    assert list(scored.columns[:-2]) == list(rows.columns)
