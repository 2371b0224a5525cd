"""The project page draws its metric charts in a real browser (Debian's Chromium)."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.services import dataset_create
from apps.iterations.models import IterationStatus
from apps.iterations.services import iteration_run, iteration_start
from apps.projects.models import Project
from tests.browser.conftest import PASSWORD, sign_in

# All database work happens before the browser opens, for the reasons in conftest.py:
# ``trained_project`` comes before ``chromium_page`` in the test's arguments.

pytestmark = pytest.mark.browser


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

    sign_in(page, live_server.url, "alice")

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
