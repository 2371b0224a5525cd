"""Posting and showing business and operational metric values: service, API and project page."""

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput
from apps.projects.models import Direction, MetricKind, MetricObservation, Project, Verdict
from apps.projects.observations import metric_observation_post
from apps.projects.selectors import metric_observation_latest
from apps.projects.services import MetricInput, project_update

HOURS_SAVED = "hours_saved_per_week"
LATENCY = "p95_latency_ms"

MODEL_METRICS = [
    MetricInput(name="roc_auc", target=0.95, minimum=0.9),
    MetricInput(name="recall", target=0.9),
]


def _observed_metrics(*, hours_target: float = 10.0) -> list[MetricInput]:
    return [
        *MODEL_METRICS,
        MetricInput(
            name=HOURS_SAVED,
            kind=MetricKind.BUSINESS,
            direction=Direction.HIGHER,
            target=hours_target,
            minimum=5.0,
            unit="h",
        ),
        MetricInput(
            name=LATENCY,
            kind=MetricKind.OPERATIONAL,
            direction=Direction.LOWER,
            target=200.0,
            minimum=500.0,
            unit="ms",
        ),
    ]


@pytest.fixture
def observed_project(project: Project, alice: User) -> Project:
    """``project`` with a business and an operational metric next to its model metrics."""
    return project_update(project=project, user=alice, metrics=_observed_metrics())


@pytest.fixture
def client_for(db: None) -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def _today() -> datetime.date:
    return timezone.localdate()


def _post(project: Project, user: User, **overrides: Any) -> MetricObservation:
    arguments: dict[str, Any] = {
        "metric_name": HOURS_SAVED,
        "value": 7.5,
        "observed_on": _today(),
        "note": "",
    }
    arguments.update(overrides)
    return metric_observation_post(project=project, user=user, **arguments)


