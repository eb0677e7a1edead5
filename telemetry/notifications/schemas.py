"""The notification channels API's In/Out schemas. The webhook secret is write-only: ``ChannelOut`` says
whether one is set (``has_secret``), never what it is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from telemetry.notifications.models import Notification, NotificationChannel


class ChannelIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="webhook or email")
    url: str = Field(default="", description="webhook: where the JSON body is POSTed (http:// or https://)")
    secret: str = Field(
        default="", description="webhook: the HMAC-SHA256 key of X-Fieldhub-Signature (16-200 characters; write-only)"
    )
    recipients: list[str] = Field(default_factory=list, description="email: the addresses")
    site: int | None = Field(
        default=None, description="the site whose alarms it hears of; null: every site (global admins)"
    )
    rules: list[int] = Field(
        default_factory=list, description="alarm rule ids; none: every alarm at min_severity or above"
    )
    min_severity: str = Field(default="warning", description="critical, major, minor or warning (without rules)")
    on_raise: bool = True
    on_acknowledge: bool = False
    on_clear: bool = True
    enabled: bool = True
    digest_after: int | None = Field(
        default=None, description="more messages within a minute go as one digest; null: NOTIFY_DIGEST_AFTER"
    )


class ChannelPatchIn(Schema):
    """What to change; absent fields stay. ``secret``: absent or empty keeps it. The kind is fixed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    url: str | None = None
    secret: str | None = None
    recipients: list[str] | None = None
    site: int | None = None
    rules: list[int] | None = None
    min_severity: str | None = None
    on_raise: bool | None = None
    on_acknowledge: bool | None = None
    on_clear: bool | None = None
    enabled: bool | None = None
    digest_after: int | None = None


class ChannelOut(Schema):
    id: int
    name: str
    kind: str
    enabled: bool
    url: str = Field(description="webhook: its URL")
    has_secret: bool = Field(description="webhook: a secret is set (it is never shown)")
    recipients: list[str]
    site: int | None = Field(alias="site_id")
    rules: list[int]
    min_severity: str
    on_raise: bool
    on_acknowledge: bool
    on_clear: bool
    digest_after: int | None
    last_sent_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    page: str = Field(description="its page, with the delivery log")

    @staticmethod
    def resolve_has_secret(obj: NotificationChannel) -> bool:
        return bool(obj.secret)

    @staticmethod
    def resolve_rules(obj: NotificationChannel) -> list[int]:
        return sorted(rule.pk for rule in obj.rules.all())

    @staticmethod
    def resolve_page(obj: NotificationChannel) -> str:
        return f"/notifications/{obj.pk}/"


class ChannelPageOut(Schema):
    items: list[ChannelOut]
    count: int
    limit: int
    offset: int


class DeliveryOut(Schema):
    id: int
    key: str = Field(description="its idempotency key (in the body and X-Fieldhub-Idempotency-Key)")
    event: str = Field(description="raised, acknowledged, cleared, digest or test")
    status: str = Field(description="pending, sending, sent, failed or digested")
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="pending: when it is tried next")
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    alarm: int | None = Field(alias="alarm_id")
    digest: int | None = Field(alias="digest_id", description="digested: the digest message it went in")
    body: dict[str, Any] = Field(description="what is sent")

    @staticmethod
    def resolve_next_attempt_at(obj: Notification) -> dt.datetime | None:
        return obj.next_attempt_at if obj.status == Notification.Status.PENDING else None


class DeliveryPageOut(Schema):
    items: list[DeliveryOut]
    count: int
    limit: int
    offset: int
