"""An open socket lives no longer than the session it was opened with (realtime.access, realtime.sockets).

Each path that ends a session or changes a user's access closes that user's sockets within seconds: those
that tell (the users page, logout, the password page) at once, the others (the Django admin,
``manage.py changepassword``, expiry: anything that just saves the user or the session) at the next
periodic check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from core.roles import Role
from realtime.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED
from tests.factories import make_endpoint, make_user
from tests.realtime.live import connect

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@database_sync_to_async
def post_as(user: Any, url: str, data: dict[str, Any]) -> int:
    return logged_in(user).post(url, data).status_code


async def open_socket(client: Client, path: str = "/ws/dashboard/") -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = await connect(path)
    communicator.scope["headers"].append((b"cookie", cookie))
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_nothing(timeout=0.1)  # open, not refused
    return communicator


async def close_code(communicator: WebsocketCommunicator, within: float = 5.0) -> int:
    """The code the server closes the socket with, within ``within`` seconds (live fragments skipped)."""
    while True:
        message = await communicator.receive_output(timeout=within)
        if message["type"] == "websocket.close":
            return message["code"]


async def stays_open(communicator: WebsocketCommunicator) -> bool:
    return await communicator.receive_nothing(timeout=0.6)


class TestToldAtOnce:
    async def test_deactivating_a_user_on_the_users_page_closes_their_sockets(self, layer: str, told_only) -> None:
        admin = await database_sync_to_async(make_user)(Role.ADMIN, username="boss")
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker")
        await database_sync_to_async(make_endpoint)(name="dev-1")
        client = await database_sync_to_async(logged_in)(worker)
        dashboard = await open_socket(client)
        device = await open_socket(client, "/ws/endpoints/dev-1/")
        bystander = await open_socket(await database_sync_to_async(logged_in)(admin))

        assert await post_as(admin, "/users/", {"action": "deactivate", "user": worker.pk}) == 200
        assert await close_code(dashboard) == CLOSE_NOT_AUTHENTICATED
        assert await close_code(device) == CLOSE_NOT_AUTHENTICATED
        assert await stays_open(bystander)
        await bystander.disconnect()

    async def test_a_password_reset_on_the_users_page_closes_their_sockets(self, layer: str, told_only) -> None:
        admin = await database_sync_to_async(make_user)(Role.ADMIN, username="boss")
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker")
        socket = await open_socket(await database_sync_to_async(logged_in)(worker))
        assert await post_as(admin, "/users/", {"action": "password", "user": worker.pk}) == 200
        assert await close_code(socket) == CLOSE_NOT_AUTHENTICATED

    async def test_logging_out_closes_the_sockets_of_that_session_only(self, layer: str, told_only) -> None:
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker")
        laptop = await database_sync_to_async(logged_in)(worker)
        phone = await database_sync_to_async(logged_in)(worker)
        on_laptop, on_phone = await open_socket(laptop), await open_socket(phone)

        response = await database_sync_to_async(laptop.post)("/accounts/logout/")
        assert response.status_code == 302
        assert await close_code(on_laptop) == CLOSE_NOT_AUTHENTICATED
        assert await stays_open(on_phone)
        await on_phone.disconnect()

    async def test_a_new_password_on_the_password_page_closes_the_other_sessions(self, layer: str, told_only) -> None:
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker", password=PASSWORD)
        laptop = await database_sync_to_async(logged_in)(worker)
        phone = await database_sync_to_async(logged_in)(worker)
        on_phone = await open_socket(phone)
        form = {
            "old_password": PASSWORD,
            "new_password1": "a brand new secret 42",
            "new_password2": "a brand new secret 42",
        }
        response = await database_sync_to_async(laptop.post)("/accounts/password_change/", form)
        assert response.status_code == 302
        assert await close_code(on_phone) == CLOSE_NOT_AUTHENTICATED

    async def test_a_role_change_that_still_allows_the_socket_leaves_it_open(self, layer: str, told_only) -> None:
        admin = await database_sync_to_async(make_user)(Role.ADMIN, username="boss")
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker")
        socket = await open_socket(await database_sync_to_async(logged_in)(worker))
        assert await post_as(admin, "/users/", {"action": "role", "user": worker.pk, "role": "operator"}) == 200
        assert await stays_open(socket)
        await socket.disconnect()


def _set_password(user: Any) -> None:
    user.set_password("set in the admin")
    user.save()


def _deactivate(user: Any) -> None:
    user.is_active = False
    user.save()


def _expire(user: Any) -> None:
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))


def _take_the_role(user: Any) -> None:
    user.groups.remove(*Group.objects.all())


class TestCheckedPeriodically:
    """What the Django admin, `manage.py changepassword` or an expired session do: nothing tells the sockets."""

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            (_set_password, CLOSE_NOT_AUTHENTICATED),  # the admin's password form, changepassword
            (_deactivate, CLOSE_NOT_AUTHENTICATED),  # the admin's "active" box
            (_expire, CLOSE_NOT_AUTHENTICATED),  # SESSION_COOKIE_AGE passed
            (_take_the_role, CLOSE_FORBIDDEN),  # the admin's groups
        ],
        ids=["password", "deactivated", "expired", "role"],
    )
    async def test_a_socket_is_closed_once_its_session_no_longer_allows_it(
        self, layer: str, checked_often, change: Any, code: int
    ) -> None:
        worker = await database_sync_to_async(make_user)(Role.VIEWER, username="worker")
        socket = await open_socket(await database_sync_to_async(logged_in)(worker))
        assert await stays_open(socket)  # checked several times meanwhile, and still allowed
        await database_sync_to_async(change)(worker)
        assert await close_code(socket) == code
