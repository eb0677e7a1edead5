"""Notification channels and the outbox: a row per message to send, written in the transaction of the
alarm change it tells of, delivered (at least once, with its idempotency key) by the workers."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Site
from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule, Severity


class NotificationChannel(models.Model):
    """Where messages go (a webhook URL with its signing secret, or e-mail addresses) and which alarm
    changes: those of its rules, or else of its site (every site when none) at `min_severity` or above;
    on raise, acknowledge and clear as chosen."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    url = models.URLField(max_length=500, blank=True, help_text="webhook: where the JSON body is POSTed")
    secret = models.CharField(max_length=200, blank=True, help_text="webhook: HMAC-SHA256 key of the signature")
    recipients = models.JSONField(default=list, blank=True, help_text="e-mail: addresses")
    rules = models.ManyToManyField(AlarmRule, blank=True, related_name="channels")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="channels")
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    on_raise = models.BooleanField(default=True)
    on_acknowledge = models.BooleanField(default=False)
    on_clear = models.BooleanField(default=True)
    digest_after = models.PositiveIntegerField(
        null=True, blank=True, help_text="more messages than this within a minute go as a digest; empty: the setting"
    )
    # The last delivery's outcome, for the channel's page and API.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """A message in the outbox: one alarm change for one channel (or a digest of several), its body as
    sent, and its delivery: attempts, the next one, the last error. `key` is its idempotency key (in the
    body and the headers): a receiver that sees it twice has seen one message."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"  # gave up: retried for NOTIFY_RETRY_SECONDS, or refused (4xx)
        DIGESTED = "digested"  # sent inside a digest

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    alarm = models.ForeignKey(Alarm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    change = models.ForeignKey(AlarmChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    digest = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts")
    key = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=16, help_text="raised, acknowledged, cleared, digest")
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="a worker's lease while SENDING")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One message per channel and alarm change, however often the change is told of.
            models.UniqueConstraint(
                fields=["channel", "change"], condition=models.Q(change__isnull=False), name="notification_once"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["channel", "-created_at"], name="notification_channel_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_id}: {self.status}"
