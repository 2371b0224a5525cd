"""The project audit page, its CSV export, the production history and email preferences."""

import csv
import datetime
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.approvals.services import approval_approve, promotion_request
from apps.audit.models import EmailDelivery, Notification, NotificationPreference
from apps.audit.selectors import csv_cell
from apps.audit.services import audit_record, notification_digest_send, notification_send
from apps.audit.tasks import send_notification_digests
from apps.dashboards.tests.conftest import client_for, dataset, make_iteration
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project

__all__ = ["client_for", "dataset", "make_iteration"]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_csv_cell_escapes_formulas(value: Any, expected: str) -> None:
    assert csv_cell(value) == expected


def test_audit_csv_escapes_formula_cells(
    project: Project, alice: User, client_for: Callable[[User], Client]
) -> None:
    audit_record(
        actor=alice, action="note.added", target=project, project=project, message='=HYPERLINK("x")'
    )

    response = client_for(alice).get(f"/projects/{project.slug}/audit.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert isinstance(response, StreamingHttpResponse)
    content = b"".join(chunk for chunk in response.streaming_content if isinstance(chunk, bytes))
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0][0] == "time"
    messages = [row[7] for row in rows[1:]]
    assert '\'=HYPERLINK("x")' in messages
    assert not any(message.startswith("=") for message in messages)


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 200), ("sam", 200), ("dana", 200), ("olga", 404)]
)
def test_audit_pages_roles(
    persona: str,
    expected: int,
    project: Project,
    client_for: Callable[[User], Client],
    request: pytest.FixtureRequest,
) -> None:
    client = client_for(request.getfixturevalue(persona))

    for url in (
        f"/projects/{project.slug}/audit/",
        f"/projects/{project.slug}/audit.csv",
        f"/projects/{project.slug}/production-history/",
    ):
        assert client.get(url).status_code == expected, url


def test_audit_page_lists_events_with_before_and_after(
    project: Project, alice: User, client_for: Callable[[User], Client]
) -> None:
    html = client_for(alice).get(f"/projects/{project.slug}/audit/").text

    assert "project.created" in html
    assert "alice" in html


def _promote_and_go_live(
    *,
    iteration: Iteration,
    alice: User,
    approver: User,
    live_at: datetime.datetime,
    retired_at: datetime.datetime | None,
) -> Deployment:
    approval = promotion_request(iteration=iteration, user=alice)
    approval_approve(approval=approval, user=approver, comment="Go.")
    deployment = Deployment.objects.get(approval=approval)
    Deployment.objects.filter(pk=deployment.pk).update(
        status=DeploymentStatus.RETIRED if retired_at else DeploymentStatus.LIVE,
        live_at=live_at,
        retired_at=retired_at,
    )
    return deployment


def test_production_history_answers_which_version_was_live(
    project: Project,
    alice: User,
    dana: User,
    dave: User,
    make_iteration: Callable[..., Iteration],
    client_for: Callable[[User], Client],
    api_client_for: Callable[[User], APIClient],
) -> None:
    march = timezone.make_aware(datetime.datetime(2026, 3, 1, 12))
    june = timezone.make_aware(datetime.datetime(2026, 6, 1, 12))
    _promote_and_go_live(
        iteration=make_iteration(1), alice=alice, approver=dana, live_at=march, retired_at=june
    )
    _promote_and_go_live(
        iteration=make_iteration(2), alice=alice, approver=dave, live_at=june, retired_at=None
    )
    client = client_for(alice)

    april = client.get(f"/projects/{project.slug}/production-history/?date=2026-04-15").text
    july = client.get(f"/projects/{project.slug}/production-history/?date=2026-07-01").text
    february = client.get(f"/projects/{project.slug}/production-history/?date=2026-02-01").text
    invalid = client.get(f"/projects/{project.slug}/production-history/?date=yesterday")
    api = api_client_for(alice).get(f"/api/v1/projects/{project.slug}/production-history/").json()

    assert "On 15 Apr 2026: iteration 1" in april
    assert "approved by dana" in april
    assert "On 1 Jul 2026: iteration 2" in july
    assert "approved by dave" in july
    assert "No version was live on 1 Feb 2026" in february
    assert invalid.status_code == 400
    assert [row["iteration"] for row in api] == [2, 1]
    assert api[1]["approved_by"] == ["dana"]


def test_preference_api_and_page(
    alice: User, api_client_for: Callable[[User], APIClient], client_for: Callable[[User], Client]
) -> None:
    client = api_client_for(alice)

    default = client.get("/api/v1/notifications/preferences/").json()
    changed = client.put(
        "/api/v1/notifications/preferences/", {"email_delivery": "daily_digest"}, format="json"
    )
    invalid = client.put(
        "/api/v1/notifications/preferences/", {"email_delivery": "hourly"}, format="json"
    )
    page = client_for(alice).post(
        "/notifications/preferences/", {"email_delivery": "none"}, follow=True
    )

    assert default == {"email_delivery": "immediate"}
    assert changed.json() == {"email_delivery": "daily_digest"}
    assert invalid.status_code == 400
    assert page.status_code == 200
    assert NotificationPreference.objects.get(user=alice).email_delivery == EmailDelivery.NONE


def test_digest_sends_one_email_with_unsent_notifications(
    alice: User, sam: User, django_capture_on_commit_callbacks: Any
) -> None:
    NotificationPreference.objects.create(user=alice, email_delivery=EmailDelivery.DAILY_DIGEST)
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(user_id=alice.pk, kind="promotion.requested", message="First", email=True)
        notification_send(user_id=alice.pk, kind="promotion.approved", message="Second", email=True)
        notification_send(user_id=alice.pk, kind="mention", message="In-app only")
        notification_send(
            user_id=sam.pk, kind="promotion.approved", message="Immediate", email=True
        )

    assert [message.to for message in mail.outbox] == [["sam@example.com"]]
    mail.outbox.clear()

    sent = send_notification_digests()
    again = notification_digest_send()

    assert sent == 1
    assert again == 0
    assert len(mail.outbox) == 1
    assert "First" in mail.outbox[0].body
    assert "Second" in mail.outbox[0].body
    assert "In-app only" not in mail.outbox[0].body
    assert not Notification.objects.filter(
        user=alice, by_email=True, emailed_at__isnull=True
    ).exists()
