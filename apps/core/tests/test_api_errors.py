import pytest

from apps.audit.models import Notification
from apps.dashboards.tests.conftest import dataset

pytestmark = pytest.mark.django_db

__all__ = ["dataset"]

DEEP = "[" * 5000 + "]" * 5000


def test_deeply_nested_json_is_a_400(client):
    response = client.post(
        "/api/v1/auth/token/", f'{{"username": {DEEP}}}', content_type="application/json"
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_iteration_form_rejects_deep_json(project, alice, dataset, client):
    client.force_login(alice)

    response = client.post(
        f"/projects/{project.slug}/iterations/new/",
        {"dataset": dataset.pk, "recipe": "logistic_regression", "params": DEEP, "seed": 1},
    )

    assert response.status_code == 200
    assert "nested too deeply" in response.content.decode()


def test_unknown_api_path_answers_json_404(alice, api_client_for):
    response = api_client_for(alice).get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_api_docs_use_bundled_swagger_ui(alice, client):
    client.force_login(alice)

    html = client.get("/api/v1/docs/").content.decode()

    assert "cdn." not in html
    assert "swagger-ui-dist" in html
    assert "<script>" not in html


@pytest.mark.parametrize("field", ["stage", "slug", "task_type", "colour"])
def test_patch_rejects_unknown_field(project, alice, api_client_for, field):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/", {field: "x"}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_forbidden_message_names_role_and_action(project, sam, api_client_for):
    response = api_client_for(sam).patch(
        f"/api/v1/projects/{project.slug}/", {"name": "x"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Your role in this project (stakeholder) does not allow you to edit the project."
    )


def test_comment_with_only_disallowed_html_is_rejected(project, sam, api_client_for):
    response = api_client_for(sam).post(
        f"/api/v1/projects/{project.slug}/comments/",
        {"body": "<img src=x onerror=alert(1)>"},
        format="json",
    )

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_framing_request_notifies_decision_makers(project, alice, dana, dave, api_client_for):
    api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/framing/signoff/", {}, format="json"
    )

    notified = set(
        Notification.objects.filter(kind="framing.requested").values_list(
            "user__username", flat=True
        )
    )
    assert notified == {"dana", "dave"}
