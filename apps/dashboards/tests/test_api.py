"""The dashboard endpoints: each role against each endpoint, and their data."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.dashboards.tests.conftest import evaluation_for
from apps.dashboards.tests.factories import production_add
from apps.iterations.models import Iteration
from apps.projects.models import Project

ApiClientFor = Callable[[User], APIClient]

PROJECT_ENDPOINTS = [
    "/api/v1/projects/{slug}/scorecard/",
    "/api/v1/projects/{slug}/compare/?iterations=1,2",
]


@pytest.fixture
def two_iterations(make_iteration: Callable[..., Iteration]) -> list[Iteration]:
    return [
        make_iteration(1, metrics={"roc_auc": 0.9, "recall": None}, evaluation=evaluation_for()),
        make_iteration(2, metrics={"roc_auc": 0.99, "recall": 0.92}, params={"C": 0.5}),
    ]


@pytest.mark.parametrize("path", PROJECT_ENDPOINTS)
@pytest.mark.parametrize(
    ("username", "status"),
    [("alice", 200), ("sam", 200), ("dana", 200), ("olga", 404)],
)
def test_project_endpoint_by_role(
    api_client_for: ApiClientFor,
    make_user: Callable[[str], User],
    project: Project,
    two_iterations: list[Iteration],
    path: str,
    username: str,
    status: int,
) -> None:
    response = api_client_for(make_user(username)).get(path.format(slug=project.slug))

    assert response.status_code == status


@pytest.mark.parametrize("path", [*PROJECT_ENDPOINTS, "/api/v1/portfolio/"])
def test_endpoint_requires_token(project: Project, path: str) -> None:
    response = APIClient().get(path.format(slug=project.slug))

    assert response.status_code in (401, 403)
    assert set(response.json()) == {"detail", "code", "errors"}


def test_scorecard_returns_cells_with_changes(
    api_client_for: ApiClientFor,
    project: Project,
    two_iterations: list[Iteration],
    sam: User,
) -> None:
    production_add(project, two_iterations[0])

    body = api_client_for(sam).get(f"/api/v1/projects/{project.slug}/scorecard/").json()

    assert [metric["name"] for metric in body["metrics"]] == ["roc_auc", "recall"]
    first, second = body["iterations"]
    assert first["in_production"] is True
    assert first["cells"][1] == {
        "metric": "recall",
        "value": None,
        "verdict": "undefined",
        "minimum_verdict": "undefined",
        "change_from_previous": None,
        "change_from_production": None,
    }
    assert second["cells"][0]["change_from_previous"] == pytest.approx(10.0)
    assert second["cells"][0]["change_from_production"] == pytest.approx(10.0)
    assert body["summary"]["best_iteration"] == 2
    assert body["summary"]["production_iteration"] == 1
    assert body["summary"]["targets_met"] == 2


def test_scorecard_filters_by_recipe(
    api_client_for: ApiClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, recipe="logistic_regression")
    make_iteration(2, recipe="random_forest")

    body = (
        api_client_for(sam)
        .get(f"/api/v1/projects/{project.slug}/scorecard/", {"recipe": "random_forest"})
        .json()
    )

    assert [row["number"] for row in body["iterations"]] == [2]


def test_scorecard_rejects_bad_dataset_filter(
    api_client_for: ApiClientFor, project: Project, sam: User
) -> None:
    response = api_client_for(sam).get(
        f"/api/v1/projects/{project.slug}/scorecard/", {"dataset": "abc"}
    )

    assert response.status_code == 400
    assert "dataset" in response.json()["errors"]


def test_compare_returns_spec_diff_deltas_and_curves(
    api_client_for: ApiClientFor,
    project: Project,
    two_iterations: list[Iteration],
    sam: User,
) -> None:
    body = (
        api_client_for(sam)
        .get(f"/api/v1/projects/{project.slug}/compare/", {"iterations": "1,2"})
        .json()
    )

    assert body["spec_differences"] == [{"field": "params.C", "values": [None, 0.5]}]
    assert body["metric_deltas"][0]["changes"][1] == pytest.approx(10.0)
    assert body["iterations"][0]["has_evaluation"] is True
    assert body["evaluation"]["1"]["roc"]["auc"] == pytest.approx(0.9)
    assert body["evaluation"]["2"] == {}


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("iterations=1", 400), ("iterations=1,abc", 400), ("iterations=1,7", 422)],
)
def test_compare_rejects_bad_selection(
    api_client_for: ApiClientFor,
    project: Project,
    two_iterations: list[Iteration],
    sam: User,
    query: str,
    status: int,
) -> None:
    response = api_client_for(sam).get(f"/api/v1/projects/{project.slug}/compare/?{query}")

    assert response.status_code == status
    assert "iterations" in response.json()["errors"]


def test_portfolio_lists_member_projects_only(
    api_client_for: ApiClientFor, project: Project, olga: User, sam: User
) -> None:
    sam_body = api_client_for(sam).get("/api/v1/portfolio/").json()
    olga_body = api_client_for(olga).get("/api/v1/portfolio/").json()

    assert [item["slug"] for item in sam_body["projects"]] == [project.slug]
    assert olga_body["projects"] == []
    assert sam_body["stalled_after_days"] == 30
    assert [step["label"] for step in sam_body["funnel"]] == [
        "Framed",
        "Signed off",
        "In development",
        "In production",
    ]


@pytest.mark.parametrize("value", ["0", "-3", "x", "100000"])
def test_portfolio_rejects_bad_stalled_days(
    api_client_for: ApiClientFor, project: Project, sam: User, value: str
) -> None:
    response = api_client_for(sam).get("/api/v1/portfolio/", {"stalled_after_days": value})

    assert response.status_code == 400
    assert "stalled_after_days" in response.json()["errors"]


def test_scorecard_query_count_is_fixed(
    api_client_for: ApiClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    client = api_client_for(sam)
    url = f"/api/v1/projects/{project.slug}/scorecard/"
    make_iteration(1)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(2, 40):
        make_iteration(number)
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many) == len(few)


def test_schema_documents_dashboard_endpoints(api_client_for: ApiClientFor, sam: User) -> None:
    response = api_client_for(sam).get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    paths = (
        response.json()["paths"] if response["Content-Type"].startswith("application/json") else {}
    )
    text = response.content.decode()
    assert response.status_code == 200
    for path in (
        "/api/v1/portfolio/",
        "/api/v1/projects/{slug}/scorecard/",
        "/api/v1/projects/{slug}/compare/",
    ):
        assert path in paths or path in text
