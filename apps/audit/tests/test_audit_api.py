"""The project audit log through the API: roles, order, filters and pagination."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.audit.services import audit_record
from apps.projects.models import Project

ApiClientFor = Callable[[User], APIClient]


def _record(project: Project, actor: User, action: str) -> None:
    audit_record(actor=actor, action=action, target=project, project=project, after={"n": 1})


@pytest.mark.parametrize(
    ("username", "status"), [("alice", 200), ("sam", 200), ("dana", 200), ("olga", 404)]
)
def test_audit_api_by_role(
    project: Project,
    make_user: Callable[[str], User],
    api_client_for: ApiClientFor,
    username: str,
    status: int,
) -> None:
    response = api_client_for(make_user(username)).get(f"/api/v1/projects/{project.slug}/audit/")

    assert response.status_code == status


def test_audit_api_needs_a_token(project: Project) -> None:
    response = APIClient().get(f"/api/v1/projects/{project.slug}/audit/")

    assert response.status_code == 401


def test_audit_api_lists_newest_first_with_actor_and_change(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    _record(project, alice, "promotion.requested")
    _record(project, alice, "promotion.approved")

    results = api_client_for(alice).get(f"/api/v1/projects/{project.slug}/audit/").json()["results"]

    assert [event["action"] for event in results[:2]] == [
        "promotion.approved",
        "promotion.requested",
    ]
    assert results[0]["actor"] == "alice"
    assert results[0]["after"] == {"n": 1}


def test_audit_api_filters_by_action_prefix_and_paginates(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    for action in ("promotion.requested", "promotion.approved", "deployment.live"):
        _record(project, alice, action)
    client = api_client_for(alice)

    by_prefix = client.get(f"/api/v1/projects/{project.slug}/audit/?action=promotion.").json()
    exact = client.get(f"/api/v1/projects/{project.slug}/audit/?action=deployment.live").json()
    first_page = client.get(f"/api/v1/projects/{project.slug}/audit/?limit=1").json()

    assert {event["action"] for event in by_prefix["results"]} == {
        "promotion.requested",
        "promotion.approved",
    }
    assert [event["action"] for event in exact["results"]] == ["deployment.live"]
    assert len(first_page["results"]) == 1
    assert first_page["count"] >= 3
    assert first_page["next"] is not None
