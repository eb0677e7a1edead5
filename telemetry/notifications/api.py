"""The notification channels API (/api/v1/notification-channels): channels (admins of their site, global
admins for channels of every site), a test message, and each channel's delivery log."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from ninja.params.functions import Query

from core.http import ApiRequest
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset, RowId
from telemetry.notifications import selectors, services
from telemetry.notifications.models import Notification, NotificationChannel
from telemetry.notifications.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPageOut,
    ChannelPatchIn,
    DeliveryOut,
    DeliveryPageOut,
)

notifications_router = Router(tags=["Notifications"])


@notifications_router.get(
    "/notification-channels", response={200: ChannelPageOut, **READ_ERRORS}, summary="Notification channels (admins)"
)
def list_channels(
    request: ApiRequest, limit: int = Query(50, ge=1, le=MAX_PAGE), offset: Offset = Query(0)
) -> OffsetPage[NotificationChannel]:
    return offset_page(selectors.channel_list(user=request.auth), limit=limit, offset=offset)


@notifications_router.post(
    "/notification-channels", response={201: ChannelOut, **WRITE_ERRORS}, summary="Create a channel (admin)"
)
def create_channel(request: ApiRequest, payload: ChannelIn) -> Status[NotificationChannel]:
    channel = services.channel_create(
        actor=request.auth,
        name=payload.name,
        kind=payload.kind,
        url=payload.url,
        secret=payload.secret,
        recipients=payload.recipients,
        site_id=payload.site,
        rule_ids=payload.rules,
        min_severity=payload.min_severity,
        on_raise=payload.on_raise,
        on_acknowledge=payload.on_acknowledge,
        on_clear=payload.on_clear,
        enabled=payload.enabled,
        digest_after=payload.digest_after,
    )
    return Status(201, selectors.channel_get(user=request.auth, pk=channel.pk))


@notifications_router.get(
    "/notification-channels/{channel_id}", response={200: ChannelOut, **READ_ERRORS}, summary="One channel"
)
def get_channel(request: ApiRequest, channel_id: RowId) -> NotificationChannel:
    return selectors.channel_get(user=request.auth, pk=channel_id)


@notifications_router.patch(
    "/notification-channels/{channel_id}", response={200: ChannelOut, **WRITE_ERRORS}, summary="Change a channel"
)
def update_channel(request: ApiRequest, channel_id: RowId, payload: ChannelPatchIn) -> NotificationChannel:
    channel = selectors.channel_get(user=request.auth, pk=channel_id)
    given = payload.model_fields_set
    changes: dict[str, Any] = {
        name: getattr(payload, name)
        for name in (
            "name",
            "url",
            "secret",
            "recipients",
            "min_severity",
            "on_raise",
            "on_acknowledge",
            "on_clear",
            "enabled",
        )
    }
    if "site" in given:
        changes["site_id"] = payload.site
    if "digest_after" in given:
        changes["digest_after"] = payload.digest_after
    services.channel_update(actor=request.auth, channel=channel, rule_ids=payload.rules, **changes)
    return selectors.channel_get(user=request.auth, pk=channel_id)


@notifications_router.delete(
    "/notification-channels/{channel_id}", response={204: None, **WRITE_ERRORS}, summary="Delete a channel"
)
def delete_channel(request: ApiRequest, channel_id: RowId) -> Status[None]:
    channel = selectors.channel_get(user=request.auth, pk=channel_id)
    services.channel_delete(actor=request.auth, channel=channel)
    return Status(204, None)


@notifications_router.post(
    "/notification-channels/{channel_id}/test",
    response={202: DeliveryOut, **WRITE_ERRORS},
    summary="Send a test message now (through the outbox: see its deliveries)",
)
def test_channel(request: ApiRequest, channel_id: RowId) -> Status[Notification]:
    channel = selectors.channel_get(user=request.auth, pk=channel_id)
    return Status(202, services.channel_test(actor=request.auth, channel=channel))


@notifications_router.get(
    "/notification-channels/{channel_id}/deliveries",
    response={200: DeliveryPageOut, **READ_ERRORS},
    summary="A channel's delivery log, newest first",
)
def list_deliveries(
    request: ApiRequest,
    channel_id: RowId,
    status: str | None = Query(None, description="pending, sending, sent, failed or digested"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[Notification]:
    channel = selectors.channel_get(user=request.auth, pk=channel_id)
    return offset_page(
        selectors.deliveries(user=request.auth, channel=channel, status=status), limit=limit, offset=offset
    )
