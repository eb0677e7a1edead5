"""This process's open sockets, and the housekeeping that keeps each of them honest.

While a process has open sockets, one task on their event loop (daphne's) wakes every ``TICK`` seconds:

- **Presence** (realtime.presence): it checks that Redis still holds this process's marks and marks them
  again at once when Redis lost them (restarted without its data) or did not answer; then the pages here
  may have missed updates, so each socket is sent ``RESYNC`` and the page reloads to catch up
  (core/static/core/fieldhub.js). Every ``presence.RENEW`` seconds it renews the marks.
- **Access** (realtime.access): every ``ACCESS_CHECK_SECONDS`` the session of every socket is checked again,
  in one batch; a socket whose session ended (logout, expiry, the user deactivated, a new password) is
  closed with 4401, one whose user lost the role with 4403 (for a device's socket: on the device's site),
  a fleet page's whose set of sites changed with 4409 (realtime.access). A socket told that its user's access changed
  (``groups.ACCESS_CHECK``, see realtime.access_changed) is checked at once.
- **Heartbeat**: every ``HEARTBEAT_SECONDS`` a heartbeat (an HTML comment, which htmx swaps nowhere) goes to
  each group a socket here listens to, through the publisher and the channel layer like any live update,
  so it arrives only while that whole way works (presence included); a page that hears nothing for three
  heartbeats (each names the interval; 30 s before the first) reconnects and catches up (fieldhub.js).

And what a client may send: browsers only listen (no page sends anything), so each socket has a budget of
``BURST`` messages, refilled at ``RATE`` a second, of at most ``MAX_MESSAGE_BYTES`` each. A socket past it
is closed (4429, or 4413 for one message too large) and its consumer ends at once, so what the server had
queued from it is dropped with it rather than worked through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from realtime import access
from realtime.groups import CLOSE_NOT_AUTHENTICATED, EventType
from realtime.presence import RENEW as PRESENCE_RENEW
from realtime.presence import presence
from realtime.publisher import LiveEvent, publisher

logger = logging.getLogger(__name__)

TICK = 1.0  # seconds between the housekeeping's rounds (the presence check)
ACCESS_CHECK_SECONDS = 5.0
HEARTBEAT_SECONDS = 5.0
BURST = 10  # messages a client may send at once ...
RATE = 1.0  # ... and then per second
MAX_MESSAGE_BYTES = 4096  # `manage.py serve` has daphne refuse larger frames (1009); the consumer any message

RESYNC = "<!--fieldhub:resync-->"  # the page missed updates: reload (fieldhub.js)


def heartbeat_html() -> str:
    """A heartbeat, naming the interval: fieldhub.js counts a socket stalled after three missed ones."""
    return f"<!--fieldhub:heartbeat {HEARTBEAT_SECONDS:g}-->"


@dataclass(eq=False)
class OpenSocket:
    """One open socket, as the housekeeping sees it (the consumer supplies ``end`` and ``send``)."""

    channel: str
    groups: list[str]
    access: access.SocketAccess
    end: Callable[[int], Awaitable[None]]  # close with a code and leave everything
    send: Callable[[str], Awaitable[None]]  # send text to the browser as it is


@dataclass
class MessageBudget:
    """What one client may send: ``BURST`` messages at once, then ``RATE`` a second."""

    tokens: float = BURST
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) * RATE)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Sockets:
    def __init__(self) -> None:
        self._open: dict[asyncio.AbstractEventLoop, dict[str, OpenSocket]] = {}
        self._keepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def _here(self) -> dict[str, OpenSocket]:
        """The sockets of the running loop (tests run many loops; a closed one's sockets are forgotten)."""
        loop = asyncio.get_running_loop()
        for stale in [known for known in self._open if known.is_closed()]:
            del self._open[stale]
            self._keepers.pop(stale, None)
        return self._open.setdefault(loop, {})

    async def opened(self, socket: OpenSocket) -> None:
        here = self._here()
        here[socket.channel] = socket
        loop = asyncio.get_running_loop()
        keeper = self._keepers.get(loop)
        if keeper is None or keeper.done():
            self._keepers[loop] = loop.create_task(self._keep(here), name="realtime-sockets")

    def closed(self, channel: str) -> None:
        self._here().pop(channel, None)  # the housekeeping ends by itself after the last socket

    async def check_access(self, channel: str, revoked: str | None = None) -> None:
        """Check one socket's access now; ``revoked``: the digest of a session that just ended."""
        socket = self._here().get(channel)
        if socket is None:
            return
        if revoked is not None and revoked == socket.access.session_digest:
            await self._end(socket, CLOSE_NOT_AUTHENTICATED)
            return
        await self._check([socket])

    async def _check(self, sockets: list[OpenSocket]) -> None:
        refused = await database_sync_to_async(access.sockets_refused)(sockets=[s.access for s in sockets])
        for socket in sockets:
            if socket.access in refused:
                await self._end(socket, refused[socket.access])

    async def _end(self, socket: OpenSocket, code: int) -> None:
        self._here().pop(socket.channel, None)
        await socket.end(code)

    async def _keep(self, here: dict[str, OpenSocket]) -> None:
        loop = asyncio.get_running_loop()
        renewed = checked = beaten = loop.time()
        while here:
            await asyncio.sleep(TICK)
            now = loop.time()
            with _logged("presence"):
                if await presence.check():
                    await _layer_answers()
                    for socket in list(here.values()):
                        await socket.send(RESYNC)
                elif now - renewed >= PRESENCE_RENEW:
                    await presence.renew()
                    renewed = now
            if now - beaten >= HEARTBEAT_SECONDS:
                beaten = now
                with _logged("heartbeat"):
                    beat = LiveEvent(type=EventType.HEARTBEAT, key="heartbeat", html=heartbeat_html(), keep=1)
                    for group in sorted({group for socket in here.values() for group in socket.groups}):
                        publisher.submit(group, beat)
            if now - checked >= ACCESS_CHECK_SECONDS:
                checked = now
                with _logged("access check"):
                    await self._check(list(here.values()))


LAYER_BACK_SECONDS = 10.0  # at most this long the pages' RESYNC waits for the channel layer to answer
PROBE_EVERY = 0.25  # seconds between the probes it sends meanwhile


async def _layer_answers(within: float = LAYER_BACK_SECONDS) -> bool:
    """Wait until a message sent through the channel layer reaches this process again. When Redis comes
    back, the presence check may notice before the pub/sub layer has subscribed its groups again (it does so
    when it reconnects, a second or so later); a page told to catch up then would reload and still miss
    what is published in between. Sent again every ``PROBE_EVERY`` seconds (one sent before the probe's
    subscription is lost); False when the layer did not answer in time (the pages are told anyway)."""
    layer = get_channel_layer()
    if layer is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    channel = await layer.new_channel()
    receiver = asyncio.ensure_future(layer.receive(channel))
    try:
        while loop.time() < deadline:
            with contextlib.suppress(Exception):  # Redis not back yet: sent again
                await layer.send(channel, {"type": "probe"})
            done, _ = await asyncio.wait({receiver}, timeout=PROBE_EVERY)
            if done and receiver.exception() is None:
                return True
            if done:  # the receive itself failed (Redis not back yet): listen again
                receiver = asyncio.ensure_future(layer.receive(channel))
        logger.warning("realtime: the channel layer did not answer within %.0f s after Redis came back", within)
        return False
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """One round's failure (the database away, a socket closing under us) is logged; the next round runs."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("realtime: the sockets' %s failed", what)


sockets = Sockets()
