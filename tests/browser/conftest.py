"""A real browser (Debian's Chromium, driven by Playwright) against a real server (``manage.py serve``:
daphne with the dispatcher inside) and the Leshan double.

Without /usr/bin/chromium these tests are skipped, unless FIELDHUB_REQUIRE_BROWSER=1 (CI installs
Chromium and sets it), where a missing browser fails them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connections

from core.lwm2m.types import DataType
from core.roles import Role
from core.simulator.leshan import LeshanDouble, SimulatedClient
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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Chromium for one test. Playwright's sync API runs an event loop in this thread while it lives, which
    makes Django refuse database calls here (SynchronousOnlyOperation); the test's own fixtures make them,
    so Django's documented escape hatch is set for this test only, and the loop ends with it."""
    if not CHROMIUM.exists():
        if os.environ.get("FIELDHUB_REQUIRE_BROWSER") == "1":
            pytest.fail("FIELDHUB_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()
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


def log_in(browser: Any, server: str, username: str) -> Any:
    """A new browser context logged in through the login form; returns its page on the dashboard."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/")
    assert page.url.startswith(f"{server}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    return page
