"""Chromium and sign-in helpers shared by the browser tests (Debian's Chromium via Playwright).

Playwright's sync API keeps an asyncio event loop running in this thread while a browser is
open, and Django refuses ORM calls from such a thread. Rather than switch that check off with
DJANGO_ALLOW_ASYNC_UNSAFE, the tests do all their database work before ``chromium_browser``
starts: the fixtures that write rows come before it in the test's arguments. A connection
opened while the loop ran was also seen to stay open after the test, and PostgreSQL then
refuses to drop the test database.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-password"
VIEWPORT = {"width": 1280, "height": 1000}
TIMEOUT_MS = 30_000


@pytest.fixture
def chromium_browser() -> Iterator[Any]:
    """A Playwright browser running Debian's Chromium, closed after the test.

    Without /usr/bin/chromium the test is skipped, unless PORTAL_REQUIRE_BROWSER=1 (set by CI)
    turns that into a failure.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install Debian's chromium package to run browser tests."
        if os.environ.get("PORTAL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def browser_page(browser: Any) -> Any:
    """Open a page in a new browser context, so that it shares no cookies with other pages."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


@pytest.fixture
def chromium_page(chromium_browser: Any) -> Any:
    """A fresh page in its own browser context."""
    return browser_page(chromium_browser)


def sign_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and fail the test if the portal rejects the password."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, f"sign-in as {username} failed"
