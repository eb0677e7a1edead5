"""Login throttling: repeated failed logins lock a user name, or a client address, for a while."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.models import LoginThrottle
from core.roles import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed logins: logging in is locked for 15 minutes."


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20
    settings.LOGIN_LOCKOUT_SECONDS = 900


def log_in(client: Client, username: str, password: str, *, url: str = "/accounts/login/", address: str = "") -> Any:
    extra = {"REMOTE_ADDR": address} if address else {}
    return client.post(url, {"username": username, "password": password}, **extra)


def fail(client: Client, username: str, times: int, **kwargs: Any) -> list[int]:
    return [log_in(client, username, "wrong password", **kwargs).status_code for _ in range(times)]


def test_it_locks_a_user_name_after_the_limit_and_says_so() -> None:
    user = make_user(Role.VIEWER)
    client = Client()
    assert fail(client, user.username, 4) == [200, 200, 200, 200]
    response = log_in(client, user.username, "wrong password")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    # Locked: even the right password is refused, with the same message, and no session is made.
    response = log_in(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_below_the_limit_shows_the_usual_message() -> None:
    user = make_user(Role.VIEWER)
    response = log_in(Client(), user.username, "wrong password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "Too many failed logins" not in response.content.decode()


def test_the_user_name_is_counted_regardless_of_case() -> None:
    make_user(Role.VIEWER, username="alice")
    client = Client()
    fail(client, "ALICE", 3)
    fail(client, "Alice", 2)
    assert log_in(client, "alice", PASSWORD).status_code == 429


def test_a_successful_login_resets_the_count() -> None:
    user = make_user(Role.VIEWER)
    client = Client()
    fail(client, user.username, 4)
    assert log_in(client, user.username, PASSWORD).status_code == 302
    assert not LoginThrottle.objects.filter(key=f"user:{user.username}").exists()
    client.post("/accounts/logout/")
    assert fail(client, user.username, 4) == [200, 200, 200, 200]
    assert log_in(client, user.username, PASSWORD).status_code == 302


def test_the_lockout_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(Role.VIEWER)
    client = Client()
    fail(client, user.username, 5)
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(seconds=600))
    response = log_in(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "locked for 5 minutes" in response.content.decode()
    monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(seconds=901))
    assert log_in(client, user.username, PASSWORD).status_code == 302
    # After the lockout the count starts again from zero.
    client.post("/accounts/logout/")
    assert fail(client, user.username, 4) == [200, 200, 200, 200]


def test_old_failures_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(Role.VIEWER)
    client = Client()
    fail(client, user.username, 4)
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(seconds=901))
    assert fail(client, user.username, 4) == [200, 200, 200, 200]


def test_it_locks_a_client_address_that_tries_many_user_names(settings: Any) -> None:
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    user = make_user(Role.VIEWER)
    client = Client()
    assert [log_in(client, name, "x", address="192.0.2.7").status_code for name in ("a", "b")] == [200, 200]
    assert log_in(client, "c", "x", address="192.0.2.7").status_code == 429
    # The address is locked, for every user name; the user name itself is not.
    assert log_in(client, user.username, PASSWORD, address="192.0.2.7").status_code == 429
    assert log_in(client, user.username, PASSWORD, address="192.0.2.8").status_code == 302


def test_the_address_limit_can_be_turned_off(settings: Any) -> None:
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 0
    for name in ("a", "b", "c", "d", "e", "f"):
        assert log_in(Client(), name, "x", address="192.0.2.7").status_code == 200
    assert not LoginThrottle.objects.filter(key__startswith="address:").exists()


def test_the_admin_login_is_throttled_by_the_same_counter_and_answers_429() -> None:
    user = make_user(Role.ADMIN, is_staff=True)
    client = Client()
    assert fail(client, user.username, 3, url="/admin/login/") == [200, 200, 200]
    fail(client, user.username, 1)
    response = log_in(client, user.username, "wrong password", url="/admin/login/")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    response = log_in(client, user.username, PASSWORD, url="/admin/login/")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/login/").status_code == 200  # the page itself is not locked
    # Below the limit, the admin's own login works as before.
    other = make_user(Role.ADMIN, is_staff=True)
    response = log_in(client, other.username, PASSWORD, url="/admin/login/?next=/admin/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")


def test_the_counters_live_in_the_database_shared_by_every_process() -> None:
    user = make_user(Role.VIEWER)
    fail(Client(), user.username, 2, address="192.0.2.9")
    rows = dict(LoginThrottle.objects.values_list("key", "failures"))
    assert rows == {f"user:{user.username}": 2, "address:192.0.2.9": 2}
