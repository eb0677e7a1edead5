"""Helpers for the notification tests: alarms changed as the alarm services change them (rows and
``alarm_changed`` inside one transaction), a real HTTP receiver and a real SMTP server on free ports."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from django.db import transaction
from django.utils import timezone

from core.models import Endpoint
from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule
from telemetry.alarms.signals import alarm_changed
from telemetry.notifications.delivery import NotificationWorker
from tests.servers import free_port

SECRET = "a-webhook-secret-of-some-length"


def make_rule(**fields: Any) -> AlarmRule:
    fields.setdefault("name", "Too hot")
    fields.setdefault("kind", AlarmRule.Kind.ABOVE)
    fields.setdefault("severity", "major")
    fields.setdefault("path", "/3303/0/5700")
    fields.setdefault("threshold", 30.0)
    return AlarmRule.objects.create(**fields)


def raise_alarm(rule: AlarmRule, endpoint: Endpoint, *, value: Any = 31.5, severity: str | None = None) -> Alarm:
    """An alarm raised as the alarm services raise one: its row, its first change, the signal; one transaction."""
    now = timezone.now()
    with transaction.atomic():
        alarm = Alarm.objects.create(
            rule=rule,
            endpoint=endpoint,
            severity=severity or rule.severity,
            path=rule.path,
            message=f"{rule.path} is {value}",
            raised_at=now,
            raised_value=value,
            changed_at=now,
        )
        change = AlarmChange.objects.create(alarm=alarm, state=Alarm.State.ACTIVE, at=now, value=value)
        alarm_changed.send(sender=Alarm, alarm=alarm, change=change)
    return alarm


def change_alarm(alarm: Alarm, state: str, *, user: Any = None, value: Any = None, note: str = "") -> AlarmChange:
    """Acknowledge or clear an alarm, as the services do."""
    now = timezone.now()
    with transaction.atomic():
        alarm.state = state
        if state == Alarm.State.ACKNOWLEDGED:
            alarm.acknowledged_at, alarm.acknowledged_by, alarm.note = now, user, note
        else:
            alarm.cleared_at, alarm.cleared_value, alarm.cleared_by = now, value, user
        alarm.changed_at = now
        alarm.save()
        change = AlarmChange.objects.create(alarm=alarm, state=state, at=now, value=value, user=user, note=note)
        alarm_changed.send(sender=Alarm, alarm=alarm, change=change)
    return change


def drain(within: float = 30) -> int:
    return asyncio.run(NotificationWorker(listen=False).drain(within=within))


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on a free port in a thread. ``answers``: the status of each request in turn
    ("stall": hold the request until ``release`` is set); 200 once they run out."""

    answers: list[Any] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "stall":
                    receiver.stalled.set()
                    receiver.release.wait(30)
                    return
                self.send_response(answer)
                self.send_header("Content-Type", "text/plain")
                text = b"ok" if answer < 400 else f"refused with {answer}".encode()
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Mailbox:
    def __init__(self, refuse: str = "") -> None:
        self.messages: list[Any] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free port: a real SMTP server that keeps what it is sent."""

    def __init__(self, refuse: str = "") -> None:
        self.port = free_port()
        self.mailbox = _Mailbox(refuse)
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Any]:
        return self.mailbox.messages

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def receiving(*answers: Any) -> Iterator[Receiver]:
    receiver = Receiver(list(answers)).start()
    try:
        yield receiver
    finally:
        receiver.stop()
