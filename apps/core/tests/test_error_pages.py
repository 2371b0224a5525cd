"""The portal's 403, 404 and 500 pages, the JSON errors under /api/, and the favicon."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from apps.core.views import permission_denied, server_error
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


@pytest.fixture
def client_for(db: None) -> ClientFor:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_403_page_names_missing_role(project: Project, sam: User, client_for: ClientFor) -> None:
    response = client_for(sam).get(f"/projects/{project.slug}/retirement/")
    page = response.content.decode()

    assert response.status_code == 403
    assert "Access denied" in page
    assert (
        "Your role in this project (stakeholder) does not allow you to request retirement." in page
    )
    assert 'href="/"' in page
    assert "Sign out" in page


def test_404_page_extends_base(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).get("/no-such-page/")
    page = response.content.decode()

    assert response.status_code == 404
    assert "Page not found" in page
    assert "/no-such-page/" in page
    assert "Resolver404" not in page
    assert 'href="/"' in page
    assert "favicon.svg" in page


def test_404_page_shows_lookup_message(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).get("/projects/no-such-project/")

    assert response.status_code == 404
    assert "No project found with that slug." in response.content.decode()


@pytest.mark.django_db
def test_500_page_needs_no_database(django_assert_num_queries: Callable[..., object]) -> None:
    request = RequestFactory().get("/projects/")

    with django_assert_num_queries(0):  # type: ignore[attr-defined]
        response = server_error(request)
    page = response.content.decode()

    assert response.status_code == 500
    assert "Server error" in page
    assert "The server failed to handle the request." in page
    assert 'href="/"' in page


def test_api_errors_stay_json() -> None:
    request = RequestFactory().get("/api/v1/anything/")

    failure = server_error(request)
    denied = permission_denied(request, PermissionError("Not for you."))

    assert failure.status_code == 500
    assert failure["Content-Type"] == "application/json"
    assert denied.status_code == 403
    assert denied["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(client: Client) -> None:
    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_forbidden_api_call_is_json(
    project: Project, sam: User, api_client_for: Callable[[User], object]
) -> None:
    client = api_client_for(sam)

    response = client.post(  # type: ignore[attr-defined]
        f"/api/v1/projects/{project.slug}/retirements/", {}, format="json"
    )

    assert response.status_code == 403
    assert "request retirement" in response.json()["detail"]


@pytest.mark.django_db
def test_favicon_redirects_to_svg(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/portal/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]
