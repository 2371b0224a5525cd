from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import Notification
from apps.audit.services import notification_send
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


@pytest.fixture
def client_for(db: None) -> ClientFor:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.mark.django_db
def test_notifications_require_sign_in(client: Client) -> None:
    response = client.get(reverse("notification-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_notifications_page_lists_only_own(
    client_for: ClientFor, project: Project, sam: User, dana: User
) -> None:
    notification_send(user_id=sam.pk, kind="mention", message="For sam", project=project)
    notification_send(user_id=dana.pk, kind="mention", message="For dana", project=project)

    html = client_for(sam).get(reverse("notification-list")).text

    assert "For sam" in html
    assert "For dana" not in html
    assert project.name in html


def test_unread_badge_counts_unread_notifications(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    for index in range(3):
        notification_send(user_id=sam.pk, kind="mention", message=f"Note {index}")
    Notification.objects.filter(message="Note 0").update(read_at="2030-01-01T00:00:00Z")

    html = client_for(sam).get(reverse("home")).text

    assert 'aria-label="2 unread"' in html


def test_badge_is_hidden_without_unread(client_for: ClientFor, sam: User) -> None:
    html = client_for(sam).get(reverse("home")).text

    assert reverse("notification-list") in html
    assert "unread" not in html


def test_mark_all_read_clears_badge(
    client_for: ClientFor, project: Project, sam: User, dana: User
) -> None:
    notification_send(user_id=sam.pk, kind="mention", message="For sam")
    notification_send(user_id=dana.pk, kind="mention", message="For dana")
    client = client_for(sam)

    response = client.post(reverse("notification-mark-all-read"), follow=True)

    assert response.status_code == 200
    assert "Marked 1 notification read." in response.text
    assert 'aria-label="1 unread"' not in response.text
    assert not Notification.objects.filter(user=sam, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=dana, read_at__isnull=True).exists()


def test_mark_all_read_needs_post(client_for: ClientFor, sam: User) -> None:
    response = client_for(sam).get(reverse("notification-mark-all-read"))

    assert response.status_code == 405


def test_unread_count_tag_runs_one_query(sam: User) -> None:
    for index in range(5):
        notification_send(user_id=sam.pk, kind="mention", message=f"Note {index}")
    request = RequestFactory().get("/")
    request.user = sam
    template = Template("{% load portal %}{% unread_notification_count as n %}{{ n }}")

    with CaptureQueriesContext(connection) as queries:
        rendered = template.render(Context({"request": request}))

    assert rendered == "5"
    assert len(queries) == 1
