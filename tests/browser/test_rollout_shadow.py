"""A data scientist starts a shadow rollout from the deployments page, in Chromium, and watches
its comparison with the live version fill in."""

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections

from apps.approvals.services import promotion_approve, promotion_request
from apps.deployments.models import Deployment, DeploymentStatus, Rollout
from apps.deployments.prediction_log import prediction_log_flush
from apps.deployments.services import deployment_run, rollout_run
from apps.deployments.serving import cache_clear, predict
from apps.deployments.tests.training import dataset_upload, iteration_train
from apps.iterations.models import Iteration
from apps.projects.models import Project
from tests.browser.conftest import PASSWORD, browser_page, sign_in

# The database work before the click happens in ``shadow_candidate``, before the browser
# opens. The work after it (the rollout's preparation and a few predictions) runs in a thread
# of its own, because Django refuses ORM calls from the thread where Playwright's event loop
# runs.

pytestmark = pytest.mark.browser

REQUESTS = 5


@pytest.fixture
def shadow_candidate(
    transactional_db: None,
    isolated_broker: Any,
    settings: Any,
    project: Project,
    alice: User,
    dana: User,
    breast_cancer_csv: Path,
) -> dict[str, Any]:
    """A live deployment of one trained iteration and a second trained iteration beside it."""
    settings.SERVING_REFRESH_SECONDS = 0
    settings.PREDICTION_LOG_BACKGROUND = False
    cache_clear()
    alice.set_password(PASSWORD)
    alice.save()
    dataset = dataset_upload(project=project, user=alice, csv_path=breast_cancer_csv)
    live_iteration = iteration_train(project=project, user=alice, dataset=dataset, seed=0)
    approval = promotion_request(iteration=live_iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    deployment = Deployment.objects.get(approval=approval)
    deployment_run(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.LIVE, deployment.status_reason
    candidate = iteration_train(project=project, user=alice, dataset=dataset, seed=7)
    return {
        "project": project,
        "candidate": candidate,
        "rows": live_iteration.holdout_sample["rows"][:REQUESTS],
    }


def _in_own_thread(work: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the test's thread below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _prepare_and_predict(project: Project, rows: list[dict[str, Any]]) -> None:
    rollout = Rollout.objects.get(project=project)
    rollout_run(rollout_id=rollout.pk)
    rollout.refresh_from_db()
    assert rollout.status == "active", rollout.status_reason
    for row in rows:
        predict(project=project, instances=[row])
    prediction_log_flush()


def test_shadow_rollout_from_deployments_page(
    live_server: Any, shadow_candidate: dict[str, Any], chromium_browser: Any
) -> None:
    project: Project = shadow_candidate["project"]
    candidate: Iteration = shadow_candidate["candidate"]
    base_url = live_server.url
    page_errors: list[str] = []
    page = browser_page(chromium_browser)
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/projects/{project.slug}/deployments/")
    form = page.locator("form", has_text="Start a shadow rollout")
    form.locator("select[name='shadow-iteration']").select_option(str(candidate.pk))
    form.locator("button:has-text('Start shadow')").click()
    page.wait_for_load_state()

    assert "/deployments/rollouts/" in page.url
    assert page.locator("h1").inner_text().startswith("Shadow rollout")
    assert "is being prepared" in page.locator(".messages").inner_text()
    assert page.locator("#rollout-live .badge").inner_text() == "Pending"

    _in_own_thread(lambda: _prepare_and_predict(project, shadow_candidate["rows"]))

    # The page polls its live part every two seconds and shows the activated rollout.
    page.locator("#rollout-live .badge", has_text="Active").wait_for()
    page.locator("#rollout-live dd", has_text=str(REQUESTS)).first.wait_for()
    comparison = page.locator("#rollout-live").inner_text()
    assert "Compared requests" in comparison
    assert "of rows got the same prediction from both versions" in comparison
    # Table headers are upper-cased by the style sheet, and inner_text returns them so.
    assert f"candidate (model version {candidate.model_version})" in comparison.lower()

    page.locator("button:has-text('Stop rollout')").click()
    page.wait_for_load_state()
    assert page.locator("#rollout-live .badge").inner_text() == "Stopped"
    assert page_errors == []
