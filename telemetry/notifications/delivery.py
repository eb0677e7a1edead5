"""The notification worker: delivers the outbox's messages (``telemetry.notifications.outbox``).

It runs in the ``worker`` process beside the downlink dispatcher (``manage.py dispatch``), alone
(``manage.py notify``), and inside the embedded server (``manage.py serve``). It looks when woken (a message
was written: ``telemetry.notifications.wakeup``, or PostgreSQL ``LISTEN fieldhub_notify`` from other
processes) and every NOTIFY_POLL_SECONDS (retries whose backoff is over, expired leases).

- Webhook: ``POST`` of the JSON body (the bytes signed) with ``Content-Type: application/json``,
  ``X-Fieldhub-Signature: sha256=<HMAC-SHA256 of the body with the channel's secret, hex>``,
  ``X-Fieldhub-Idempotency-Key`` and ``X-Fieldhub-Event``. 2xx: sent. 5xx, 408, 429, a timeout
  (NOTIFY_TIMEOUT_SECONDS) or no connection: retried. Any other answer (4xx, a redirect): failed at once.
- E-mail: Django's mail (``EMAIL_URL``), in a thread; the idempotency key in ``X-Fieldhub-Idempotency-Key``
  and the ``Message-ID``. A permanent SMTP refusal (5xx) fails at once; the rest is retried.

Delivery is at least once: a message is marked SENT after its receiver answered; a worker killed in between
leaves it SENDING until its lease runs out, then it is sent again with the same key. Stopping (SIGTERM), a
worker takes nothing new, waits for what it is sending, and gives back what does not finish in time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import smtplib
import time
from typing import Any

import aiohttp
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, connection

from core.workers import DatabaseThreads, listen
from telemetry.notifications import outbox, wakeup
from telemetry.notifications.models import NotificationChannel
from telemetry.notifications.outbox import Claim, Outcome

logger = logging.getLogger(__name__)

CONCURRENCY = 20
ERROR_TEXT_MAX = 300  # characters of a receiver's answer kept with the error
USER_AGENT = "Fieldhub-Notifications/1"


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, data: bytes) -> str:
    """The ``X-Fieldhub-Signature`` header's value for ``data``."""
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


async def send_webhook(session: aiohttp.ClientSession, claim: Claim) -> Outcome:
    data = body_bytes(claim.body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Fieldhub-Signature": signature(claim.secret, data),
        "X-Fieldhub-Idempotency-Key": claim.key,
        "X-Fieldhub-Event": claim.event,
    }
    timeout = aiohttp.ClientTimeout(total=settings.NOTIFY_TIMEOUT_SECONDS)
    try:
        async with session.post(
            claim.url, data=data, headers=headers, timeout=timeout, allow_redirects=False
        ) as answer:
            status = answer.status
            text = (await answer.content.read(ERROR_TEXT_MAX)).decode("utf-8", errors="replace").strip()
    except TimeoutError:
        return Outcome(False, f"no answer within {settings.NOTIFY_TIMEOUT_SECONDS} s", retry=True)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome(False, f"could not connect: {exc.__class__.__name__}: {exc}".strip(": "), retry=True)
    if 200 <= status < 300:
        return Outcome(True)
    error = f"HTTP {status}" + (f": {text}" if text else "")
    if 300 <= status < 400:
        return Outcome(False, f"{error} (redirects are not followed: give the final URL)")
    return Outcome(False, error, retry=status >= 500 or status in (408, 429))


def email_message(claim: Claim) -> EmailMessage:
    subject, text = email_text(claim)
    subject = " ".join(subject.split())[:200]  # one line: a name with a line break cannot add headers
    headers = {
        "X-Fieldhub-Idempotency-Key": claim.key,
        "X-Fieldhub-Event": claim.event,
        "Message-ID": f"<{claim.key}@fieldhub>",
    }
    return EmailMessage(subject=subject, body=text, to=claim.recipients, headers=headers)


def _change_lines(body: dict[str, Any]) -> list[str]:
    alarm, device, rule = body.get("alarm", {}), body.get("device", {}), body.get("rule", {})
    site = (device.get("site") or {}).get("name")
    value = (body.get("change") or {}).get("value")
    lines = [
        f"{alarm.get('severity', '').upper()} alarm {body.get('event')}: {rule.get('name')} on {device.get('name')}",
        f"  {alarm.get('message')}" if alarm.get("message") else "",
        f"  device: {device.get('name')}" + (f" (site {site})" if site else ""),
        f"  rule: {rule.get('name')} ({rule.get('kind')})",
        f"  resource: {alarm.get('path')}" if alarm.get("path") else "",
        f"  value: {json.dumps(value)}" if value is not None else "",
        f"  at: {body.get('at')}",
        f"  {alarm.get('url')}",
    ]
    return [line for line in lines if line]


