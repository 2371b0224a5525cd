"""Fixtures shared by the end-to-end and browser tests."""

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from portal.celery import app as celery_app


@dataclass(frozen=True)
class IsolatedBroker:
    """A broker that only this test publishes to, and the environment a worker needs for it."""

    url: str
    transport_options: dict[str, Any]
    worker_env: dict[str, str] = field(default_factory=dict)


def _broker_use(*, write_url: str | None, transport_options: dict[str, Any]) -> None:
    """Send this process's tasks to ``write_url``, or to the configured broker for None.

    Celery builds its connection and producer pools once and keeps them, so changing the
    configuration alone would not reach tasks sent from ``transaction.on_commit``. The URL goes
    through CELERY_BROKER_WRITE_URL because Celery lets CELERY_BROKER_URL in the environment
    win over its configuration.
    """
    if write_url is None:
        os.environ.pop("CELERY_BROKER_WRITE_URL", None)
    else:
        os.environ["CELERY_BROKER_WRITE_URL"] = write_url
    celery_app.conf.update(broker_transport_options=transport_options)
    # NOTE: these are Celery's private caches (the same ones it clears after a fork);
    # recheck them when upgrading Celery.
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


def _broker_for(var_dir: Path) -> IsolatedBroker:
    url = str(celery_app.conf.broker_url)
    if url.startswith("filesystem://"):
        # settings.py keeps every folder of the filesystem broker under PORTAL_VAR_DIR/broker,
        # so the same folders under another var dir make a broker of its own.
        configured = Path(settings.CELERY_BROKER_DIR)
        options: dict[str, Any] = {}
        for key, value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items():
            if isinstance(value, str) and Path(value).is_relative_to(configured):
                folder = var_dir / "broker" / Path(value).relative_to(configured)
                folder.mkdir(parents=True, exist_ok=True)
                value = str(folder)
            options[key] = value
        return IsolatedBroker(url, options, {"PORTAL_VAR_DIR": str(var_dir)})
    if url.startswith(("redis://", "rediss://")):
        # Another database number keeps these messages apart from other workers on the same
        # Redis server. NOTE: two runs at once may still draw the same number.
        parts = urlsplit(url)
        current = parts.path.strip("/") or "0"
        choices = [number for number in range(1, 16) if str(number) != current]
        isolated = urlunsplit(parts._replace(path=f"/{random.choice(choices)}"))
        options = dict(celery_app.conf.broker_transport_options or {})
        return IsolatedBroker(
            isolated, options, {"CELERY_BROKER_URL": isolated, "PORTAL_VAR_DIR": str(var_dir)}
        )
    raise NotImplementedError(f"No isolated broker for the transport {url.split(':', 1)[0]}.")


@pytest.fixture
def isolated_broker(tmp_path: Path) -> Iterator[IsolatedBroker]:
    """Publish this test's tasks to a broker of its own.

    Without it, tasks queued by a test that commits (``transactional_db``, ``live_server``)
    would land in the portal's own broker, where a worker started by ``scripts/run`` from the
    same checkout would pick them up and run them against the wrong database.
    """
    broker = _broker_for(tmp_path / "broker-var")
    original_options = dict(celery_app.conf.broker_transport_options or {})
    original_write_url = os.environ.get("CELERY_BROKER_WRITE_URL")
    _broker_use(write_url=broker.url, transport_options=broker.transport_options)
    yield broker
    # Drop messages no worker took (a browser test trains in-process), so that a later run
    # that draws the same Redis database number does not receive them.
    celery_app.control.purge()
    _broker_use(write_url=original_write_url, transport_options=original_options)


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: Any) -> Any:
    """pytest-django's live server, stopped before the test database is dropped.

    Without the dependency the server can outlive the test database, and PostgreSQL then
    refuses to drop a database that the server's connection still uses.
    """
    return live_server
