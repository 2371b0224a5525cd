"""GET /api/v1/projects/{slug}/audit/export/: the audit CSV for token clients."""

import csv
import io
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apps.projects.models import Project

ApiClientFor = Callable[[User], APIClient]


def _body(response: object) -> str:
    return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


EXPORT_MATRIX = [("alice", 200), ("sam", 200), ("dana", 200), ("olga", 404)]


@pytest.mark.parametrize(("persona", "expected"), EXPORT_MATRIX)
def test_export_roles(
    persona: str,
    expected: int,
    project: Project,
    api_client_for: ApiClientFor,
    request: pytest.FixtureRequest,
) -> None:
    client = api_client_for(request.getfixturevalue(persona))

    response = client.get(f"/api/v1/projects/{project.slug}/audit/export/")

    assert response.status_code == expected
    if expected == 404:
        assert response.json()["code"] == "not_found"


def test_export_without_token_is_401(project: Project) -> None:
    response = APIClient().get(f"/api/v1/projects/{project.slug}/audit/export/")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


def test_export_matches_page_csv(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    page_client = Client()
    page_client.force_login(alice)

    api_response = api_client_for(alice).get(f"/api/v1/projects/{project.slug}/audit/export/")
    page_response = page_client.get(f"/projects/{project.slug}/audit.csv")

    assert api_response.status_code == 200
    assert api_response["Content-Type"] == "text/csv; charset=utf-8"
    assert api_response["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-audit.csv"'
    )
    api_csv = _body(api_response)
    assert api_csv == _body(page_response)
    rows = list(csv.reader(io.StringIO(api_csv)))
    assert len(rows) >= 2
    assert any("project.created" in row for row in rows[1:])


def test_export_accepts_csv_only_clients(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(alice).get(
        f"/api/v1/projects/{project.slug}/audit/export/", HTTP_ACCEPT="text/csv"
    )

    assert response.status_code == 200
    assert "project.created" in _body(response)
