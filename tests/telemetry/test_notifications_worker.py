"""The outbox survives its worker: a real `manage.py dispatch` process killed with SIGKILL while a webhook
receiver holds its request; a second worker delivers the message (again, with the same idempotency key: the
receiver never answered the first) and what was written while no worker ran, each once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from telemetry.notifications.models import Notification, NotificationChannel
from tests.factories import make_endpoint
from tests.servers import ROOT, _wait_for_sessions_to_end, server_env
from tests.telemetry.notify_helpers import SECRET, Receiver, make_rule, raise_alarm, signed
from tests.telemetry.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {"NOTIFY_LEASE_SECONDS": "3", "NOTIFY_TIMEOUT_SECONDS": "2", "NOTIFY_POLL_SECONDS": "1", "DEBUG": "1"}


def start_worker(name: str) -> tuple[subprocess.Popen[bytes], Any]:
    log = open(ROOT / "var" / f"notify-worker-test-{name}.log", "w")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dispatch"], cwd=ROOT, env=server_env(**WORKER_ENV), stdout=log, stderr=log
    )
    return process, log


def test_a_killed_worker_loses_nothing_and_another_delivers() -> None:
    receiver = Receiver(["stall"]).start()
    NotificationChannel.objects.create(name="hook", kind="webhook", url=receiver.url, secret=SECRET)
    first, first_log = start_worker("first")
    second = None
    try:
        alarm = raise_alarm(make_rule(), make_endpoint())
        assert receiver.stalled.wait(60), "the worker never sent the message"
        message = Notification.objects.get(alarm=alarm)
        assert (message.status, message.attempts) == ("sending", 1)
        os.kill(first.pid, signal.SIGKILL)  # mid-delivery: the receiver has the request, no answer yet
        first.wait(10)
        receiver.release.set()
        # Written while no worker runs.
        later = [raise_alarm(make_rule(name=f"later {i}"), make_endpoint()) for i in range(3)]
        assert set(Notification.objects.values_list("status", flat=True)) == {"sending", "pending"}

        second, second_log = start_worker("second")
        wait_until(lambda: set(Notification.objects.values_list("status", flat=True)) == {"sent"}, within=60)
        message.refresh_from_db()
        assert message.attempts == 2  # the killed attempt counted, then one more

        keys = [request.headers["x-fieldhub-idempotency-key"] for request in receiver.requests]
        assert keys.count(message.key) == 2  # the receiver never answered the first: sent again, same key
        for row in Notification.objects.filter(alarm__in=later):
            assert keys.count(row.key) == 1
        assert len(keys) == 5
        for request in receiver.requests:
            assert request.headers["x-fieldhub-signature"] == signed(SECRET, request.body)
            assert json.loads(request.body)["key"] == request.headers["x-fieldhub-idempotency-key"]

        second.send_signal(signal.SIGTERM)  # a graceful stop
        assert second.wait(30) == 0
        second_log.close()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        first_log.close()
        receiver.stop()
        _wait_for_sessions_to_end()


@pytest.mark.postgres
def test_a_worker_in_another_process_is_woken_by_the_write() -> None:
    """PostgreSQL LISTEN/NOTIFY: with a poll of ten minutes, only the wake-up can deliver within the wait."""
    receiver = Receiver().start()
    NotificationChannel.objects.create(name="hook", kind="webhook", url=receiver.url, secret=SECRET)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "notify"],
        cwd=ROOT,
        env=server_env(**{**WORKER_ENV, "NOTIFY_POLL_SECONDS": "600"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for number in range(2):
            alarm = raise_alarm(make_rule(name=f"r{number}"), make_endpoint())
            wait_until(lambda: Notification.objects.get(alarm=alarm).status == "sent", within=30)  # noqa: B023
        assert len(receiver.requests) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        receiver.stop()
        _wait_for_sessions_to_end()
