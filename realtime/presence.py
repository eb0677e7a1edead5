"""Which groups have a socket listening, so that the publisher renders nothing that nobody would see.

Every post announces fragments for the dashboard and for its device's page; most device pages are open
in no browser, and rendering their fragments was most of an API worker's CPU under load (docs/benchmarks.md,
"Soak"). A consumer marks its groups watched when it joins them and unmarks them when it leaves; the
publisher asks before rendering a batch.

- In-memory channel layer (one process): a count per group in this process.
- Redis: one sorted set per group, ``<REDIS_PREFIX>:watch:<group>``, of channel names scored by when
  their mark expires. A consumer renews its marks every ``RENEW`` seconds while connected, so the marks
  of a process that died expire by themselves after ``TTL``.

Any doubt counts as watched: if Redis does not answer, the publisher renders and sends as before
(rendering too much is safe; a missed update is not).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

TTL = 90.0  # seconds a mark lives without renewal
RENEW = 30.0  # seconds between a consumer's renewals


def _key(group: str) -> str:
    return f"{settings.CHANNEL_LAYERS['default'].get('CONFIG', {}).get('prefix', 'fieldhub')}:watch:{group}"


def _redis_url() -> str:
    """Where the channel layer is: the marks live beside the messages they decide about."""
    hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or [settings.REDIS_URL]
    return hosts[0] if isinstance(hosts[0], str) else hosts[0]["address"]


def in_memory_layer() -> bool:
    """The in-memory channel layer: it delivers only inside this process (the embedded server, tests)."""
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")


class Presence:
    def __init__(self) -> None:
        self._local: Counter[str] = Counter()
        self._clients: dict[tuple[asyncio.AbstractEventLoop, str], redis.asyncio.Redis] = {}

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
        if in_memory_layer():
            return
        expires = time.time() + TTL
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for group in groups:
                    pipe.zadd(_key(group), {channel: expires})
                    pipe.expire(_key(group), int(TTL))
                await pipe.execute()
        except Exception as exc:  # Redis down: the publisher then renders regardless
            logger.warning("realtime: could not mark %s as watched: %r", groups, exc)

    async def join(self, groups: list[str], channel: str) -> None:
        for group in groups:
            self._local[group] += 1
        await self.mark(groups, channel)

    async def leave(self, groups: list[str], channel: str) -> None:
        for group in groups:
            self._local[group] -= 1
            if self._local[group] <= 0:
                del self._local[group]
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
            return await self._redis().zcount(_key(group), time.time(), "+inf") > 0
        except Exception as exc:
            logger.warning("realtime: could not tell whether %s is watched, sending: %r", group, exc)
            return True


presence = Presence()
