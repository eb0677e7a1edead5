"""Delivering the outbox: webhooks to a real local HTTP receiver (signature, retries on 5xx, a receiver
down then up, 4xx gives up, timeouts, giving up after NOTIFY_RETRY_SECONDS), leases, digests, and e-mail
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import json
import threading
from email import policy
from typing import Any

import pytest
from django.utils import timezone

from core.settings import email_settings
from telemetry.notifications import outbox
from telemetry.notifications.delivery import NotificationWorker
from telemetry.notifications.models import Notification, NotificationChannel
from tests.factories import make_endpoint
from tests.telemetry.notify_helpers import SECRET, Receiver, SmtpServer, drain, make_rule, raise_alarm, signed
from tests.telemetry.workers import WorkerThread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.NOTIFY_BACKOFF_SECONDS = 0  # a retry is due at once: drain() sends it in the same run
    settings.NOTIFY_TIMEOUT_SECONDS = 2
    settings.NOTIFY_LEASE_SECONDS = 5


@pytest.fixture
def receiver() -> Any:
    hook = Receiver().start()
    yield hook
    hook.stop()


def hook_channel(url: str, **fields: Any) -> NotificationChannel:
    return NotificationChannel.objects.create(name="hook", kind="webhook", url=url, secret=SECRET, **fields)


def one() -> Notification:
    return Notification.objects.get(event__in=["raised", "acknowledged", "cleared"])


class TestWebhook:
    def test_it_posts_the_signed_body_with_the_idempotency_key(self, receiver: Receiver) -> None:
        channel = hook_channel(receiver.url)
        alarm = raise_alarm(make_rule(), make_endpoint(name="urn:imei:350000000000042"))
        assert drain() == 1
        message = one()
        assert (message.status, message.attempts, message.last_error) == ("sent", 1, "")
        assert message.sent_at is not None
        [request] = receiver.requests
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-fieldhub-signature"] == signed(SECRET, request.body)
        assert request.headers["x-fieldhub-idempotency-key"] == message.key
        assert request.headers["x-fieldhub-event"] == "raised"
        body = json.loads(request.body)
        assert body["key"] == message.key
        assert body["alarm"]["id"] == alarm.pk
        assert body["device"]["name"] == "urn:imei:350000000000042"
        channel.refresh_from_db()
        assert channel.last_sent_at is not None
        assert channel.last_error == ""

    def test_a_wrong_secret_does_not_verify(self, receiver: Receiver) -> None:
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        drain()
        [request] = receiver.requests
        assert request.headers["x-fieldhub-signature"] != signed("another-secret-entirely", request.body)

    def test_a_5xx_is_retried_and_the_message_sent_once(self, receiver: Receiver) -> None:
        receiver.answers = [500, 503]
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        assert drain() == 1
        message = one()
        assert (message.status, message.attempts) == ("sent", 3)
        assert message.last_error == "HTTP 503: refused with 503"  # the last failure stays in the log
        assert len(receiver.requests) == 3
        assert len({r.headers["x-fieldhub-idempotency-key"] for r in receiver.requests}) == 1
        assert drain() == 0  # sent once: nothing more
        assert len(receiver.requests) == 3

    @pytest.mark.parametrize("status", [408, 429])
    def test_408_and_429_are_retried(self, receiver: Receiver, status: int) -> None:
        receiver.answers = [status]
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        drain()
        assert (one().status, one().attempts) == ("sent", 2)

    @pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
    def test_a_4xx_fails_at_once_with_the_error(self, receiver: Receiver, status: int) -> None:
        receiver.answers = [status]
        channel = hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        assert drain() == 0
        message = one()
        assert (message.status, message.attempts) == ("failed", 1)
        assert message.last_error == f"HTTP {status}: refused with {status}"
        assert len(receiver.requests) == 1
        channel.refresh_from_db()
        assert channel.last_error == message.last_error
        assert channel.last_error_at is not None

    def test_a_redirect_is_not_followed(self, receiver: Receiver) -> None:
        receiver.answers = [302]
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        drain()
        assert one().status == "failed"
        assert "redirects are not followed" in one().last_error

    def test_a_receiver_down_then_up(self, settings: Any) -> None:
        settings.NOTIFY_BACKOFF_SECONDS = 1
        settings.NOTIFY_BACKOFF_MAX_SECONDS = 1
        down = Receiver()  # its port, nothing listening yet
        hook_channel(down.url)
        raise_alarm(make_rule(), make_endpoint())
        assert drain() == 0
        message = one()
        assert message.status == "pending"
        assert message.attempts == 1
        assert message.last_error.startswith("could not connect: ")
        assert message.next_attempt_at > timezone.now()  # backing off
        assert drain() == 0  # not due yet: not tried
        assert one().attempts == 1
        up = Receiver(port=down.port).start()
        try:
            wait_until(lambda: one().next_attempt_at <= timezone.now(), within=5)
            assert drain() == 1
            assert (one().status, one().attempts) == ("sent", 2)
            assert up.requests[0].headers["x-fieldhub-idempotency-key"] == message.key
        finally:
            up.stop()

    def test_a_running_worker_retries_a_receiver_that_comes_back(self, settings: Any) -> None:
        """The worker's own loop (as in `manage.py dispatch`): woken by the write, it retries after the
        backoff (its poll), and delivers once the receiver is up."""
        settings.NOTIFY_BACKOFF_SECONDS = 1
        settings.NOTIFY_BACKOFF_MAX_SECONDS = 1
        down = Receiver()
        hook_channel(down.url)
        with in_thread(NotificationWorker(poll_seconds=0.2, listen=False)):
            raise_alarm(make_rule(), make_endpoint())
            wait_until(lambda: one().attempts >= 2, within=15)
            assert one().status in ("pending", "sending")
            up = Receiver(port=down.port).start()
            try:
                wait_until(lambda: one().status == "sent", within=15)
            finally:
                up.stop()
        assert len(up.requests) == 1

    def test_a_timeout_is_retried(self, receiver: Receiver, settings: Any) -> None:
        settings.NOTIFY_TIMEOUT_SECONDS = 1
        receiver.answers = ["stall"]
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        assert drain() == 1
        message = one()
        assert (message.status, message.attempts) == ("sent", 2)
        assert message.last_error == "no answer within 1 s"

    def test_it_gives_up_after_notify_retry_seconds(self, receiver: Receiver, settings: Any) -> None:
        settings.NOTIFY_BACKOFF_SECONDS = 60
        receiver.answers = [500, 500]
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        drain()
        assert (one().status, one().attempts) == ("pending", 1)
        # A day later (NOTIFY_RETRY_SECONDS), due again: the next failure is the last.
        Notification.objects.update(created_at=timezone.now() - dt.timedelta(days=1), next_attempt_at=timezone.now())
        drain()
        message = one()
        assert message.status == "failed"
        assert message.last_error == "gave up after 2 attempts: HTTP 500: refused with 500"

    def test_a_disabled_channels_messages_wait(self, receiver: Receiver) -> None:
        channel = hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        NotificationChannel.objects.update(enabled=False)
        assert drain() == 0
        assert one().status == "pending"
        channel.enabled = True
        channel.save()
        assert drain() == 1

    def test_the_test_message(self, receiver: Receiver, admin_user: Any) -> None:
        from telemetry.notifications.services import channel_test

        channel = hook_channel(receiver.url)
        message = channel_test(actor=admin_user, channel=channel)
        assert drain() == 1
        [request] = receiver.requests
        assert request.headers["x-fieldhub-event"] == "test"
        assert json.loads(request.body)["key"] == message.key
        assert request.headers["x-fieldhub-signature"] == signed(SECRET, request.body)


class TestLeases:
    def test_an_expired_lease_makes_the_message_due_again(self, receiver: Receiver) -> None:
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        [claim] = outbox.notifications_claim(limit=10)  # a worker that then dies
        assert one().status == "sending"
        assert one().attempts == 1
        assert outbox.notifications_claim(limit=10) == []  # leased: no one else takes it
        Notification.objects.update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
        assert drain() == 1
        assert (one().status, one().attempts) == ("sent", 2)
        # The first worker comes back late: its outcome is not recorded over the newer attempt.
        assert outbox.notification_complete(claim=claim, outcome=outbox.Outcome(False, "late", retry=False)) is None
        assert one().status == "sent"

    def test_a_released_lease_is_due_at_once(self, receiver: Receiver) -> None:
        hook_channel(receiver.url)
        raise_alarm(make_rule(), make_endpoint())
        [claim] = outbox.notifications_claim(limit=10)
        assert outbox.notification_release(claim=claim)
        assert one().status == "pending"
        assert drain() == 1

    def test_a_stopping_worker_finishes_what_it_sends(self, receiver: Receiver) -> None:
        receiver.answers = ["stall"]
        hook_channel(receiver.url)
        worker = in_thread(NotificationWorker(poll_seconds=0.2, listen=False)).start()
        raise_alarm(make_rule(), make_endpoint())
        assert receiver.stalled.wait(10)
        stopped = threading.Thread(target=worker.stop)
        stopped.start()
        receiver.release.set()  # the receiver answers (nothing: the worker's request times out, retried later)
        stopped.join(20)
        assert one().status in ("pending", "sent")  # never left SENDING by a stopped worker
        assert one().claimed_until is None

    def test_claims_take_the_oldest_due_first_and_count_attempts(self, receiver: Receiver) -> None:
        hook_channel(receiver.url)
        for _ in range(3):
            raise_alarm(make_rule(), make_endpoint())
        first = outbox.notifications_claim(limit=2)
        second = outbox.notifications_claim(limit=2)
        assert len(first) == 2
        assert len(second) == 1
        assert {c.id for c in first}.isdisjoint({c.id for c in second})
        assert all(c.attempts == 1 and c.secret == SECRET for c in first + second)
        assert SECRET not in repr(first)


class TestDigest:
    def test_more_than_n_in_a_minute_go_as_one_digest(self, receiver: Receiver) -> None:
        channel = hook_channel(receiver.url, digest_after=3)
        alarms = [raise_alarm(make_rule(name=f"r{i}"), make_endpoint()) for i in range(5)]
        assert drain() == 1
        [request] = receiver.requests
        body = json.loads(request.body)
        assert request.headers["x-fieldhub-event"] == "digest"
        assert body["event"] == "digest"
        assert body["count"] == 5
        assert sorted(part["alarm"]["id"] for part in body["notifications"]) == sorted(a.pk for a in alarms)
        assert request.headers["x-fieldhub-signature"] == signed(SECRET, request.body)
        digest = Notification.objects.get(event="digest")
        assert digest.status == "sent"
        assert digest.channel == channel
        parts = Notification.objects.exclude(event="digest")
        assert {p.status for p in parts} == {"digested"}
        assert {p.digest_id for p in parts} == {digest.pk}
        assert {p["key"] for p in body["notifications"]} == {p.key for p in parts}

    def test_at_most_n_are_sent_one_by_one(self, receiver: Receiver) -> None:
        hook_channel(receiver.url, digest_after=3)
        for i in range(3):
            raise_alarm(make_rule(name=f"r{i}"), make_endpoint())
        assert drain() == 3
        assert {r.headers["x-fieldhub-event"] for r in receiver.requests} == {"raised"}

    def test_one_digest_a_minute_the_rest_wait_for_the_next(self, receiver: Receiver) -> None:
        hook_channel(receiver.url, digest_after=2)
        for i in range(4):
            raise_alarm(make_rule(name=f"a{i}"), make_endpoint())
        drain()
        for i in range(3):
            raise_alarm(make_rule(name=f"b{i}"), make_endpoint())
        assert drain() == 0  # a digest went less than a minute ago: these wait for the next one
        waiting = Notification.objects.filter(status="pending")
        assert waiting.count() == 3
        digest = Notification.objects.get(event="digest")
        assert {n.next_attempt_at for n in waiting} == {digest.created_at + dt.timedelta(minutes=1)}
        # A minute later.
        Notification.objects.filter(event="digest").update(created_at=digest.created_at - dt.timedelta(minutes=1))
        Notification.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        assert drain() == 1
        second = json.loads(receiver.requests[-1].body)
        assert second["event"] == "digest"
        assert second["count"] == 3

    def test_the_setting_is_the_default_and_channels_count_alone(self, receiver: Receiver, settings: Any) -> None:
        settings.NOTIFY_DIGEST_AFTER = 2
        hook_channel(receiver.url)
        other = Receiver().start()
        try:
            hook_channel(other.url, digest_after=10)
            for i in range(3):
                raise_alarm(make_rule(name=f"r{i}"), make_endpoint())
            drain()
            assert [r.headers["x-fieldhub-event"] for r in receiver.requests] == ["digest"]
            assert [r.headers["x-fieldhub-event"] for r in other.requests] == ["raised"] * 3
        finally:
            other.stop()


class TestEmail:
    @pytest.fixture
    def smtp(self, settings: Any) -> Any:
        with SmtpServer() as server:
            self._use(settings, server)
            yield server

    @staticmethod
    def _use(settings: Any, server: SmtpServer) -> None:
        url = f"smtp://127.0.0.1:{server.port}"
        settings.EMAIL_URL = url
        for name, value in email_settings(url).items():  # what core.settings makes of EMAIL_URL
            setattr(settings, name, value)
        settings.DEFAULT_FROM_EMAIL = "fieldhub@example.com"

    def test_an_alarm_is_mailed_through_smtp(self, smtp: SmtpServer, settings: Any) -> None:
        settings.PUBLIC_BASE_URL = "https://fieldhub.example.com"
        NotificationChannel.objects.create(
            name="ops mail", kind="email", recipients=["ops@example.com", "b@example.org"]
        )
        alarm = raise_alarm(
            make_rule(name="Too hot", severity="critical"), make_endpoint(name="urn:imei:350000000000099")
        )
        assert drain() == 1
        [envelope] = smtp.messages
        assert sorted(envelope.rcpt_tos) == ["b@example.org", "ops@example.com"]
        assert envelope.mail_from == "fieldhub@example.com"
        mail = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert mail["Subject"] == "[Fieldhub] CRITICAL alarm raised: Too hot on urn:imei:350000000000099"
        message = one()
        assert mail["X-Fieldhub-Idempotency-Key"] == message.key
        assert mail["Message-ID"] == f"<{message.key}@fieldhub>"
        text = mail.get_content()
        assert f"https://fieldhub.example.com/alarms/{alarm.pk}/" in text
        assert "value: 31.5" in text
        assert message.status == "sent"

    def test_a_name_with_line_breaks_stays_in_the_subject(self, smtp: SmtpServer) -> None:
        NotificationChannel.objects.create(name="m", kind="email", recipients=["ops@example.com"])
        raise_alarm(make_rule(name="Hot\r\nBcc: evil@example.com"), make_endpoint(name="dev-1"))
        assert drain() == 1
        [envelope] = smtp.messages
        assert envelope.rcpt_tos == ["ops@example.com"]
        mail = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert mail["Bcc"] is None
        assert mail["Subject"] == "[Fieldhub] MAJOR alarm raised: Hot Bcc: evil@example.com on dev-1"

    def test_a_digest_by_mail(self, smtp: SmtpServer) -> None:
        NotificationChannel.objects.create(name="m", kind="email", recipients=["ops@example.com"], digest_after=1)
        raise_alarm(make_rule(name="one"), make_endpoint())
        raise_alarm(make_rule(name="two"), make_endpoint())
        drain()
        [envelope] = smtp.messages
        mail = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert mail["Subject"] == "[Fieldhub] 2 alarm changes"
        assert "one on" in mail.get_content()
        assert "two on" in mail.get_content()

    def test_a_refused_recipient_fails_at_once(self, settings: Any) -> None:
        with SmtpServer(refuse="550 no such mailbox") as server:
            self._use(settings, server)
            NotificationChannel.objects.create(name="m", kind="email", recipients=["nobody@example.com"])
            raise_alarm(make_rule(), make_endpoint())
            drain()
        message = one()
        assert message.status == "failed"
        assert "550" in message.last_error
        assert "nobody@example.com" in message.last_error

    def test_a_temporary_refusal_is_retried(self, settings: Any) -> None:
        settings.NOTIFY_BACKOFF_SECONDS = 60
        with SmtpServer(refuse="451 try again later") as server:
            self._use(settings, server)
            NotificationChannel.objects.create(name="m", kind="email", recipients=["ops@example.com"])
            raise_alarm(make_rule(), make_endpoint())
            drain()
        assert one().status == "pending"
        assert "451" in one().last_error

    def test_no_smtp_server_is_retried(self, settings: Any) -> None:
        settings.NOTIFY_BACKOFF_SECONDS = 60
        server = SmtpServer()  # never started
        self._use(settings, server)
        NotificationChannel.objects.create(name="m", kind="email", recipients=["ops@example.com"])
        raise_alarm(make_rule(), make_endpoint())
        drain()
        assert one().status == "pending"
        assert one().last_error.startswith("SMTP: ")

    def test_without_email_url_mail_waits(self, settings: Any) -> None:
        settings.EMAIL_URL = ""
        settings.NOTIFY_BACKOFF_SECONDS = 60
        NotificationChannel.objects.create(name="m", kind="email", recipients=["ops@example.com"])
        raise_alarm(make_rule(), make_endpoint())
        drain()
        assert one().status == "pending"
        assert one().last_error == "e-mail is not configured: set EMAIL_URL"


class TestEmailUrl:
    def test_the_schemes(self) -> None:
        assert email_settings("smtp+tls://me%40x.com:p%3Ass@mail.example.com") == {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "mail.example.com",
            "EMAIL_PORT": 587,
            "EMAIL_HOST_USER": "me@x.com",
            "EMAIL_HOST_PASSWORD": "p:ss",
            "EMAIL_USE_TLS": True,
            "EMAIL_USE_SSL": False,
        }
        ssl = email_settings("smtp+ssl://mail.example.com:2465")
        assert (ssl["EMAIL_PORT"], ssl["EMAIL_USE_SSL"], ssl["EMAIL_USE_TLS"]) == (2465, True, False)
        assert email_settings("smtp://localhost")["EMAIL_PORT"] == 25
        assert email_settings("console://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
        assert email_settings("") == {}

    @pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:port"])
    def test_a_bad_url_is_refused(self, url: str) -> None:
        from django.core.exceptions import ImproperlyConfigured

        with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
            email_settings(url)


def in_thread(worker: NotificationWorker) -> WorkerThread:
    """The worker in a thread, once its loop runs (its wake-ups need it)."""
    return WorkerThread(worker, ready=lambda: worker._loop is not None)


def test_a_worker_in_this_process_is_woken_after_commit() -> None:
    """The embedded server's worker (`manage.py serve`): with a poll of ten minutes, the wake-up delivers."""
    receiver = Receiver().start()
    try:
        hook_channel(receiver.url)
        with in_thread(NotificationWorker(poll_seconds=600, listen=False)):
            for number in range(2):
                alarm = raise_alarm(make_rule(name=f"r{number}"), make_endpoint())
                wait_until(lambda: Notification.objects.get(alarm=alarm).status == "sent", within=30)  # noqa: B023
        assert len(receiver.requests) == 2
    finally:
        receiver.stop()
