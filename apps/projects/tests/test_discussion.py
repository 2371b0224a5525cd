import pytest

from apps.audit.models import Notification
from apps.projects.discussion import markdown_render

pytestmark = pytest.mark.django_db


def test_markdown_render_strips_scripts_and_handlers():
    html = markdown_render(
        "**bold** <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"
    )

    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert "onerror" not in html
    assert "javascript:" not in html


def test_comment_with_mention_notifies_member(project, sam, dana, api_client_for):
    response = api_client_for(sam).post(
        f"/api/v1/projects/{project.slug}/comments/",
        {"body": "@dana can we lower the minimum?"},
        format="json",
    )

    assert response.status_code == 201, response.content
    notification = Notification.objects.get(user=dana)
    assert notification.kind == "mention"
    assert "sam" in notification.message
    dana_inbox = api_client_for(dana).get("/api/v1/notifications/").json()
    assert dana_inbox[0]["kind"] == "mention"


def test_mention_of_outsider_sends_nothing(project, sam, olga, api_client_for):
    api_client_for(sam).post(
        f"/api/v1/projects/{project.slug}/comments/", {"body": "cc @olga"}, format="json"
    )

    assert not Notification.objects.filter(user=olga).exists()


@pytest.mark.parametrize(
    ("persona", "expected_status"),
    [("alice", 201), ("sam", 201), ("dana", 201), ("olga", 404)],
)
def test_commenting_by_role(project, request, api_client_for, persona, expected_status):
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(
        f"/api/v1/projects/{project.slug}/comments/", {"body": "Looks good."}, format="json"
    )

    assert response.status_code == expected_status


def test_empty_comment_and_unknown_iteration_are_rejected(project, sam, api_client_for):
    client = api_client_for(sam)
    url = f"/api/v1/projects/{project.slug}/comments/"

    empty = client.post(url, {"body": "   "}, format="json")
    unknown = client.post(url, {"body": "On 99", "iteration": 99}, format="json")

    assert empty.status_code == 400
    assert "body" in empty.json()["errors"]
    assert unknown.status_code == 400
    assert "iteration" in unknown.json()["errors"]


def test_comment_list_returns_sanitised_html(project, sam, api_client_for):
    client = api_client_for(sam)
    url = f"/api/v1/projects/{project.slug}/comments/"
    client.post(url, {"body": "<script>x()</script>*fine*"}, format="json")

    comments = client.get(url).json()

    assert "<em>fine</em>" in comments[0]["body_html"]
    assert "<script" not in comments[0]["body_html"]
