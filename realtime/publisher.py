"""Sending live events to the channel layer without ever slowing or failing the write that caused them.

``publish()`` (in ``realtime/__init__.py``) registers the event with ``transaction.on_commit``: nothing is
sent for a rolled-back write. On commit the event is handed to this process's ``Publisher``, which runs on
an event loop: the ASGI server's own loop when there is one (daphne: the in-memory layer only works on the
loop its consumers run on), else a loop on a daemon thread of its own (WSGI workers, management commands).
Handing over is a non-blocking call; the write returns at once, whatever the channel layer is doing.

On that loop, events are **coalesced per group** by a token bucket: a group may send ``RATE`` messages a
second on average, in bursts of up to ``BURST``. While it has a token, an event goes out at once (the
fragment reaches a browser within milliseconds); when it has none, events wait and go out together, as
one message (split only where it would exceed MAX_FRAME_BYTES), when the next token comes. So a socket
receives at most RATE messages a second however many devices report, and each element is updated at most
that often (htmx swaps every top-level fragment of a message). Within a batch, replace events (``render``)
keep only the newest per key and are rendered when sent (in a worker thread, from the database's current
state), so coalescing saves the rendering too; append events (``html``) are all kept, the newest ``keep``
per key.

A batch for a group that no socket listens to (``realtime.presence``) is neither rendered nor sent.

A failing channel layer (Redis down) costs a logged warning and a counted failure per message; sending
resumes by itself when the layer answers again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections

from realtime import groups, metrics
from realtime.presence import in_memory_layer, presence

logger = logging.getLogger(__name__)

RATE = 4.0  # messages per second per group, on average
BURST = 4.0  # messages a quiet group may send at once
SEND_TIMEOUT = 2.0
MAX_IN_FLIGHT = 1000
MESSAGE_TYPE = "fragment"
IN_TURN_MAX = 3.0  # seconds a group's next message waits for the one being sent (then goes: a stuck send)
# Groups whose messages go one at a time, in order: the rollout pages, where a device's row and the head
# change within milliseconds (queued, sent, confirmed) and a slow render must not let an older state arrive
# last. Other groups send in parallel, as before (test_redis_restart met a rare stall with every group in
# turn, not yet understood).
IN_TURN = frozenset({groups.ROLLOUTS})
MAX_FRAME_BYTES = 256 * 1024  # no websocket message is larger (Publisher._frames)


@dataclass(frozen=True)
class LiveEvent:
    """One live update: ``render()`` (replace: the newest wins) or ``html`` (append: all are kept)."""

    type: str
    key: str
    render: Callable[[], str] | None = None
    html: str | None = None
    keep: int = 20


@dataclass
class Stats:
    submitted: int = 0
    sent: int = 0
    coalesced: int = 0
    failed: int = 0
    dropped: int = 0
    skipped: int = 0
    unwatched: int = 0  # batches not rendered: no socket listens to their group (realtime.presence)
    oversize: int = 0  # fragments too large for any frame, not sent

    def add(self, result: str, count: int) -> None:
        """Count ``count`` more ``result`` here and in the process's Prometheus figures (realtime.metrics)."""
        setattr(self, result, getattr(self, result) + count)
        metrics.published(result, count)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    """What waits to be sent to one group."""

    tokens: float = BURST
    refilled: float = 0.0
    replace: dict[str, LiveEvent] = field(default_factory=dict)
    append: dict[str, list[str]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    sending: int = 0  # messages of this group being rendered or sent: the next waits for them ...
    sending_since: float = 0.0  # ... up to IN_TURN_MAX after the newest of them began

    def take_token(self, now: float) -> float:
        """Take a token if there is one (0.0), else say how long until there is one."""
        self.tokens = min(BURST, self.tokens + (now - self.refilled) * RATE)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / RATE


class Publisher:
    def __init__(self) -> None:
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._in_flight = 0
        self._idle = threading.Condition()

    # --- any thread ---------------------------------------------------------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send on ``loop`` from now on: the ASGI server's loop, where the consumers live."""
        if self._loop is not loop:
            self._loop = loop
            self._batches = {}

    def submit(self, group: str, event: LiveEvent) -> None:
        """Hand an event over; never blocks, never raises."""
        self._hand_over(lambda loop: loop.call_soon_threadsafe(self._accept, group, event), event.type, bounded=True)

    def signal(self, group: str, message: dict[str, Any]) -> None:
        """Send a control message (not a fragment: no coalescing, no rendering, whoever listens) to a group,
        e.g. make a user's sockets check their access again; never blocks, never raises."""

        def schedule(loop: asyncio.AbstractEventLoop) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(self._send_message(group, message)))

        self._hand_over(schedule, message.get("type"), bounded=False)

    def _hand_over(
        self, schedule: Callable[[asyncio.AbstractEventLoop], object], kind: object, *, bounded: bool
    ) -> None:
        """Count one more in flight (refused past ``MAX_IN_FLIGHT`` when ``bounded``) and ``schedule`` it on
        the sending loop; whatever fails is counted as dropped and logged, never raised."""
        self.stats.add("submitted", 1)
        if self._unheard():
            self.stats.add("skipped", 1)
            return
        counted = False
        try:
            loop = self._target_loop()
            with self._idle:
                if bounded and self._in_flight >= MAX_IN_FLIGHT:
                    self.stats.add("dropped", 1)
                    return
                self._in_flight += 1
                counted = True
            schedule(loop)
        except Exception:  # a closed loop between tests, interpreter shutdown: the write still succeeds
            self.stats.add("dropped", 1)
            if counted:
                self._done()
            logger.exception("realtime: could not hand over a %s message", kind)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over has been sent or given up (tests, shutdown); True if idle."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _unheard(self) -> bool:
        """The in-memory layer delivers only inside this process, and without an ASGI server here no socket
        listens: a worker or a WSGI process on the embedded default need not render anything."""
        if not in_memory_layer():
            return False
        loop = self._loop
        return loop is None or loop.is_closed() or not loop.is_running()

    def _target_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop.is_running():
            return loop
        with self._lock:
            if self._own_loop is None or self._own_loop.is_closed():
                self._own_loop = asyncio.new_event_loop()
                self._batches = {}
                thread = threading.Thread(target=self._own_loop.run_forever, name="realtime-publisher", daemon=True)
                thread.start()
            return self._own_loop

    def _done(self, count: int = 1) -> None:
        with self._idle:
            self._in_flight -= count
            if self._in_flight <= 0:
                self._in_flight = 0
                self._idle.notify_all()

    # --- on the loop ----------------------------------------------------------------------------------

    def _accept(self, group: str, event: LiveEvent) -> None:
        batch = self._batches.setdefault(group, _Batch())
        if event.html is not None:  # an append event
            kept = batch.append.setdefault(event.key, [])
            kept.append(event.html)
            overflow = len(kept) - event.keep
            if overflow > 0:
                del kept[:overflow]
                self.stats.add("coalesced", overflow)
                self._done(overflow)
        else:
            if event.key in batch.replace:  # the newer state replaces the older one
                self.stats.add("coalesced", 1)
                self._done()
            batch.replace[event.key] = event
        if batch.timer is None:  # else it goes out with the batch already waiting
            self._fire(group, batch)

    def _fire(self, group: str, batch: _Batch) -> None:
        batch.timer = None
        now = time.monotonic()
        if batch.sending and group.partition(groups.SITE)[0] in IN_TURN and now - batch.sending_since < IN_TURN_MAX:
            # Fired again when that message is out (renders finishing out of order would let an older state
            # of an element arrive after a newer one), or after IN_TURN_MAX if it is stuck (Redis away).
            later = batch.sending_since + IN_TURN_MAX - now
            batch.timer = asyncio.get_running_loop().call_later(later, self._fire, group, batch)
            return
        wait = batch.take_token(now)
        if wait > 0:
            batch.timer = asyncio.get_running_loop().call_later(wait, self._fire, group, batch)
            return
        replace, batch.replace = list(batch.replace.values()), {}
        appended, batch.append = [html for kept in batch.append.values() for html in kept], {}
        batch.sending += 1
        batch.sending_since = now
        asyncio.get_running_loop().create_task(self._send_in_turn(group, batch, replace, appended))

    async def _send_in_turn(self, group: str, batch: _Batch, replace: list[LiveEvent], appended: list[str]) -> None:
        """One message of a group at a time, in the order its events came."""
        try:
            await self._send(group, replace, appended)
        finally:
            batch.sending -= 1
            waiting = batch.replace or batch.append
            if not batch.sending and waiting and self._batches.get(group) is batch:
                if batch.timer is not None:
                    batch.timer.cancel()
                self._fire(group, batch)

    async def _send(self, group: str, replace: list[LiveEvent], appended: list[str]) -> None:
        """Render, then send (as one message, or as few as fit MAX_FRAME_BYTES each); every event handed over for
        it is done afterwards."""
        count = len(replace) + len(appended)
        try:
            if not await presence.watched(group):
                self.stats.add("unwatched", 1)
                return
            parts = []
            if replace:
                renders = [event.render for event in replace if event.render is not None]
                parts.extend(await sync_to_async(_render_all, thread_sensitive=False)(renders))
            parts.extend(appended)
            layer = _channel_layer()
            for html in self._frames(group, parts):
                await asyncio.wait_for(layer.group_send(group, {"type": MESSAGE_TYPE, "html": html}), SEND_TIMEOUT)
                self.stats.add("sent", 1)
        except Exception as exc:
            self.stats.add("failed", 1)
            logger.warning("realtime: sending to %s failed (%d so far): %r", group, self.stats.failed, exc)
        finally:
            self._done(count)

    def _frames(self, group: str, parts: list[str]) -> list[str]:
        """The batch's fragments in messages of at most MAX_FRAME_BYTES each (a browser, autobahn and Redis
        all refuse or choke on huge frames; one would close every socket of the group). A fragment that
        alone is larger is left out and logged: the pages cut long values, so that is a bug to fix."""
        frames: list[str] = []
        current: list[str] = []
        size = 0
        for part in parts:
            if not part:
                continue
            # Each fragment in a <template> of its own: the browser parses every template apart, so that rows
            # of a table and other elements can share a message (fieldhub.js, the fieldhub-live extension). A
            # signal to the page (a heartbeat, an HTML comment: realtime.sockets) is no fragment.
            if not part.startswith("<!--"):
                part = f"<template>{part}</template>"
            length = len(part.encode())
            if length > MAX_FRAME_BYTES:
                self.stats.add("oversize", 1)
                logger.error(
                    "realtime: a %d-byte fragment for %s was not sent (at most %d)", length, group, MAX_FRAME_BYTES
                )
                continue
            if current and size + length > MAX_FRAME_BYTES:
                frames.append("".join(current))
                current, size = [], 0
            current.append(part)
            size += length
        if current:
            frames.append("".join(current))
        return frames

    async def _send_message(self, group: str, message: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(_channel_layer().group_send(group, message), SEND_TIMEOUT)
            self.stats.add("sent", 1)
        except Exception as exc:
            self.stats.add("failed", 1)
            logger.warning("realtime: sending to %s failed (%d so far): %r", group, self.stats.failed, exc)
        finally:
            self._done()


def _render_all(renders: list[Callable[[], str]]) -> list[str]:
    """Render in a worker thread, with a database connection that is usable (reconnecting after a restart);
    one fragment that fails to render is logged and left out, the others still go."""
    close_old_connections()
    try:
        parts = []
        for render in renders:
            try:
                parts.append(render())
            except Exception:
                logger.exception("realtime: a fragment failed to render")
        return parts
    finally:
        close_old_connections()


publisher = Publisher()


def describe() -> dict[str, Any]:
    return publisher.stats.as_dict()


def _channel_layer() -> BaseChannelLayer:
    """The default channel layer (settings.CHANNEL_LAYERS always has one)."""
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer")
    return layer