def _field_errors(error: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return set(error.value.errors)


# Service


def test_post_stores_value_and_audit_event(observed_project: Project, alice: User) -> None:
    observation = _post(observed_project, alice, value="12.5", note="  from the time sheets ")

    assert observation.metric_name == HOURS_SAVED
    assert observation.metric is not None
    assert observation.metric.name == HOURS_SAVED
    assert observation.value == 12.5
    assert observation.note == "from the time sheets"
    assert observation.posted_by == alice
    event = AuditEvent.objects.get(action="metric.observed")
    assert event.project_id == observed_project.pk
    assert event.object_id == str(observation.pk)
    assert event.after["value"] == 12.5


def test_post_rejects_model_metric(observed_project: Project, alice: User) -> None:
    with pytest.raises(InvalidInput) as error:
        _post(observed_project, alice, metric_name="roc_auc", value=0.97)

    assert _field_errors(error) == {"metric"}
    assert "training measures" in error.value.message
    assert not MetricObservation.objects.exists()


def test_post_rejects_unknown_metric(observed_project: Project, alice: User) -> None:
    with pytest.raises(InvalidInput) as error:
        _post(observed_project, alice, metric_name="tickets_closed")

    assert _field_errors(error) == {"metric"}
    assert HOURS_SAVED in error.value.message
    assert not MetricObservation.objects.exists()
    assert not AuditEvent.objects.filter(action="metric.observed").exists()


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), "NaN", "-inf", "1e400", "many", True]
)
def test_post_rejects_invalid_value(observed_project: Project, alice: User, value: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        _post(observed_project, alice, value=value)

    assert _field_errors(error) == {"value"}
    assert not MetricObservation.objects.exists()


def test_post_rejects_future_date(observed_project: Project, alice: User) -> None:
    tomorrow = _today() + datetime.timedelta(days=1)

    with pytest.raises(InvalidInput) as error:
        _post(observed_project, alice, observed_on=tomorrow)

    assert _field_errors(error) == {"observed_on"}
    assert not MetricObservation.objects.exists()


def test_post_rejects_too_long_note(observed_project: Project, alice: User) -> None:
    with pytest.raises(InvalidInput) as error:
        _post(observed_project, alice, note="x" * 2001)

    assert _field_errors(error) == {"note"}


# Selector


def test_latest_value_is_judged_against_minimum_and_target(
    observed_project: Project, alice: User, dana: User
) -> None:
    _post(observed_project, alice, value=12.0, observed_on=_today() - datetime.timedelta(days=9))
    _post(observed_project, dana, value=6.0, observed_on=_today() - datetime.timedelta(days=2))
    # Posted last but measured earlier, so it is not the latest value.
    _post(observed_project, alice, value=1.0, observed_on=_today() - datetime.timedelta(days=20))

    observed = {
        item.metric.name: item for item in metric_observation_latest(project=observed_project)
    }

    assert set(observed) == {HOURS_SAVED, LATENCY}
    hours = observed[HOURS_SAVED]
    assert hours.latest is not None
    assert hours.latest.value == 6.0
    assert hours.minimum_verdict == Verdict.MET
    assert hours.verdict == Verdict.MISSED
    latency = observed[LATENCY]
    assert latency.latest is None
    assert latency.verdict == Verdict.UNDEFINED
    assert latency.minimum_verdict == Verdict.UNDEFINED


def test_lower_is_better_metric_meets_target_below_it(
    observed_project: Project, alice: User
) -> None:
    _post(observed_project, alice, metric_name=LATENCY, value=180.0)

    observed = {
        item.metric.name: item for item in metric_observation_latest(project=observed_project)
    }

    assert observed[LATENCY].verdict == Verdict.MET
    assert observed[LATENCY].minimum_verdict == Verdict.MET


def test_history_survives_edit_of_targets(observed_project: Project, alice: User) -> None:
    observation = _post(observed_project, alice, value=8.0)

    project_update(project=observed_project, user=alice, metrics=_observed_metrics(hours_target=7))

    observation.refresh_from_db()
    assert observation.metric is None
    observed = {
        item.metric.name: item for item in metric_observation_latest(project=observed_project)
    }
    assert observed[HOURS_SAVED].latest == observation
    assert observed[HOURS_SAVED].metric.target == 7
    assert observed[HOURS_SAVED].verdict == Verdict.MET


def test_latest_values_take_one_query(
    observed_project: Project, alice: User, django_assert_num_queries: Any
) -> None:
    for day in range(10):
        _post(
            observed_project, alice, value=day, observed_on=_today() - datetime.timedelta(days=day)
        )
        _post(observed_project, alice, metric_name=LATENCY, value=300 + day)
    metrics = list(observed_project.metrics.all())

    with django_assert_num_queries(1):
        observed = metric_observation_latest(project=observed_project, metrics=metrics)
        names = [item.latest.posted_by.username for item in observed if item.latest is not None]

    assert names == ["alice", "alice"]


# API


def _api_url(project: Project) -> str:
    return reverse("api-observation-list", args=[project.slug])


@pytest.mark.parametrize(
    ("username", "expected_status"),
    [("alice", 201), ("dana", 201), ("sam", 403), ("olga", 404)],
)
def test_api_post_by_role(
    observed_project: Project,
    api_client_for: Callable[[User], APIClient],
    make_user: Callable[[str], User],
    username: str,
    expected_status: int,
) -> None:
    body = {"metric": LATENCY, "value": 180, "observed_on": _today().isoformat(), "note": "APM"}

    response = api_client_for(make_user(username)).post(
        _api_url(observed_project), body, format="json"
    )

    assert response.status_code == expected_status, response.json()
    assert MetricObservation.objects.count() == (1 if expected_status == 201 else 0)
    if expected_status == 201:
        data = response.json()
        assert data["metric"] == LATENCY
        assert data["value"] == 180.0
        assert data["posted_by"] == username
        assert data["verdict"] == Verdict.MET


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "roc_auc", "value": 0.97}, "metric"),
        ({"metric": "tickets_closed", "value": 3}, "metric"),
        ({"value": "NaN"}, "value"),
        ({"value": "1e400"}, "value"),
        ({"value": "Infinity"}, "value"),
        ({"value": "seven"}, "value"),
        ({"value": None}, "value"),
        ({"observed_on": "2999-01-01"}, "observed_on"),
        ({"observed_on": "yesterday"}, "observed_on"),
        ({"metric": ""}, "metric"),
    ],
)
def test_api_post_rejects_bad_input(
    observed_project: Project,
    api_client_for: Callable[[User], APIClient],
    alice: User,
    body: dict[str, Any],
    field: str,
) -> None:
    payload = {"metric": HOURS_SAVED, "value": 7, "observed_on": _today().isoformat()} | body

    response = api_client_for(alice).post(_api_url(observed_project), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not MetricObservation.objects.exists()


def test_api_lists_newest_first_with_metric_filter(
    observed_project: Project,
    api_client_for: Callable[[User], APIClient],
    alice: User,
    sam: User,
) -> None:
    _post(observed_project, alice, value=4.0, observed_on=_today() - datetime.timedelta(days=14))
    _post(observed_project, alice, value=9.0, observed_on=_today() - datetime.timedelta(days=7))
    _post(observed_project, alice, metric_name=LATENCY, value=650.0)
    client = api_client_for(sam)

    everything = client.get(_api_url(observed_project))
    hours = client.get(_api_url(observed_project), {"metric": HOURS_SAVED})

    assert everything.status_code == 200
    assert [item["value"] for item in everything.json()] == [650.0, 9.0, 4.0]
    assert hours.status_code == 200
    assert [item["value"] for item in hours.json()] == [9.0, 4.0]
    assert [item["minimum_verdict"] for item in hours.json()] == [Verdict.MET, Verdict.MISSED]
    assert everything.json()[0]["verdict"] == Verdict.MISSED


def test_api_list_hidden_from_outsider(
    observed_project: Project, api_client_for: Callable[[User], APIClient], olga: User
) -> None:
    response = api_client_for(olga).get(_api_url(observed_project))

    assert response.status_code == 404


# Project page


def _page(client: Client, project: Project) -> str:
    response = client.get(reverse("project-detail", args=[project.slug]))
    assert response.status_code == 200
    return response.text


def test_page_shows_latest_value_and_verdicts(
    observed_project: Project, client_for: Callable[[User], Client], alice: User, sam: User
) -> None:
    _post(observed_project, alice, value=3.0, observed_on=_today() - datetime.timedelta(days=30))
    _post(observed_project, alice, value=11.25, note="Q3 time sheets")

    html = _page(client_for(sam), observed_project)

    assert "Business and operational metrics" in html
    assert "11.25 h" in html
    assert "3 h" not in html
    assert "Q3 time sheets" in html
    assert _today().strftime("%-d %b %Y") in html
    section = html.split('id="observations"', 1)[1].split("</section>", 1)[0]
    assert section.count("badge-met") == 2
    assert "no value yet" in section


def test_page_offers_form_only_to_posting_roles(
    observed_project: Project,
    client_for: Callable[[User], Client],
    alice: User,
    dana: User,
    sam: User,
) -> None:
    form_url = reverse("project-observation", args=[observed_project.slug])

    assert form_url in _page(client_for(alice), observed_project)
    assert form_url in _page(client_for(dana), observed_project)
    assert form_url not in _page(client_for(sam), observed_project)


def test_page_without_observed_metrics_links_to_framing(
    project: Project, client_for: Callable[[User], Client], alice: User
) -> None:
    html = _page(client_for(alice), project)

    assert "This project has no business or operational metrics." in html
    assert reverse("project-framing", args=[project.slug]) in html
    assert reverse("project-observation", args=[project.slug]) not in html


def test_page_form_posts_value(
    observed_project: Project, client_for: Callable[[User], Client], dana: User
) -> None:
    client = client_for(dana)

    response = client.post(
        reverse("project-observation", args=[observed_project.slug]),
        {"metric": LATENCY, "value": "420", "observed_on": _today().isoformat(), "note": ""},
    )

    assert response.status_code == 302
    assert response["Location"].endswith("#observations")
    observation = MetricObservation.objects.get()
    assert observation.value == 420.0
    assert observation.posted_by == dana
    html = _page(client, observed_project)
    assert "420 ms" in html


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metric": "roc_auc"}, "model metric"),
        ({"value": "1e400"}, "Value:"),
        ({"value": ""}, "Value:"),
        ({"observed_on": "2999-01-01"}, "in the future"),
    ],
)
def test_page_form_reports_bad_input_as_message(
    observed_project: Project,
    client_for: Callable[[User], Client],
    alice: User,
    body: dict[str, str],
    message: str,
) -> None:
    payload = {"metric": HOURS_SAVED, "value": "7", "observed_on": _today().isoformat()} | body

    response = client_for(alice).post(
        reverse("project-observation", args=[observed_project.slug]), payload
    )

    assert response.status_code == 302
    errors = [str(item) for item in get_messages(response.wsgi_request)]
    assert any(message in error for error in errors), errors
    assert not MetricObservation.objects.exists()


