"""A real browser (Debian's Chromium, driven by Playwright) against a real server (``manage.py serve``:
daphne with the dispatcher inside) and the Leshan double.

Without /usr/bin/chromium these tests are skipped, unless FIELDHUB_REQUIRE_BROWSER=1 (CI installs
Chromium and sets it), where a missing browser fails them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connections

from core.lwm2m.types import DataType
from core.roles import Role
from core.simulator.client import SimulatedClient
from core.simulator.double.server import LeshanDouble
from tests.factories import make_user
from tests.servers import embedded

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]
# Where the tests' screenshots go: var/screenshots (ignored), so that `make test` leaves the checkout clean;
# `make screenshots` points this at docs/screenshots to refresh the README's pictures.
SCREENSHOTS = Path(os.environ.get("FIELDHUB_SCREENSHOTS") or ROOT / "var" / "screenshots").resolve()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


class PageErrors:
    """Every console error and uncaught exception of every page a test opens (a 404 for a resource, a
    refused inline handler, an htmx swap with no target all log one). The ``browser`` fixture fails the
    test if any was not expected (``allow``)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """An error this test causes on purpose (a server it stops, a request it forges)."""
        self.allowed.append(re.compile(pattern))

    def watch(self, context: Any) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.seen.append(f"uncaught: {error.error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.page.url if message.page else "?"
            self.seen.append(f"{where}: {message.text} ({message.location.get('url', '')})")

    def unexpected(self) -> list[str]:
        return [error for error in self.seen if not any(p.search(error) for p in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so that the ``browser`` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, page_errors: PageErrors) -> Iterator[Any]:
    """Chromium for one test; every context it opens is watched for console errors, and the test fails if a
    page logged one it did not expect (unless it failed already: then its pages saw the servers stop).

    Playwright's sync API runs an event loop in this thread while it lives, which makes Django refuse
    database calls here (SynchronousOnlyOperation); the test's own fixtures make them, so Django's
    documented escape hatch is set for this test only, and the loop ends with it."""
    if not CHROMIUM.exists():
        if os.environ.get("FIELDHUB_REQUIRE_BROWSER") == "1":
            pytest.fail("FIELDHUB_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        new_context = launched.new_context

        def watched_context(*args: Any, **kwargs: Any) -> Any:
            context = new_context(*args, **kwargs)
            page_errors.watch(context)
            return context

        launched.new_context = watched_context
        yield launched
        for context in launched.contexts:  # what the pages are still doing is logged before they close
            for page in context.pages:
                page.wait_for_timeout(200)
                break
        unexpected = page_errors.unexpected()
        launched.close()
        call = getattr(request.node, "report_call", None)
        if call is not None and call.passed:
            assert not unexpected, "the pages logged errors:\n" + "\n".join(unexpected)
        connections.close_all()  # the ones this test opened while Playwright's loop ran live in its context


@pytest.fixture
def leshan() -> Iterator[LeshanDouble]:
    resources = {
        "/3/0/0": (DataType.STRING, "Acme"),
        "/3/0/14": (DataType.STRING, "+01"),
        "/3303/0/5700": (DataType.FLOAT, 21.5),
    }
    double = LeshanDouble(clients=[SimulatedClient(endpoint="urn:dev:browser-1", resources=resources)])
    with double.run_in_thread():
        yield double


@pytest.fixture
def server(transactional_db: None, leshan: LeshanDouble) -> Iterator[str]:
    with embedded(LESHAN_URL=leshan.base_url, EMBEDDED_WORKERS="1", DISPATCH_SWEEP_SECONDS="2") as url:
        yield url


@functools.cache
def server_hash() -> str:
    """PASSWORD hashed with a hasher the server process knows: the test settings hash with MD5 for speed,
    which production settings (rightly) do not accept."""
    return make_password(PASSWORD, hasher=PBKDF2PasswordHasher())


@pytest.fixture
def personas(transactional_db: None) -> dict[str, Any]:
    users = {
        "admin": make_user(Role.ADMIN, username="ada", is_staff=True),
        "operator": make_user(Role.OPERATOR, username="otto"),
        "viewer": make_user(Role.VIEWER, username="vera"),
    }
    for user in users.values():
        user.password = server_hash()
        user.save(update_fields=["password"])
    return users


def log_in(browser: Any, server: str, username: str, *, width: int = 1400) -> Any:
    """A new browser context logged in through the login form; returns its page on the dashboard."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/")
    assert page.url.startswith(f"{server}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    return page
