"""The project dashboard's summary, filters and scorecard, the comparison, portfolio and report."""

import datetime
import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.dashboards.portfolio import portfolio_for_user
from apps.dashboards.tests.conftest import evaluation_for
from apps.dashboards.tests.factories import (
    dataset_add,
    iterations_add,
    metrics_add,
    portfolio_add,
    production_add,
)
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage

ClientFor = Callable[[User], Client]
QUERY_CEILING = 15


def _figures(html: str) -> list[dict[str, Any]]:
    blocks = re.findall(r'data-plotly-figure="([^"]*)"', html)
    return [json.loads(unescape(block)) for block in blocks]


def _page(client: Client, url: str, **params: str) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.text


def test_summary_states_targets_production_and_budget(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    project.expected_iterations = 4
    project.production_by = timezone.localdate() + datetime.timedelta(days=10)
    project.save()
    make_iteration(1, metrics={"roc_auc": 0.92, "recall": 0.8})
    live = make_iteration(2, metrics={"roc_auc": 0.96, "recall": 0.85})
    production_add(project, live)

    html = _page(client_for(sam), reverse("project-detail", args=[project.slug]))

    summary = html.split('id="summary-heading"')[1].split("</section>")[0]
    assert "Meets 1 of 2 minimums and 1 of 2 targets." in summary
    assert "Iteration 2" in summary
    assert "Model version 2" in summary
    assert "10 days" in summary
    assert "Production expected by" in summary
    assert "2 <span" in summary
    assert "of 4 budgeted" in summary


def test_summary_says_how_late_a_date_is(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    project.first_model_by = timezone.localdate() - datetime.timedelta(days=3)
    project.save()

    html = _page(client_for(sam), reverse("project-detail", args=[project.slug]))

    assert "3 days late" in html
    assert "First model expected by" in html
    assert "badge-health-off_track" in html


def test_scorecard_shows_change_from_previous_and_production(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    live = make_iteration(1, metrics={"roc_auc": 0.80, "recall": 0.9})
    make_iteration(2, metrics={"roc_auc": 0.88, "recall": None})
    make_iteration(3, metrics={"roc_auc": 0.968, "recall": 0.81})
    production_add(project, live)

    html = _page(client_for(sam), reverse("project-detail", args=[project.slug]))

    rows = html.split('<table class="scorecard">')[1].split("</table>")[0].split("<tr")[2:]
    assert "% prev<" not in rows[0]
    assert (
        '"change-better" title="Change from the previous iteration; positive is better">+10.0% prev'
        in rows[1]
    )
    assert "+10.0% prod" in rows[1]
    assert "+10.0% prev" in rows[2]
    assert "+21.0% prod" in rows[2]
    # Recall is undefined in iteration 2, so iteration 3 has no change from it.
    assert "\u221210.0% prod" in rows[2]
    assert rows[2].count("% prev<") == 1


def test_charts_mark_production_and_keep_gaps(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={"roc_auc": 0.7, "recall": 0.6}, is_baseline=True)
    live = make_iteration(2, metrics={"roc_auc": 0.91, "recall": None})
    make_iteration(3, metrics={"roc_auc": 0.96, "recall": 0.92})
    production_add(project, live)

    figures = _figures(_page(client_for(sam), reverse("project-detail", args=[project.slug])))

    roc_auc, recall = figures
    names = [trace["name"] for trace in roc_auc["data"]]
    assert names == ["ROC AUC", "Non-ML baseline", "In production"]
    assert roc_auc["data"][0]["x"] == [2, 3]
    assert recall["data"][0]["y"] == [None, 0.92]
    assert roc_auc["data"][2]["x"] == [2]
    assert any(a["text"] == "Non-ML baseline 0.7" for a in roc_auc["layout"]["annotations"])


def test_filters_narrow_charts_and_scorecard(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    dataset: DatasetVersion,
    alice: User,
    sam: User,
) -> None:
    newer = dataset_add(project, alice, version=2)
    make_iteration(1, recipe="logistic_regression")
    make_iteration(2, recipe="hist_gradient_boosting")
    make_iteration(3, recipe="hist_gradient_boosting", dataset=newer)
    make_iteration(4, recipe="logistic_regression", created_by=sam)
    url = reverse("project-detail", args=[project.slug])
    client = client_for(sam)

    by_recipe = _figures(_page(client, url, recipe="hist_gradient_boosting"))
    by_dataset = _figures(_page(client, url, dataset=str(newer.pk)))
    by_author = _figures(_page(client, url, author="sam"))
    ignored = _figures(_page(client, url, dataset="not-a-number"))

    assert by_recipe[0]["data"][0]["x"] == [2, 3]
    assert by_dataset[0]["data"][0]["x"] == [3]
    assert by_author[0]["data"][0]["x"] == [4]
    assert ignored[0]["data"][0]["x"] == [1, 2, 3, 4]


def test_filter_request_from_htmx_returns_fragment(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, recipe="logistic_regression")
    make_iteration(2, recipe="random_forest")

    response = client_for(sam).get(
        reverse("project-detail", args=[project.slug]),
        {"recipe": "random_forest"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="analysis"')
    assert "<html" not in response.text
    assert "Showing 1 of 2 iterations" in response.text
    assert _figures(response.text)[0]["data"][0]["x"] == [2]


def test_filters_matching_nothing_say_so(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1)

    html = _page(client_for(sam), reverse("project-detail", args=[project.slug]), recipe="none")

    assert "No iteration matches these filters." in html


def test_chart_export_is_named_after_project_and_metric(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1)

    html = _page(client_for(sam), reverse("project-detail", args=[project.slug]))

    assert f'data-export-name="{project.slug}-roc_auc"' in html


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_project_page_queries_stay_flat_at_500_iterations(
    client_for: ClientFor,
    project: Project,
    dataset: DatasetVersion,
    alice: User,
    sam: User,
) -> None:
    metrics_add(project)
    client = client_for(sam)
    url = reverse("project-detail", args=[project.slug])
    first = iterations_add(project, datasets=[dataset], users=[alice], count=2)
    production_add(project, first[0])
    _query_count(client, url)  # warm the session and the content-type cache
    small = _query_count(client, url)

    second = dataset_add(project, alice, version=2)
    iterations_add(project, datasets=[dataset, second], users=[alice, sam], count=498, start=3)
    large = _query_count(client, url)
    filtered = _query_count(client, f"{url}?recipe=random_forest&rows=all")

    assert project.metrics.count() == 6
    assert Iteration.objects.filter(project=project).count() == 500
    assert large == small
    assert filtered == small
    assert large <= QUERY_CEILING


def test_compare_page_shows_spec_diff_deltas_and_curves(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, params={"C": 1.0}, evaluation=evaluation_for(), threshold=0.3)
    make_iteration(
        2, params={"C": 0.1}, evaluation=evaluation_for(shift=0.05, threshold=0.4), threshold=0.4
    )

    html = _page(
        client_for(sam), reverse("iteration-compare", args=[project.slug]), iterations="1,2"
    )

    spec = html.split('id="spec-heading"')[1].split("</table>")[0]
    assert "params.C" in spec
    assert "recipe" not in spec
    figures = _figures(html)
    titles = [figure["layout"]["title"]["text"] for figure in figures]
    assert "ROC curve" in titles
    assert "Precision and recall" in titles
    assert "Calibration" in titles
    assert "Feature importance" in titles
    assert "Expected cost over thresholds" in titles
    assert "#1 at threshold 0.300" in titles
    assert "#2 at threshold 0.400" in titles


def test_compare_checkboxes_submit_repeated_numbers(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1)
    make_iteration(2)

    response = client_for(sam).get(
        reverse("iteration-compare", args=[project.slug]), {"iterations": ["1", "2"]}
    )

    assert response.status_code == 200
    assert "The specs are identical" in response.text


@pytest.mark.parametrize(("raw", "status"), [("1", 400), ("1,x", 400), ("1,9", 422)])
def test_compare_page_explains_bad_selection(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
    raw: str,
    status: int,
) -> None:
    make_iteration(1)

    response = client_for(sam).get(
        reverse("iteration-compare", args=[project.slug]), {"iterations": raw}
    )

    assert response.status_code == status
    assert 'role="alert"' in response.text


def test_compare_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(
        reverse("iteration-compare", args=[project.slug]), {"iterations": "1,2"}
    )

    assert response.status_code == 404


def test_report_is_self_contained(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={"roc_auc": 0.9, "recall": None})
    make_iteration(2)

    response = client_for(sam).get(reverse("project-report", args=[project.slug]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{project.slug}-report.html"'
    html = response.content.decode()
    # plotly.js mentions URLs inside its code; only the markup around the scripts may not.
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert re.findall(r'(?:src|href)="[^"]*"', markup) == []
    assert "<link" not in markup
    assert re.findall(r"<script[^>]*\bsrc=", html) == []
    assert "Plotly" in html
    assert len(_figures(html)) == 2
    assert "Meets" in html
    assert '<table class="scorecard">' in html


def test_report_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("project-report", args=[project.slug]))

    assert response.status_code == 404


def test_portfolio_lists_only_member_projects(
    client_for: ClientFor, project: Project, olga: User, sam: User
) -> None:
    portfolio_add(owner=olga, count=3)

    sam_page = _page(client_for(sam), reverse("portfolio"))
    olga_page = _page(client_for(olga), reverse("portfolio"))

    assert project.name in sam_page
    assert "Portfolio project 000" not in sam_page
    assert "Portfolio project 000" in olga_page
    assert project.name not in olga_page


def test_portfolio_flags_stalled_projects(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> None:
    project.stage = Stage.IN_DEVELOPMENT
    project.save()
    iteration = make_iteration(1)
    Iteration.objects.filter(pk=iteration.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=40)
    )

    default = portfolio_for_user(user=alice, with_charts=False)
    patient = portfolio_for_user(user=alice, stalled_after_days=60, with_charts=False)

    assert [item.project for item in default.stalled] == [project]
    assert default.stalled[0].days_since_activity == 40
    assert patient.stalled == []


def test_portfolio_counts_funnel_health_and_minimums(olga: User) -> None:
    projects = portfolio_add(owner=olga, count=12)

    portfolio = portfolio_for_user(user=olga, with_charts=False)

    funnel = dict(portfolio.funnel)
    assert funnel["Framed"] == sum(1 for p in projects if p.stage != Stage.REJECTED)
    assert funnel["In production"] == sum(
        1 for p in projects if p.stage in (Stage.IN_PRODUCTION, Stage.RETIRED)
    )
    active = [p for p in projects if p.stage not in (Stage.RETIRED, Stage.REJECTED)]
    assert sum(count for _, _, count in portfolio.health_counts) == len(active)
    assert portfolio.judged_count == len(active)
    assert 0 <= portfolio.meeting_minimums_count <= portfolio.judged_count


def test_portfolio_milestones_compare_with_agreed_dates(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> None:
    Project.objects.filter(pk=project.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=50),
        first_model_by=timezone.localdate() - datetime.timedelta(days=20),
    )
    make_iteration(1)

    item = portfolio_for_user(user=alice, with_charts=False).projects[0]

    assert item.first_model.reached
    assert item.first_model.expected_days == 30
    assert item.first_model.actual_days == 50
    assert item.first_model.late
    assert not item.production.reached


def test_portfolio_queries_stay_flat_at_200_projects(client_for: ClientFor, olga: User) -> None:
    client = client_for(olga)
    url = reverse("portfolio")
    portfolio_add(owner=olga, count=2, seed=1)
    _query_count(client, url)  # warm the session and the content-type cache
    small = _query_count(client, url)

    portfolio_add(owner=olga, count=198, seed=2)
    large = _query_count(client, url)

    assert Project.objects.count() == 200
    assert large == small
    assert large <= QUERY_CEILING
