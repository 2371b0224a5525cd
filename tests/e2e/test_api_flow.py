"""The v1 API from sign-in to prediction, with training and deployment done by a real worker."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from django.contrib.auth.models import User

from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-password"
TRAINING_TIMEOUT = 300.0
DEPLOY_TIMEOUT = 180.0
HTTP_TIMEOUT = 60.0


class Api:
    """A small v1 API client that fails the test with the response body on an unexpected status."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, *, expected: int, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}{path}", timeout=HTTP_TIMEOUT, **kwargs
        )
        assert response.status_code == expected, (
            f"{method} {path} returned {response.status_code}, expected {expected}: "
            f"{response.text[:2000]}"
        )
        return response.json() if response.content else None


def _sign_in(base_url: str, username: str) -> Api:
    body = Api(base_url).call(
        "POST",
        "/auth/token/",
        expected=200,
        json={"username": username, "password": PASSWORD},
    )
    return Api(base_url, token=body["token"])


def _user_with_password(username: str) -> User:
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(PASSWORD)
    user.save()
    return user


def _results(body: Any) -> list[dict[str, Any]]:
    """Return the items of a list response, paginated or not."""
    return body["results"] if isinstance(body, dict) else body


@pytest.mark.usefixtures("transactional_db")
def test_project_goes_from_upload_to_prediction(
    live_server: Any,
    celery_worker: WorkerProcess,
    wait_for: Callable[..., Any],
    breast_cancer_csv: Path,
) -> None:
    for username in ("alice", "sam", "dana"):
        _user_with_password(username)
    alice = _sign_in(live_server.url, "alice")
    dana = _sign_in(live_server.url, "dana")

    project = alice.call(
        "POST",
        "/projects/",
        expected=201,
        json={
            "name": "Biopsy triage end to end",
            "business_problem": "Read the biopsies most likely to be malignant first.",
            "task_type": "classification",
            "metrics": [
                {"name": "roc_auc", "target": 0.95, "minimum": 0.9},
                {"name": "recall", "target": 0.9},
            ],
            "expectations": {"expected_iterations": 3},
            "error_costs": {"false_negative": 20, "false_positive": 1},
            "members": [
                {"username": "sam", "role": "stakeholder"},
                {"username": "dana", "role": "decision_maker"},
            ],
        },
    )
    slug = project["slug"]

    with breast_cancer_csv.open("rb") as csv_file:
        dataset = alice.call(
            "POST",
            f"/projects/{slug}/datasets/",
            expected=201,
            files={"file": ("breast_cancer.csv", csv_file, "text/csv")},
            data={"name": "Breast cancer biopsies", "target": "diagnosis"},
        )
    assert dataset["rows"] == 569
    assert len(dataset["sha256"]) == 64

    queued = alice.call(
        "POST",
        f"/projects/{slug}/iterations/",
        expected=202,
        json={
            "dataset": dataset["id"],
            "recipe": "hist_gradient_boosting",
            "params": {},
            "seed": 42,
        },
    )
    assert queued["status"] == "queued"
    number = queued["number"]

    def iteration_finished() -> dict[str, Any] | None:
        body = alice.call("GET", f"/projects/{slug}/iterations/{number}/", expected=200)
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    iteration = wait_for(
        iteration_finished, timeout=TRAINING_TIMEOUT, description=f"iteration {number} to train"
    )
    assert iteration["status"] == "succeeded", (
        f"iteration ended as {iteration['status']}: {iteration}\n{celery_worker.log_tail()}"
    )
    assert iteration["metrics"]["roc_auc"] > 0.9
    assert iteration["mlflow_run_id"]
    assert iteration["model_version"]

    promotion = alice.call(
        "POST",
        f"/projects/{slug}/iterations/{number}/promotions/",
        expected=201,
        json={"comment": "Meets both targets on the holdout."},
    )
    assert promotion["status"] == "pending"
    approved = dana.call(
        "POST",
        f"/promotions/{promotion['id']}/approve/",
        expected=200,
        json={"comment": "Approved for the triage queue."},
    )
    assert approved["status"] == "approved"

    def deployment_live() -> dict[str, Any] | None:
        body = alice.call("GET", f"/projects/{slug}/deployments/", expected=200)
        for deployment in _results(body):
            if deployment["status"] == "failed":
                pytest.fail(f"The deployment failed: {deployment}\n{celery_worker.log_tail()}")
            if deployment["status"] == "live":
                return deployment
        return None

    deployment = wait_for(
        deployment_live, timeout=DEPLOY_TIMEOUT, description="the deployment to go live"
    )
    assert str(deployment["model_version"]) == str(iteration["model_version"])

    frame = pd.read_csv(breast_cancer_csv)
    rows = frame.head(20)
    instances = rows.drop(columns=["diagnosis"]).to_dict(orient="records")
    prediction = alice.call(
        "POST", f"/projects/{slug}/predict/", expected=200, json={"instances": instances}
    )

    assert prediction["iteration"] == number
    assert str(prediction["model_version"]) == str(iteration["model_version"])
    assert len(prediction["predictions"]) == len(instances)
    labels = [int(value) for value in prediction["predictions"]]
    assert set(labels) <= {0, 1}
    matches = sum(
        int(label == truth) for label, truth in zip(labels, rows["diagnosis"], strict=True)
    )
    assert matches >= 17, f"only {matches} of 20 training rows predicted right: {labels}"