def email_text(claim: Claim) -> tuple[str, str]:
    """The subject and plain text of a message's e-mail."""
    body = claim.body
    footer = ["", f"Fieldhub channel {claim.channel_name!r}; idempotency key {claim.key}"]
    if claim.event == "test":
        return f"[Fieldhub] Test message for {claim.channel_name}", "\n".join([body.get("message", ""), *footer])
    if claim.event == "digest":
        parts = body.get("notifications", [])
        lines = [body.get("message", ""), ""]
        for part in parts:
            lines += [*_change_lines(part), ""]
        return f"[Fieldhub] {len(parts)} alarm changes", "\n".join(lines + footer)
    first, *rest = _change_lines(body)
    return f"[Fieldhub] {first}", "\n".join([first, *rest, *footer])


def send_email(claim: Claim) -> Outcome:
    """Send the message's e-mail with Django's mail (blocking: run in a thread)."""
    if not settings.EMAIL_URL:
        return Outcome(False, "e-mail is not configured: set EMAIL_URL", retry=True)
    try:
        with get_connection(timeout=settings.NOTIFY_TIMEOUT_SECONDS) as mail:
            message = email_message(claim)
            message.connection = mail
            message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{who}: {code} {text.decode(errors='replace')}" for who, (code, text) in exc.recipients.items()
        )
        return Outcome(False, f"recipients refused: {detail}", retry=any(code < 500 for code in codes))
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Outcome(False, f"SMTP {exc.smtp_code}: {text}", retry=exc.smtp_code < 500)
    except TimeoutError:
        return Outcome(False, f"the SMTP server did not answer within {settings.NOTIFY_TIMEOUT_SECONDS} s", retry=True)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, f"SMTP: {exc.__class__.__name__}: {exc}", retry=True)
    return Outcome(True)


class NotificationWorker:
    def __init__(
        self, *, concurrency: int = CONCURRENCY, poll_seconds: float | None = None, listen: bool = True
    ) -> None:
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds or settings.NOTIFY_POLL_SECONDS
        self.listen = listen
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], Claim] = {}
        self._session: aiohttp.ClientSession | None = None
        self._db = DatabaseThreads(size=2, name="notify-db")

    # --- any thread -------------------------------------------------------------------------------------

    def wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._signal.set)

    # --- on the loop --------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        self._db = DatabaseThreads(size=2, name="notify-db")
        wakeup.register_local(self.wake)
        listener = None
        if self.listen and connection.vendor == "postgresql":
            listener = asyncio.create_task(listen(wakeup.CHANNEL, stop, lambda _: self._signal.set(), logger))
        try:
            async with aiohttp.ClientSession() as session:
                self._session = session
                await self._loop_until(stop)
                await self._finish()
        finally:
            wakeup.unregister_local(self.wake)
            if listener is not None:
                listener.cancel()
            self._loop = None
            self._db.close()

    async def drain(self, *, within: float = 60) -> int:
        """Deliver what is due now, and what falls due while doing so (for at most ``within`` seconds), then
        return how many were delivered: ``manage.py notify --once``, and tests."""
        self._loop = asyncio.get_running_loop()
        self._db = DatabaseThreads(size=2, name="notify-db")
        sent_before = self.sent
        deadline = time.monotonic() + within
        try:
            async with aiohttp.ClientSession() as session:
                self._session = session
                while time.monotonic() < deadline:
                    await self._claim()
                    if not self._tasks:
                        break
                    await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                await self._finish()
        finally:
            self._loop = None
            self._db.close()
        return self.sent - sent_before

    async def _loop_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._claim()
            except DatabaseError as exc:
                logger.warning("notifications: database unavailable, retrying: %r", exc)
            waiters = [asyncio.ensure_future(self._signal.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            self._signal.clear()

    async def _claim(self) -> None:
        room = self.concurrency - len(self._tasks)
        if room <= 0:
            return
        for claim in await self._db.run(outbox.notifications_claim, limit=room):
            task = asyncio.create_task(self._deliver(claim))
            self._tasks[task] = claim
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._signal.set()  # room for more

    async def _deliver(self, claim: Claim) -> None:
        try:
            outcome = await self._send(claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in sending must not stop the worker: recorded, retried
            logger.exception("notifications: sending %s failed", claim.key)
            outcome = Outcome(False, f"internal error: {exc.__class__.__name__}", retry=True)
        try:
            status = await self._db.run(outbox.notification_complete, claim=claim, outcome=outcome)
        except Exception:
            # Left SENDING: due again once its lease runs out.
            logger.exception("notifications: the outcome of %s could not be recorded", claim.key)
            return
        if status == "sent":
            self.sent += 1
        elif outcome.error:
            logger.info("notifications: %s to %r: %s (%s)", claim.event, claim.channel_name, outcome.error, status)

    async def _send(self, claim: Claim) -> Outcome:
        if claim.kind == NotificationChannel.Kind.WEBHOOK:
            assert self._session is not None
            return await send_webhook(self._session, claim)
        if claim.kind == NotificationChannel.Kind.EMAIL:
            return await asyncio.to_thread(send_email, claim)
        return Outcome(False, f"unknown channel kind {claim.kind!r}")

    async def _finish(self) -> None:
        """Wait for the messages under way (each is bounded by its timeout); give back any still going."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=settings.NOTIFY_TIMEOUT_SECONDS + 5)
        for task in pending:
            claim = self._tasks.get(task)
            task.cancel()
            if claim is not None:
                with contextlib.suppress(Exception):
                    await self._db.run(outbox.notification_release, claim=claim)
