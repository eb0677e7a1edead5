"""Which groups have a socket listening, so that the publisher renders nothing that nobody would see.

Every post announces fragments for the dashboard and for its device's page; most device pages are open
in no browser, and rendering their fragments was most of an API worker's CPU under load (docs/benchmarks.md,
"Soak"). A consumer marks its groups watched when it joins them and unmarks them when it leaves; the
publisher asks before rendering a batch.

- In-memory channel layer (one process): a count per group in this process.
- Redis: one sorted set per group, ``<REDIS_PREFIX>:watch:<group>``, of channel names scored by when
  their mark expires. Each process renews the marks of its sockets every ``RENEW`` seconds
  (realtime.sockets), so the marks of a process that died expire by themselves after ``TTL``.

Any doubt counts as watched: if Redis does not answer, the publisher renders and sends as before
(rendering too much is safe; a missed update is not).

Redis can lose the marks: restarted without its data, flushed, failed over to an empty replica. Then every
page would stay silent until the next renewal (up to ``RENEW`` seconds; 18 s were seen). So the marks live
beside an *epoch*, ``<REDIS_PREFIX>:watch-epoch``, a random token the first process to mark sets. Each
process with sockets calls ``check()`` every second (realtime.sockets): when the epoch is missing or
another one, or Redis did not answer since the last check, it marks all of its sockets again at once and
says so (its pages may have missed updates meanwhile; realtime.sockets tells them to catch up). The
publisher counts a group as watched while the epoch is missing (Redis cannot tell) and for ``FRESH``
seconds after a process set a new one (``<REDIS_PREFIX>:watch-fresh``), the time the other processes take to
notice and mark theirs again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from typing import Any

import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

TTL = 90.0  # seconds a mark lives without renewal
RENEW = 30.0  # seconds between a process's renewals of its marks
FRESH = 5.0  # seconds everything counts as watched after an epoch was set (other processes mark again)


def _prefix() -> str:
    prefix: str = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "fieldhub")
    return prefix


def _key(group: str) -> str:
    return f"{_prefix()}:watch:{group}"


def epoch_key() -> str:
    return f"{_prefix()}:watch-epoch"


def fresh_key() -> str:
    return f"{_prefix()}:watch-fresh"


def _redis_url() -> str:
    """Where the channel layer is: the marks live beside the messages they decide about."""
    hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or [settings.REDIS_URL]
    return hosts[0] if isinstance(hosts[0], str) else hosts[0]["address"]


def in_memory_layer() -> bool:
    """The in-memory channel layer: it delivers only inside this process (the embedded server, tests)."""
    backend: str = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    return backend.endswith("InMemoryChannelLayer")


class Presence:
    def __init__(self) -> None:
        self._local: Counter[str] = Counter()
        self._mine: dict[str, list[str]] = {}  # channel -> groups, of this process's sockets
        self._clients: dict[tuple[asyncio.AbstractEventLoop, str], redis.asyncio.Redis] = {}
        self._epoch: bytes | str | None = None  # the epoch this process's marks were made in
        self._reachable = True  # Redis answered the last check

    def _redis(self) -> redis.asyncio.Redis:
        """A client for the running loop (a redis.asyncio client belongs to the loop it was made on)."""
        key = (asyncio.get_running_loop(), _redis_url())
        client = self._clients.get(key)
        if client is None:
            for stale in [known for known in self._clients if known[0].is_closed()]:
                del self._clients[stale]
            client = self._clients[key] = redis.asyncio.from_url(key[1], socket_timeout=1, socket_connect_timeout=1)
        return client

    async def mark(self, groups: list[str], channel: str) -> None:
        """Mark (or renew) ``channel`` as listening to ``groups``."""
        await self._mark({channel: groups})

    async def renew(self) -> None:
        """Renew the marks of every socket of this process, in one round trip."""
        await self._mark(dict(self._mine))

    async def _mark(self, marks: dict[str, list[str]]) -> None:
        if in_memory_layer() or not marks:
            return
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                _queue_marks(pipe, marks)
                await pipe.execute()
        except Exception as exc:  # Redis down: the publisher then renders regardless; the next check marks again
            self._reachable = False
            watched = sorted({group for groups in marks.values() for group in groups})
            logger.warning("realtime: could not mark %s as watched: %r", watched, exc)

    async def check(self) -> bool:
        """Mark every socket of this process again if Redis lost the marks (the epoch is missing or another
        one) or did not answer since the last check. True when it did so after having marked before: live
        updates may have been lost meanwhile."""
        if in_memory_layer():
            return False
        client = self._redis()
        try:
            current = await client.get(epoch_key())
            if current is not None and self._reachable and self._epoch in (None, current):
                self._epoch = current
                return False
            lost = self._epoch is not None or not self._reachable
            async with client.pipeline(transaction=False) as pipe:
                _queue_marks(pipe, dict(self._mine))
                pipe.set(fresh_key(), b"1", ex=max(1, round(FRESH)))  # before the epoch: never one without it
                pipe.set(epoch_key(), secrets.token_hex(8).encode(), nx=True)
                pipe.get(epoch_key())
                results = await pipe.execute()
        except Exception as exc:
            if self._reachable:
                logger.warning("realtime: Redis did not answer the presence check: %r", exc)
            self._reachable = False
            return False
        if lost:
            logger.warning("realtime: Redis lost or could not be told the sockets' marks; marked them again")
        self._epoch, self._reachable = results[-1], True
        return lost

    async def join(self, groups: list[str], channel: str) -> None:
        for group in groups:
            self._local[group] += 1
        self._mine[channel] = list(groups)
        await self.mark(groups, channel)
        if self._epoch is None:  # this process's first socket: make sure the epoch exists
            await self.check()

    async def leave(self, groups: list[str], channel: str) -> None:
        for group in groups:
            self._local[group] -= 1
            if self._local[group] <= 0:
                del self._local[group]
        self._mine.pop(channel, None)
        if in_memory_layer():
            return
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for group in groups:
                    pipe.zrem(_key(group), channel)
                await pipe.execute()
        except Exception as exc:  # the mark expires by itself
            logger.warning("realtime: could not unmark %s: %r", groups, exc)

    async def watched(self, group: str) -> bool:
        """Is any socket (in any process) listening to ``group``? True when unsure."""
        if in_memory_layer():
            return self._local[group] > 0
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                pipe.zcount(_key(group), time.time(), "+inf")
                pipe.exists(epoch_key())
                pipe.exists(fresh_key())
                marks, epoch, fresh = await pipe.execute()
            return marks > 0 or not epoch or bool(fresh)  # no epoch: Redis lost the marks, it cannot tell
        except Exception as exc:
            logger.warning("realtime: could not tell whether %s is watched, sending: %r", group, exc)
            return True


def _queue_marks(pipe: Any, marks: dict[str, list[str]]) -> None:
    expires = time.time() + TTL
    for channel, groups in marks.items():
        for group in groups:
            pipe.zadd(_key(group), {channel: expires})
            pipe.expire(_key(group), int(TTL))


presence = Presence()
