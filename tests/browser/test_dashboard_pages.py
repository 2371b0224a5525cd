"""The project dashboard, the comparison and the portfolio draw their charts in Chromium.

Set PORTAL_SCREENSHOT_DIR to a folder (docs/, for the README's pictures) to save a full-page
screenshot of each page there.
"""

import datetime
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.dashboards.tests.conftest import dataset, evaluation_for, make_iteration
from apps.dashboards.tests.factories import production_add
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage
from tests.browser.conftest import PASSWORD, sign_in

# ``dataset`` and ``make_iteration`` are fixtures used by name below.
__all__ = ["dataset", "make_iteration"]

pytestmark = pytest.mark.browser

PLOTTED_POINTS = (
    "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
    ".map(plot => (plot.data || []).reduce("
    "(sum, trace) => sum + ((trace.x || trace.z || []).length), 0))"
)


@pytest.fixture
def charted_project(
    transactional_db: None,
    project: Project,
    alice: User,
    sam: User,
    make_iteration: Callable[..., Iteration],
) -> Project:
    """``project`` with five iterations, holdout curves, a baseline and one version live."""
    for user in (alice, sam):
        user.set_password(PASSWORD)
        user.save()
    project.stage = Stage.IN_DEVELOPMENT
    project.expected_iterations = 8
    project.production_by = timezone.localdate() + datetime.timedelta(days=21)
    project.save()
    project.metrics.filter(name="roc_auc").update(stretch=0.98, baseline=0.72)
    make_iteration(
        1, metrics={"roc_auc": 0.72, "recall": 0.55}, is_baseline=True, recipe="majority_class"
    )
    values = [(0.88, 0.81), (0.91, None), (0.94, 0.86), (0.963, 0.91)]
    iterations = []
    for offset, (roc_auc, recall) in enumerate(values):
        iterations.append(
            make_iteration(
                offset + 2,
                metrics={"roc_auc": roc_auc, "recall": recall},
                recipe="hist_gradient_boosting" if offset % 2 else "logistic_regression",
                params={"max_iter": 100 * (offset + 1)},
                threshold=0.3 + offset / 20,
                expected_cost=40 - offset * 5,
                evaluation=evaluation_for(shift=offset / 50, threshold=0.3 + offset / 20),
            )
        )
    production_add(project, iterations[2])
    return project


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _plotted(page: Any) -> list[int]:
    page.wait_for_selector(".js-plotly-plot .main-svg")
    points: list[int] = page.evaluate(PLOTTED_POINTS)
    return points


def test_dashboard_and_comparison_draw_plot_data(
    live_server: Any, charted_project: Project, chromium_page: Any
) -> None:
    page = chromium_page
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    sign_in(page, live_server.url, "sam")

    page.goto(f"{live_server.url}/projects/{charted_project.slug}/")
    dashboard_points = _plotted(page)
    assert len(dashboard_points) == 2
    assert all(count > 0 for count in dashboard_points), dashboard_points
    assert page.locator("#summary-heading + .summary-item, .summary .summary-item").count() == 5
    _screenshot(page, "project-page.png")

    page.select_option("#filter-recipe", "hist_gradient_boosting")
    page.wait_for_function(
        "() => document.querySelector('#analysis p.small') &&"
        " document.querySelector('#analysis p.small').textContent.includes('Showing 2 of 5')"
    )
    filtered = page.wait_for_function(
        "() => { const plot = document.querySelector('#analysis .js-plotly-plot');"
        " return plot && plot.data ? plot.data[0].x : null; }"
    ).json_value()
    assert filtered == [3, 5]
    assert "recipe=hist_gradient_boosting" in page.url

    page.goto(f"{live_server.url}/projects/{charted_project.slug}/compare/?iterations=2,4,5")
    comparison_points = _plotted(page)
    assert len(comparison_points) >= 8
    assert all(count > 0 for count in comparison_points), comparison_points
    assert page.locator(".spec-diff").inner_text().count("params.max_iter") == 1
    _screenshot(page, "comparison-page.png")

    assert page_errors == []


def test_portfolio_draws_plot_data(
    live_server: Any, charted_project: Project, chromium_page: Any
) -> None:
    page = chromium_page
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    sign_in(page, live_server.url, "alice")

    page.goto(f"{live_server.url}/portfolio/")
    points = _plotted(page)

    assert len(points) == 3
    assert points[0] > 0
    assert page.locator(f"a[href='/projects/{charted_project.slug}/']").count() >= 1
    _screenshot(page, "portfolio-page.png")
    assert page_errors == []
