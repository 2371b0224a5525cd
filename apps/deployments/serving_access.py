"""Token and membership checks for the predict endpoint, reused for a few seconds.

Every request is still authenticated and checked for the PREDICT action; what is reused is
the database answer for a token and a (user, project) pair that passed, for at most
``SERVING_ACCESS_CACHE_SECONDS``. So a revoked token, a deactivated user or a removed member
is refused within that bound in every serving process. Failures are never cached.
"""

import threading
import time
from typing import Any

from django.conf import settings

from apps.accounts.access import project_get_for_user
from apps.accounts.authentication import ApiTokenAuthentication
from apps.accounts.models import ApiToken, token_hash
from apps.accounts.permissions import Action
from apps.projects.models import Project

# Bounds memory when many distinct tokens call one process; the whole cache is dropped then.
MAX_ENTRIES = 10_000

_tokens: dict[str, tuple[float, Any, ApiToken]] = {}
_projects: dict[tuple[int, str], tuple[float, Project]] = {}
_lock = threading.Lock()


def cache_clear() -> None:
    with _lock:
        _tokens.clear()
        _projects.clear()


class CachedTokenAuthentication(ApiTokenAuthentication):
    """``Authorization: Token <key>``, with a verified token reused for a few seconds."""

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        ttl = float(settings.SERVING_ACCESS_CACHE_SECONDS)
        if ttl <= 0:
            return super().authenticate_credentials(key)
        digest = token_hash(key)
        now = time.monotonic()
        hit = _tokens.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        user, token = super().authenticate_credentials(key)
        with _lock:
            if len(_tokens) >= MAX_ENTRIES:
                _tokens.clear()
            _tokens[digest] = (now + ttl, user, token)
        return user, token


def project_for_predict(*, user: Any, slug: str) -> Project:
    """Return the project if ``user`` may call its predict endpoint, as ``project_get_for_user``.

    Outsiders get 404 and members whose role lacks PREDICT get 403, from the same helper.
    """
    ttl = float(settings.SERVING_ACCESS_CACHE_SECONDS)
    if ttl <= 0 or not user.is_authenticated:
        return project_get_for_user(user=user, slug=slug, action=Action.PREDICT)
    key = (int(user.pk), slug)
    now = time.monotonic()
    hit = _projects.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    project = project_get_for_user(user=user, slug=slug, action=Action.PREDICT)
    with _lock:
        if len(_projects) >= MAX_ENTRIES:
            _projects.clear()
        _projects[key] = (now + ttl, project)
    return project
