"""A decision maker approves a promotion from the inbox, overriding a failing check, in Chromium."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.accounts.models import Role
from apps.approvals.services import promotion_request
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import TaskType
from apps.projects.services import MemberInput, MetricInput, project_create
from tests.browser.conftest import PASSWORD, browser_page, sign_in

# All database work happens before the browser opens, for the reasons in conftest.py:
# ``pending_promotion`` comes before ``chromium_browser`` in the test's arguments.

pytestmark = pytest.mark.browser

JUSTIFICATION = "Recall below the minimum is accepted for the four-week pilot."


@pytest.fixture
def pending_promotion(
    transactional_db: None, isolated_broker: Any, alice: User, dana: User
) -> dict[str, Any]:
    """A promotion request for an iteration that misses its recall minimum."""
    for user in (alice, dana):
        user.set_password(PASSWORD)
        user.save()
    project = project_create(
        user=alice,
        name="Biopsy triage pilot",
        business_problem="Flag biopsies that need a second reading.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[
            MetricInput(name="roc_auc", target=0.95, minimum=0.9),
            MetricInput(name="recall", target=0.9, minimum=0.85),
        ],
        members=[MemberInput(username="dana", role=Role.DECISION_MAKER)],
    )
    dataset = DatasetVersion.objects.create(
        project=project,
        name="biopsies",
        version=1,
        file="datasets/placeholder.csv",
        original_filename="biopsies.csv",
        format="csv",
        sha256="0" * 64,
        size_bytes=1024,
        row_count=569,
        column_count=3,
        schema=[],
        target_column="diagnosis",
        created_by=alice,
    )
    iteration = Iteration.objects.create(
        project=project,
        number=1,
        dataset=dataset,
        recipe="logistic_regression",
        status=IterationStatus.SUCCEEDED,
        metrics={"roc_auc": 0.97, "recall": 0.8},
        created_by=alice,
        mlflow_run_id="run1",
        model_name="biopsy-triage-pilot",
        model_version="1",
    )
    approval = promotion_request(iteration=iteration, user=alice, comment="Ready for the pilot.")
    return {"project": project, "approval_id": approval.pk}


def test_decision_maker_approves_from_inbox(
    live_server: Any, pending_promotion: dict[str, Any], chromium_browser: Any
) -> None:
    base_url = live_server.url
    approval_id = pending_promotion["approval_id"]
    page_errors: list[str] = []
    page = browser_page(chromium_browser)
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    sign_in(page, base_url, "dana")
    page.goto(f"{base_url}/approvals/")
    card = page.locator("section.card", has_text="Biopsy triage pilot")
    assert card.count() == 1
    checklist = card.locator(".checklist").inner_text()
    assert "Every minimum met on the holdout" in checklist
    assert "recall 0.8 misses its minimum 0.85" in checklist

    card.locator("button:has-text('Approve')").click()
    page.wait_for_load_state()
    body = page.locator("body").inner_text()
    assert "Approval is blocked by failing checks" in body
    assert page.locator("section.card", has_text="Biopsy triage pilot").count() == 1

    card = page.locator("section.card", has_text="Biopsy triage pilot")
    card.locator("textarea[name=comment]").fill("Approved for the pilot only.")
    card.locator("textarea[name=override_justification]").fill(JUSTIFICATION)
    card.locator("button:has-text('Approve')").click()
    page.wait_for_load_state()
    body = page.locator("body").inner_text()
    assert f"You approved request {approval_id}." in body
    assert "Nothing is waiting for a decision." in body

    page.goto(f"{base_url}/approvals/{approval_id}/")
    detail = page.locator("body").inner_text()
    assert "Approved" in detail
    assert JUSTIFICATION in detail
    assert "Override" in detail
    assert page_errors == []
