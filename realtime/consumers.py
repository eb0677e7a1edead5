"""Websocket consumers: thin. Check who connects, join groups, forward fragments; nothing else.

Close codes (after accepting, so that the browser sees them): 4401 not logged in, 4403 no role for this,
4404 no such device. A foreign Origin is refused before this, by AllowedHostsOriginValidator (core.asgi).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from core.permissions import has_role
from core.roles import Role
from realtime import groups
from realtime.presence import RENEW, presence
from realtime.publisher import MESSAGE_TYPE, publisher
from realtime.tokens import fill, socket_secret

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class FragmentConsumer(AsyncWebsocketConsumer):
    """Sends each group message's ``html`` to the browser, where htmx swaps it in (hx-swap-oob)."""

    joined: list[str]
    csrf_secret: str = ""
    _renewal: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.joined = []
        self.csrf_secret = socket_secret(self.scope)  # forms in fragments post with this user's token
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_NOT_AUTHENTICATED)
            return
        names, code = await database_sync_to_async(self.groups_for)(user)
        if code:
            await self.refuse(code)
            return
        for name in names:
            await self.channel_layer.group_add(name, self.channel_name)
        self.joined = names
        await presence.join(names, self.channel_name)  # the publisher renders for watched groups only
        self._renewal = asyncio.create_task(self._renew_presence())
        await self.accept()  # after joining: an open socket misses nothing sent from now on

    async def _renew_presence(self) -> None:
        while True:
            await asyncio.sleep(RENEW)
            await presence.mark(self.joined, self.channel_name)

    async def refuse(self, code: int) -> None:
        """Accept, then close with ``code``: a refused handshake would show the browser no reason."""
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        for name in self.joined:
            await self.channel_layer.group_discard(name, self.channel_name)
        await presence.leave(self.joined, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Browsers only listen; anything they send is ignored."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels runs close_old_connections() in a thread before every message it dispatches; a fragment
        # touches no database, and that hop per message per socket was most of daphne's CPU with 1,000
        # sockets (docs/benchmarks.md).
        if message["type"] == MESSAGE_TYPE:
            await self.fragment(message)
        else:
            await super().dispatch(message)

    async def fragment(self, message: dict[str, Any]) -> None:
        await self.send(text_data=fill(message["html"], self.csrf_secret))

    def groups_for(self, user: Any) -> tuple[list[str], int]:
        """(groups to join, 0) or ([], close code); runs in a thread, may query the database."""
        raise NotImplementedError


class DashboardConsumer(FragmentConsumer):
    def groups_for(self, user: Any) -> tuple[list[str], int]:
        if not has_role(user, Role.VIEWER):
            return [], CLOSE_FORBIDDEN
        return [groups.DASHBOARD], 0


class FirmwareConsumer(FragmentConsumer):
    def groups_for(self, user: Any) -> tuple[list[str], int]:
        if not has_role(user, Role.VIEWER):
            return [], CLOSE_FORBIDDEN
        return [groups.FIRMWARE], 0


class OperationsConsumer(FragmentConsumer):
    def groups_for(self, user: Any) -> tuple[list[str], int]:
        if not has_role(user, Role.VIEWER):
            return [], CLOSE_FORBIDDEN
        return [groups.OPERATIONS], 0


class EventsConsumer(FragmentConsumer):
    def groups_for(self, user: Any) -> tuple[list[str], int]:
        if not has_role(user, Role.VIEWER):
            return [], CLOSE_FORBIDDEN
        return [groups.EVENTS], 0


class EndpointConsumer(FragmentConsumer):
    def groups_for(self, user: Any) -> tuple[list[str], int]:
        from core.models import Endpoint

        if not has_role(user, Role.VIEWER):
            return [], CLOSE_FORBIDDEN
        endpoint_id = (
            Endpoint.objects.filter(name=self.scope["url_route"]["kwargs"]["endpoint"])
            .values_list("pk", flat=True)
            .first()
        )
        if endpoint_id is None:
            return [], CLOSE_NOT_FOUND
        return [groups.endpoint(endpoint_id)], 0


def bind_publisher_loop() -> None:
    """Make the publisher send on the running loop (where consumers live); see realtime.publisher."""
    import asyncio

    publisher.bind_loop(asyncio.get_running_loop())
