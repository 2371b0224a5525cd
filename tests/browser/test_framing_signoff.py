"""A project is framed, sent for sign-off and approved through the pages, in a real browser."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.accounts.models import Role
from apps.projects.framing import SUITABILITY_QUESTIONS
from apps.projects.models import Project, Stage, TaskType
from apps.projects.services import MemberInput, MetricInput, project_create
from tests.browser.conftest import PASSWORD, browser_page, sign_in

# All database work happens before the browser opens, for the reasons in conftest.py:
# ``unframed_project`` comes before ``chromium_browser`` in the test's arguments.

pytestmark = pytest.mark.browser

APPROVAL_COMMENT = "Targets agreed with the pathology leads."


@pytest.fixture
def unframed_project(
    transactional_db: None, isolated_broker: Any, alice: User, dana: User
) -> Project:
    """A new project in framing, with an unanswered suitability checklist."""
    for user in (alice, dana):
        user.set_password(PASSWORD)
        user.save()
    project = project_create(
        user=alice,
        name="Biopsy second reading",
        business_problem="Flag biopsies that need a second reading.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[MetricInput(name="roc_auc", target=0.95, minimum=0.9)],
        members=[MemberInput(username="dana", role=Role.DECISION_MAKER)],
    )
    assert project.stage == Stage.FRAMING
    assert project.suitability == {}
    return project


def test_framing_is_signed_off_in_browser(
    live_server: Any, unframed_project: Project, chromium_browser: Any
) -> None:
    base_url = live_server.url
    slug = unframed_project.slug
    page_errors: list[str] = []

    alice_page = browser_page(chromium_browser)
    alice_page.on("pageerror", lambda error: page_errors.append(str(error)))
    sign_in(alice_page, base_url, "alice")
    alice_page.goto(f"{base_url}/projects/{slug}/framing/")
    readiness = alice_page.locator(".readiness-verdict")
    assert "Framing needs work" in readiness.inner_text()

    for question in SUITABILITY_QUESTIONS:
        alice_page.check(f"input[name=suitability_{question.key}][value=yes]")
    alice_page.click("button:has-text('Save framing')")
    alice_page.wait_for_load_state()

    assert "Framing saved." in alice_page.locator("body").inner_text()
    assert "Ready for ML" in alice_page.locator(".readiness-verdict").inner_text()

    alice_page.fill(".signoff-form textarea[name=comment]", "Checklist complete.")
    alice_page.click("button:has-text('Request framing sign-off')")
    alice_page.wait_for_load_state()
    signoff = alice_page.locator("#signoff").inner_text()
    assert "Pending" in signoff, signoff

    dana_page = browser_page(chromium_browser)
    dana_page.on("pageerror", lambda error: page_errors.append(str(error)))
    sign_in(dana_page, base_url, "dana")
    dana_page.goto(f"{base_url}/approvals/")
    request_card = dana_page.locator("section.card", has_text="Biopsy second reading")
    assert request_card.count() == 1
    request_card.locator("textarea[name=comment]").fill(APPROVAL_COMMENT)
    request_card.locator("button:has-text('Approve')").click()
    dana_page.wait_for_load_state()
    assert "Nothing is waiting for a decision." in dana_page.locator("body").inner_text()

    dana_page.goto(f"{base_url}/projects/{slug}/")
    stage = dana_page.locator(".status-strip .badge-stage").inner_text()
    assert stage == "Framing approved"

    alice_page.goto(f"{base_url}/projects/{slug}/framing/")
    signoff = alice_page.locator("#signoff").inner_text()
    assert "Approved" in signoff, signoff
    assert APPROVAL_COMMENT in signoff
    assert page_errors == []
