"""Websocket consumers: thin. Check who connects, join groups, forward fragments; nothing else.

Close codes (realtime.groups; after accepting, so that the browser sees them): 4401 not logged in or the
session ended, 4403 no role for this (anywhere), 4404 no such device or path (or a device the user may not
see: as for one that does not exist, so that no name is disclosed), 4409 the user's sites changed while
open, 4429 / 4413 the client sent too much. A foreign Origin is refused before this, by
SameOriginValidator (core.asgi). What happens to a socket once open -- its access checked again,
heartbeats, a client that floods -- is realtime.sockets'.

Which groups a socket joins is the user's scope for the consumer's role (core.permissions.scope_of): a
fleet page's global group with a global role, else its group of each site where the user holds the role
(realtime.groups.on_site); a device's group when that scope includes the device's site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from core.permissions import scope_of
from core.roles import Role
from realtime import groups, metrics
from realtime.access import SocketAccess, scope_user, sites_of, socket_access
from realtime.groups import (
    CLOSE_FLOOD,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_BIG,
)
from realtime.presence import presence
from realtime.publisher import MESSAGE_TYPE, publisher
from realtime.sockets import MAX_MESSAGE_BYTES, MessageBudget, OpenSocket, sockets
from realtime.tokens import fill, socket_secret

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def socket_route(scope: Mapping[str, Any]) -> str:
    """The route template of a socket's path (``/ws/endpoints/<endpoint>/``): a label of few values."""
    path = str(scope.get("path", ""))
    for key, value in scope.get("url_route", {}).get("kwargs", {}).items():
        path = path.replace(f"/{value}/", f"/<{key}>/")
    return path


class FragmentConsumer(AsyncWebsocketConsumer):
    """Sends each group message's ``html`` to the browser, where htmx swaps it in (hx-swap-oob)."""

    role = Role.VIEWER  # needed to listen, checked at the handshake and again while open (realtime.access)
    joined: list[str]  # channel layer groups
    watched: list[str]  # of them, those whose fragments this socket shows (realtime.presence)
    csrf_secret = ""  # forms in pushed fragments post with this user's token (realtime.tokens)
    _route = ""  # the route template while the socket is open and counted (realtime.metrics)
    _ended = False

    async def connect(self) -> None:
        self.joined, self.watched, self._budget = [], [], MessageBudget()
        self.csrf_secret = socket_secret(self.scope)
        access = socket_access(scope=self.scope, role=self.role)
        if access is None:
            await self.refuse(CLOSE_NOT_AUTHENTICATED)
            return
        names, access, code = await database_sync_to_async(self.allowed)(scope_user(self.scope), access)
        if code:
            await self.refuse(code)
            return
        self.joined = [*names, groups.user(access.user_id)]
        for name in self.joined:
            await self.channel_layer.group_add(name, self.channel_name)
        self.watched = names
        await presence.join(names, self.channel_name)  # the publisher renders for watched groups only
        await self.accept()  # after joining: an open socket misses nothing sent from now on
        self._route = socket_route(self.scope)
        metrics.WEBSOCKETS_OPEN.labels(self._route).inc()
        await sockets.opened(
            OpenSocket(channel=self.channel_name, groups=names, access=access, end=self.end, send=self.send_text)
        )

    async def refuse(self, code: int) -> None:
        """Accept, then close with ``code``: a refused handshake would show the browser no reason."""
        await self.accept()
        await self.end(code)

    async def end(self, code: int) -> None:
        """Close with ``code`` and leave every group now; the consumer stops at its next message."""
        if self._ended:
            return
        self._ended = True
        await self._leave()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        sockets.closed(self.channel_name)
        if self._route:
            metrics.WEBSOCKETS_OPEN.labels(self._route).dec()
            self._route = ""
        joined, watched, self.joined, self.watched = self.joined, self.watched, [], []
        for name in joined:
            await self.channel_layer.group_discard(name, self.channel_name)
        await presence.leave(watched, self.channel_name)

    async def received(self, message: dict[str, Any]) -> None:
        """Browsers only listen; what they send is ignored, and a socket that sends too much is closed."""
        size = len(message.get("text") or message.get("bytes") or "")
        code = CLOSE_TOO_BIG if size > MAX_MESSAGE_BYTES else 0 if self._budget.take() else CLOSE_FLOOD
        if code:
            await self.end(code)
            raise StopConsumer()  # now: whatever daphne still queues from this client goes with it

    async def access_check(self, message: dict[str, Any]) -> None:
        """The user's access changed (groups.ACCESS_CHECK): check this socket's session again."""
        await sockets.check_access(self.channel_name, revoked=message.get("session"))

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels runs close_old_connections() in a thread before every message it dispatches; a fragment
        # touches no database, and that hop per message per socket was most of daphne's CPU with 1,000
        # sockets (docs/benchmarks.md). Nor does a client's message, which a flood sends by the 100,000.
        if self._ended:
            raise StopConsumer()
        if message["type"] == MESSAGE_TYPE:
            await self.fragment(message)
        elif message["type"] == "websocket.receive":
            await self.received(message)
        else:
            await super().dispatch(message)

    async def fragment(self, message: dict[str, Any]) -> None:
        await self.send(text_data=fill(message["html"], self.csrf_secret))

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def allowed(self, user: User | AnonymousUser | None, access: SocketAccess) -> tuple[list[str], SocketAccess, int]:
        """(groups to join, the access where it applies, 0) or ([], access, close code); runs in a thread,
        may query the database. 4403 without the role anywhere (globally or on some site)."""
        scope = scope_of(user, self.role)
        if user is None or not scope:
            return [], access, CLOSE_FORBIDDEN
        return self.groups_for(user, access)

    def groups_for(self, user: User | AnonymousUser, access: SocketAccess) -> tuple[list[str], SocketAccess, int]:
        """(groups to join, the access where it applies, 0) or ([], access, close code) for a user who holds
        the role somewhere."""
        raise NotImplementedError