@pytest.mark.parametrize(("username", "expected_status"), [("sam", 403), ("olga", 404)])
def test_page_form_rejects_roles_without_access(
    observed_project: Project,
    client_for: Callable[[User], Client],
    make_user: Callable[[str], User],
    username: str,
    expected_status: int,
) -> None:
    response = client_for(make_user(username)).post(
        reverse("project-observation", args=[observed_project.slug]),
        {"metric": HOURS_SAVED, "value": "7", "observed_on": _today().isoformat()},
    )

    assert response.status_code == expected_status
    assert not MetricObservation.objects.exists()


def test_page_query_count_does_not_grow_with_observations(
    observed_project: Project, client_for: Callable[[User], Client], alice: User
) -> None:
    client = client_for(alice)
    _post(observed_project, alice, value=6.0)
    _post(observed_project, alice, metric_name=LATENCY, value=250.0)
    url = reverse("project-detail", args=[observed_project.slug])
    client.get(url)  # warm the session and the content-type cache
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    for day in range(1, 40):
        observed_on = _today() - datetime.timedelta(days=day)
        _post(observed_project, alice, value=day, observed_on=observed_on)
        _post(observed_project, alice, metric_name=LATENCY, value=day, observed_on=observed_on)
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert MetricObservation.objects.count() == 80
    assert len(many) == len(few)
