"""Failed sign-ins are limited per username and per client address, on the API and the page."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from apps.accounts.signin import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USERNAME

pytestmark = pytest.mark.django_db

PASSWORD = "portal-test-password"
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _empty_counters() -> Iterator[None]:
    # The counters live in the cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


def _token(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    response = client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )
    return response


def test_token_failures_lock_username(client: Client, dana: User) -> None:
    failures = [
        _token(client, "dana", "wrong").status_code for _ in range(MAX_FAILURES_PER_USERNAME)
    ]

    blocked = _token(client, "dana", "wrong")
    correct = _token(client, "dana", PASSWORD)

    assert failures == [400] * MAX_FAILURES_PER_USERNAME
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked.json()["code"] == "throttled"
    assert correct.status_code == 429


def test_username_lock_spans_addresses(client: Client, dana: User) -> None:
    for index in range(MAX_FAILURES_PER_USERNAME):
        _token(client, "dana", "wrong", address=f"10.0.1.{index}")

    response = _token(client, "dana", PASSWORD, address="10.0.2.1")

    assert response.status_code == 429


def test_username_lock_ignores_case(client: Client, dana: User) -> None:
    for _ in range(MAX_FAILURES_PER_USERNAME):
        _token(client, "Dana", "wrong")

    assert _token(client, "dana", "wrong").status_code == 429


def test_lock_leaves_other_users_alone(client: Client, alice: User, dana: User) -> None:
    for index in range(MAX_FAILURES_PER_USERNAME):
        _token(client, "dana", "wrong", address=f"10.0.3.{index}")

    response = _token(client, "alice", PASSWORD, address="10.0.4.1")

    assert response.status_code == 200


def test_successes_do_not_count(client: Client, alice: User) -> None:
    statuses = [
        _token(client, "alice", PASSWORD, address=f"10.0.5.{index}").status_code
        for index in range(MAX_FAILURES_PER_USERNAME + 2)
    ]

    assert statuses == [200] * (MAX_FAILURES_PER_USERNAME + 2)


def test_token_failures_lock_address(client: Client, alice: User) -> None:
    for index in range(MAX_FAILURES_PER_ADDRESS):
        response = _token(client, f"guess{index}", "wrong", address="10.0.6.1")
        assert response.status_code == 400

    blocked = _token(client, "alice", PASSWORD, address="10.0.6.1")
    elsewhere = _token(client, "alice", PASSWORD, address="10.0.6.2")

    assert blocked.status_code == 429
    assert "Retry-After" in blocked
    assert elsewhere.status_code == 200


def _sign_in(client: Client, username: str, password: str) -> Any:
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response


def test_login_page_failures_lock_username(client: Client, dana: User) -> None:
    failures = [
        _sign_in(client, "dana", "wrong").status_code for _ in range(MAX_FAILURES_PER_USERNAME)
    ]

    blocked = _sign_in(client, "dana", PASSWORD)

    assert failures == [200] * MAX_FAILURES_PER_USERNAME
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_and_api_share_the_counter(client: Client, dana: User) -> None:
    for _ in range(MAX_FAILURES_PER_USERNAME):
        _sign_in(client, "dana", "wrong")

    response = client.post(
        TOKEN_URL, {"username": "dana", "password": PASSWORD}, content_type="application/json"
    )

    assert response.status_code == 429


def test_login_page_still_signs_in(client: Client, dana: User) -> None:
    _sign_in(client, "dana", "wrong")

    response = _sign_in(client, "dana", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(dana.pk)