class FleetConsumer(FragmentConsumer):
    """A fleet page: the page's global group for a global role, else its group of each of the user's sites
    (realtime.groups.on_site); the sites are kept with the access, which is checked again while open."""

    group = ""

    def groups_for(self, user: User | AnonymousUser, access: SocketAccess) -> tuple[list[str], SocketAccess, int]:
        scope = scope_of(user, self.role)
        names = [self.group] if scope.everywhere else [groups.on_site(self.group, s) for s in sorted(scope.site_ids)]
        return names, replace(access, sites=sites_of(scope)), 0


class DashboardConsumer(FleetConsumer):
    group = groups.DASHBOARD


class FirmwareConsumer(FleetConsumer):
    group = groups.FIRMWARE


class OperationsConsumer(FleetConsumer):
    group = groups.OPERATIONS


class EventsConsumer(FleetConsumer):
    group = groups.EVENTS


class RolloutsConsumer(FleetConsumer):
    """The rollout pages: the rollouts of the user's sites and their devices' rows (telemetry.rollouts.announce)."""

    group = groups.ROLLOUTS


class AlarmsConsumer(FleetConsumer):
    """The alarm pages: the alarms of the user's sites (telemetry.alarms.announce)."""

    group = groups.ALARMS


class EndpointConsumer(FragmentConsumer):
    """One device's page: 4404 for a device that does not exist or that the user may not see (the role on
    its site, or a global one for a device in no site)."""

    def groups_for(self, user: User | AnonymousUser, access: SocketAccess) -> tuple[list[str], SocketAccess, int]:
        from core.models import Endpoint

        found = (
            Endpoint.objects.filter(name=self.scope["url_route"]["kwargs"]["endpoint"])
            .values_list("pk", "site_id")
            .first()
        )
        if found is None or not scope_of(user, self.role).includes(found[1]):
            return [], access, CLOSE_NOT_FOUND
        return [groups.endpoint(found[0])], replace(access, endpoint_id=found[0]), 0


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: accepted, then closed with 4404 (a handshake left unrouted is a 500)."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raise StopConsumer()


def bind_publisher_loop() -> None:
    """Make the publisher send on the running loop (where consumers live); see realtime.publisher."""
    import asyncio

    publisher.bind_loop(asyncio.get_running_loop())
