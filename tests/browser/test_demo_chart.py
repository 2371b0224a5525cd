"""The project page draws its metric charts in a real browser (Debian's Chromium)."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.services import dataset_create
from apps.iterations.models import IterationStatus
from apps.iterations.services import iteration_run, iteration_start
from apps.projects.models import Project

# Playwright's sync API keeps an asyncio event loop running in this thread while a browser is
# open, and Django refuses ORM calls from such a thread. Rather than switch that check off with
# DJANGO_ALLOW_ASYNC_UNSAFE, the tests do all their database work before ``chromium_page``
# starts: ``trained_project`` comes before it in the test's arguments. A connection opened while
# the loop ran was also seen to stay open after the test, and PostgreSQL then refuses to drop
# the test database.

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-password"


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    """A fresh Playwright page in Debian's Chromium.

    Without /usr/bin/chromium the test is skipped, unless PORTAL_REQUIRE_BROWSER=1 (set by CI)
    turns that into a failure.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install Debian's chromium package to run browser tests."
        if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


@pytest.fixture
def trained_project(
    transactional_db: None,
    isolated_broker: Any,
    project: Project,
    alice: User,
    breast_cancer_csv: Path,
) -> Project:
    """``project`` with one dataset and one iteration, trained in this process."""
    alice.set_password(PASSWORD)
    alice.save()
    dataset = dataset_create(
        project=project,
        user=alice,
        uploaded_file=SimpleUploadedFile(
            "breast_cancer.csv", breast_cancer_csv.read_bytes(), content_type="text/csv"
        ),
        name="Breast cancer biopsies",
        target_column="diagnosis",
    )
    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=dataset.pk,
        recipe="hist_gradient_boosting",
        params={},
        seed=42,
    )
    # The task queued by iteration_start goes to this test's own broker, where no worker
    # listens, so training here is the only run.
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    assert iteration.status == IterationStatus.SUCCEEDED, iteration.status_reason
    return project


def test_project_page_draws_metric_chart(
    live_server: Any, trained_project: Project, chromium_page: Any
) -> None:
    page = chromium_page
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, "sign-in failed"

    page.goto(f"{live_server.url}/projects/{trained_project.slug}/")
    page.wait_for_selector(".js-plotly-plot .main-svg")

    traces = page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(plot => (plot.data || []).length)"
    )
    assert traces, "no plotly chart on the project page"
    assert all(count > 0 for count in traces), f"a chart has no data: {traces}"
    assert page.locator(".js-plotly-plot .trace").count() > 0
    assert page_errors == []
