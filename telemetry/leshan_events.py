"""Following Leshan's event stream (``GET /api/event``, contract §4): the way to connect a stock Leshan.

Each event becomes the same service call as the flownexus bridge's posts would: REGISTRATION / UPDATED /
DEREGISTRATION → ``endpoint_registration`` (object 10240, registration details), SLEEPING / AWAKE →
``endpoint_presence``, NOTIFICATION (single or composite) and SEND → ``ingest``, REQUEST_RESPONSE (Leshan
>= 2.0.0-M17) → ``operation_delayed_response``. COAPLOG and unknown events are ignored.

The stream ends when Leshan restarts or the connection drops: the follower reconnects with exponential
backoff (1 s doubling to 60 s) and, since Leshan does not replay events, resynchronises the registry from
``GET /api/clients`` each time it is connected again. An event that cannot be used (malformed data, an
unknown device) is logged and skipped; it never stops the follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from django.conf import settings
from django.db import DatabaseError

from core.errors import FieldhubError
from core.leshan import LeshanClient, ServerEvent, server_events
from core.lwm2m.nodes import NodeError, Path, flatten
from core.workers import DatabaseThreads
from telemetry import ingest, metrics
from telemetry.downlink import queue
from telemetry.ingest import payloads
from telemetry.lifecycle import services as lifecycle

logger = logging.getLogger(__name__)

BACKOFF_MAX_S = 60.0


class LeshanFollower:
    def __init__(self, *, leshan_url: str | None = None) -> None:
        self.leshan_url = (leshan_url or settings.LESHAN_URL).rstrip("/")
        self.handled = 0
        self.connections = 0
        self._db = DatabaseThreads(size=2, name="leshan-events-db")

    async def run(self, stop: asyncio.Event) -> None:
        self._db = DatabaseThreads(size=2, name="leshan-events-db")
        try:
            await self._run(stop)
        finally:
            self._db.close()

    async def _run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                async with aiohttp.ClientSession() as session:
                    follow = asyncio.create_task(self._follow(session))
                    stopping = asyncio.create_task(stop.wait())
                    done, _ = await asyncio.wait({follow, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    stopping.cancel()
                    if follow not in done:
                        follow.cancel()
                        metrics.LESHAN_CONNECTED.set(0)
                        return
                    follow.result()
                    backoff = 1.0  # it ran and ended normally (Leshan closed the stream)
                    logger.info("Leshan event stream ended; reconnecting")
            except asyncio.CancelledError:
                metrics.LESHAN_CONNECTED.set(0)
                raise
            except Exception as exc:
                logger.warning("Leshan event stream failed (%r); reconnecting in %.0f s", exc, backoff)
            metrics.LESHAN_CONNECTED.set(0)
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _follow(self, session: aiohttp.ClientSession) -> None:
        async for event in server_events(session, self.leshan_url):
            if event.name == "CONNECTED":
                self.connections += 1
                metrics.LESHAN_CONNECTED.set(1)
                if self.connections > 1:
                    metrics.LESHAN_RECONNECTS.inc()
                await self._resync()
                continue
            await self.handle(event)

    async def _resync(self) -> None:
        async with LeshanClient(self.leshan_url) as leshan:
            registrations = await leshan.clients()
        changed = await self._db.run(lifecycle.endpoints_resync, registrations=registrations)
        logger.info("Leshan: %d registration(s), %d device(s) resynchronised", len(registrations), changed)

    async def handle(self, event: ServerEvent) -> None:
        metrics.LESHAN_EVENTS.labels(metrics.leshan_event_type(event.name)).inc()
        try:
            await self._handle(event)
            self.handled += 1
        except (FieldhubError, NodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning("Leshan event %s ignored: %s", event.name, exc)
        except DatabaseError as exc:
            logger.error("Leshan event %s lost, the database failed: %r", event.name, exc)

    async def _handle(self, event: ServerEvent) -> None:
        data: Any = event.data
        if not isinstance(data, dict):
            raise ValueError("the event's data is not a JSON object")
        if event.name in lifecycle.REGISTRATION_EVENTS:
            registration = data.get("registration", data) if event.name == "UPDATED" else data
            await self._db.run(lifecycle.endpoint_registration, event=event.name, registration=registration)
        elif event.name in ("SLEEPING", "AWAKE"):
            await self._db.run(lifecycle.endpoint_presence, name=data["ep"], sleeping=event.name == "SLEEPING")
        elif event.name == "NOTIFICATION" and data.get("kind") == "single":
            readings = flatten(data["val"], Path.parse(data["res"]))
            await self._db.run(ingest.ingest, endpoint_name=data["ep"], readings=readings)
        elif event.name in ("NOTIFICATION", "SEND"):
            val = data["val"]
            if not isinstance(val, dict):
                raise ValueError("val is not a map of paths to nodes")
            readings = payloads.readings_from_composite(val)
            await self._db.run(ingest.ingest, endpoint_name=data["ep"], readings=readings)
        elif event.name == "REQUEST_RESPONSE":
            await self._db.run(
                queue.operation_delayed_response,
                endpoint_name=data["ep"],
                request_id=str(data["requestId"]),
                response=data["response"],
            )
