"""The downlink dispatcher: sends queued operations through Leshan's REST API when their devices are reachable.

The database is the queue (``telemetry.downlink.queue.operations_claim`` / ``operation_complete``); this loop
only decides when to look and sends what it claimed, ``DISPATCH_CONCURRENCY`` requests at a time, one per
device at a time (so a device's operations arrive in the order they were queued). It looks:

- when woken for a device: by the ingest or the Leshan event follower when a device registers, updates,
  wakes or sends data; by ``operation_enqueue`` for a device that is online. In this process through
  ``telemetry.wakeup``'s callbacks; from other processes through PostgreSQL ``LISTEN fieldhub_downlink``;
- when a device's operation finished and the next may go;
- every ``DISPATCH_SWEEP_SECONDS``: retries whose backoff is over, wake-ups that were lost, operations a
  stopped dispatcher left SENDING (``operations_recover``).

No transaction is open while a request is with Leshan. Several dispatchers may run against one PostgreSQL
database; on SQLite run one (the embedded server's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from django.conf import settings
from django.db import DatabaseError, connection

from core.errors import FieldhubError
from core.leshan import LeshanClient, Outcome, Response, identity_in_use
from core.provisioning import push as provisioning
from core.workers import DatabaseThreads, listen
from telemetry import hooks
from telemetry.downlink import queue, wakeup

logger = logging.getLogger(__name__)

# Threads for the queue's database work (claims, completions), each with its connection.
DB_THREADS = 8


class Dispatcher:
    def __init__(
        self,
        *,
        leshan_url: str | None = None,
        concurrency: int | None = None,
        sweep_seconds: float | None = None,
        listen: bool = True,
    ) -> None:
        self.leshan_url = leshan_url or settings.LESHAN_URL
        self.concurrency = concurrency or settings.DISPATCH_CONCURRENCY
        self.sweep_seconds = sweep_seconds or settings.DISPATCH_SWEEP_SECONDS
        self.listen = listen
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal = asyncio.Event()
        self._woken: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._leshan: LeshanClient | None = None
        self._db = DatabaseThreads(name="dispatch-db")  # made anew by run() and drain()

    # --- any thread -------------------------------------------------------------------------------------

    def wake(self, endpoint_id: int) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, endpoint_id)

    # --- on the loop --------------------------------------------------------------------------------------

    def _wake(self, endpoint_id: int) -> None:
        self._woken.add(endpoint_id)
        self._signal.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        self._db = DatabaseThreads(size=DB_THREADS, name="dispatch-db")
        wakeup.register_local(self.wake)
        listener = None
        if self.listen and connection.vendor == "postgresql":
            listener = asyncio.create_task(listen(wakeup.CHANNEL, stop, self._heard, logger))
        try:
            async with LeshanClient(self.leshan_url, timeout_s=settings.LESHAN_TIMEOUT) as leshan:
                self._leshan = leshan
                await self._loop_until(stop)
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=settings.LESHAN_TIMEOUT + 10)
        finally:
            wakeup.unregister_local(self.wake)
            if listener is not None:
                listener.cancel()
            self._loop = None
            self._db.close()

    async def drain(self, *, within: float = 60) -> int:
        """Send everything that can be sent now (every online, awake device's due operations, one after the
        other), then return how many were sent: ``manage.py dispatch --once``, and tests."""
        self._loop = asyncio.get_running_loop()
        self._db = DatabaseThreads(size=DB_THREADS, name="dispatch-db")
        sent_before = self.sent
        deadline = time.monotonic() + within
        async with LeshanClient(self.leshan_url, timeout_s=settings.LESHAN_TIMEOUT) as leshan:
            self._leshan = leshan
            while time.monotonic() < deadline:
                await self._claim(None)
                if not self._tasks:
                    break
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=settings.LESHAN_TIMEOUT + 10)
        self._loop = None
        self._db.close()
        return self.sent - sent_before

    async def _loop_until(self, stop: asyncio.Event) -> None:
        next_sweep = 0.0
        while not stop.is_set():
            wait = max(0.0, next_sweep - time.monotonic())
            waiters = [asyncio.ensure_future(self._signal.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            self._signal.clear()
            if stop.is_set():
                return
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_seconds
                    recovered = await self._db.run(queue.operations_recover)
                    if recovered:
                        logger.info("downlink: %d operation(s) recovered", recovered)
                    for task in hooks.periodic_tasks():
                        await self._db.run(task)
                    await self._claim(None)
                await self._claim_woken()
            except DatabaseError as exc:
                logger.warning("downlink: database unavailable, retrying: %r", exc)
                await asyncio.sleep(1)

    async def _claim_woken(self) -> None:
        while self._woken:
            room = self.concurrency - len(self._tasks)
            if room <= 0:
                return  # kept woken; looked at again when a send finishes
            batch = sorted(self._woken)[:room]
            self._woken.difference_update(batch)
            await self._claim(batch)

    async def _claim(self, endpoint_ids: list[int] | None) -> None:
        room = self.concurrency - len(self._tasks)
        if room <= 0:
            return
        claims = await self._db.run(queue.operations_claim, endpoint_ids=endpoint_ids, limit=room)
        for claim in claims:
            task = asyncio.create_task(self._send(claim))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, claim: queue.Claim) -> None:
        try:
            response = await self._call(claim)
            proceed = await self._db.run(queue.operation_complete, claim=claim, response=response)
            self.sent += 1
        except Exception:
            # Left SENDING: the sweep queues it again after OPERATION_SENDING_TIMEOUT.
            logger.exception("downlink: operation %s could not be completed", claim.id)
            return
        finally:
            self._signal.set()  # room for more
        if proceed:
            self._wake(claim.endpoint_id)

    async def _call(self, claim: queue.Claim) -> Response:
        leshan = self._leshan
        assert leshan is not None
        kind, ep, path, payload = claim.kind, claim.endpoint_name, claim.path, claim.payload or {}
        if kind == "WRITE":
            return await leshan.write(ep, path, payload["node"])
        if kind == "EXECUTE":
            return await leshan.execute(ep, path, payload.get("arguments", ""))
        if kind == "READ":
            return await leshan.read(ep, path)
        if kind == "OBSERVE":
            return await leshan.observe(ep, path)
        if kind == "OBSERVE_CANCEL":
            return await leshan.observe_cancel(ep, path)
        if kind in ("SECURITY_PUT", "SECURITY_DELETE"):
            return await self._security(claim)
        return Response(Outcome.REJECTED, detail=f"unknown operation kind {kind}")

    async def _security(self, claim: queue.Claim) -> Response:
        """Leshan's security store: PUT what Fieldhub holds for the device now (read and unsealed here, never
        kept in the queue), or DELETE its entry. A PSK identity another endpoint holds is a failure naming it."""
        leshan = self._leshan
        assert leshan is not None
        if claim.kind == "SECURITY_DELETE":
            return await leshan.security_delete(claim.endpoint_name)
        try:
            info = await self._db.run(provisioning.security_info_of, endpoint_id=claim.endpoint_id)
        except FieldhubError as exc:  # no CREDENTIALS_KEY, or a key that does not open
            return Response(Outcome.REJECTED, detail=exc.detail)
        if info is None:
            return Response(Outcome.CONFIRMED, detail="nothing to push: the device has no credentials now")
        response = await leshan.security_put(info)
        identity = identity_in_use(response)
        if identity is not None:
            holder = await self._identity_holder(identity)
            who = f"device {holder!r}" if holder else "another device"
            detail = f"PSK identity {identity!r} is already used in Leshan by {who}"
            return dataclasses.replace(response, detail=detail)
        return response

    async def _identity_holder(self, identity: str) -> str | None:
        assert self._leshan is not None
        listing = await self._leshan.security_clients()
        for entry in listing.content or []:
            details = (entry.get("tls") or {}).get("details") or {}
            if details.get("identity") == identity:
                return str(entry.get("endpoint"))
        return None

    def _heard(self, payloads: list[str]) -> None:
        """PostgreSQL notifications of woken devices: each names one id, or many (``wakeup.wake_many``)."""
        for payload in payloads:
            for part in payload.split(","):
                if part.isdigit():
                    self._wake(int(part))
