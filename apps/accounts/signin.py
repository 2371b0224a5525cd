"""Brute-force protection for signing in, shared by the token endpoint and the sign-in page.

Failed attempts are counted in Django's cache per username and per client address, each count
living one minute from its first failure. Once either count reaches its limit, further attempts
for that username or from that address are rejected without checking the password until the
count expires.
"""

import hashlib
import logging
import math
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

FAILURE_WINDOW_SECONDS = 60
MAX_FAILURES_PER_USERNAME = 10
# Higher than the per-username limit because several people can share one address (an office
# NAT or a proxy), and one person mistyping should not lock the others out.
MAX_FAILURES_PER_ADDRESS = 30


def client_address(request: HttpRequest | Request) -> str:
    """Return the client address the way DRF's throttles identify it (see NUM_PROXIES).

    NOTE: with REST_FRAMEWORK["NUM_PROXIES"] unset, DRF takes X-Forwarded-For as sent, so a
    client can vary its address key. The per-username limit does not depend on it.
    """
    # get_ident reads only request.headers and request.META, which HttpRequest has too.
    return str(BaseThrottle().get_ident(request) or "unknown")  # type: ignore[arg-type]


def _keys(*, username: str, address: str) -> list[tuple[str, int]]:
    # Hashed so that any username or address makes a valid cache key on every backend.
    user_digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    address_digest = hashlib.sha256(address.encode()).hexdigest()
    return [
        (f"signin-failures:user:{user_digest}", MAX_FAILURES_PER_USERNAME),
        (f"signin-failures:address:{address_digest}", MAX_FAILURES_PER_ADDRESS),
    ]


def signin_wait_seconds(*, username: str, address: str) -> int | None:
    """Return how many seconds to wait before the next attempt, or None if it may go ahead."""
    keys = _keys(username=username, address=address)
    stored = cache.get_many([name for key, _ in keys for name in (key, f"{key}:since")])
    now = time.time()
    for key, limit in keys:
        if stored.get(key, 0) >= limit:
            since = stored.get(f"{key}:since", now)
            return max(1, math.ceil(since + FAILURE_WINDOW_SECONDS - now))
    return None


def signin_failure_record(*, username: str, address: str) -> None:
    """Count one failed attempt against the username and the address.

    A count starts with its first failure and expires FAILURE_WINDOW_SECONDS later, so the
    window follows the attempts rather than the clock's minutes.
    """
    for key, limit in _keys(username=username, address=address):
        cache.add(f"{key}:since", time.time(), timeout=FAILURE_WINDOW_SECONDS)
        # add() then incr() is atomic on Redis and on the local-memory cache, so concurrent
        # guesses cannot slip past the limit by reading the same count.
        cache.add(key, 0, timeout=FAILURE_WINDOW_SECONDS)
        try:
            count = cache.incr(key)
        except ValueError:
            # The count expired between add() and incr(); this failure starts a new one.
            cache.set(key, 1, timeout=FAILURE_WINDOW_SECONDS)
            count = 1
        if count == limit:
            logger.warning(
                "sign-in blocked for up to %ss after %s failures (%s)",
                FAILURE_WINDOW_SECONDS,
                count,
                key.split(":")[1],
            )


class SignInFailureThrottle(BaseThrottle):
    """Reject token requests for a username or from an address with too many recent failures.

    The view calls ``signin_failure_record`` on each failed attempt; this throttle only reads
    the counts, so successful requests never use up the limit.
    """

    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        data: Any = request.data
        username = data.get("username", "") if hasattr(data, "get") else ""
        self._wait = signin_wait_seconds(
            username=username if isinstance(username, str) else "",
            address=client_address(request),
        )
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


THROTTLED_MESSAGE = "Too many failed sign-in attempts. Try again in {seconds} seconds."


class ThrottledLoginView(LoginView):
    """Django's sign-in page, with the same failure limits as the token endpoint."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = signin_wait_seconds(
            username=request.POST.get("username", ""), address=client_address(request)
        )
        if wait is None:
            return super().post(request, *args, **kwargs)
        messages.error(request, THROTTLED_MESSAGE.format(seconds=wait))
        # An unbound form: binding it would check the password, which is what the limit stops.
        form = self.get_form_class()(request=request)
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(wait)
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        signin_failure_record(
            username=self.request.POST.get("username", ""), address=client_address(self.request)
        )
        return super().form_invalid(form)
