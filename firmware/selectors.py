"""Reads of the firmware app; every one takes the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.permissions import require
from core.roles import Role
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate


def firmware_list(*, user: Any) -> QuerySet[Firmware]:
    require(user, Role.VIEWER)
    return Firmware.objects.annotate(used=Count("updates")).order_by("-created_at")


def firmware_get(*, user: Any, version: str) -> Firmware:
    try:
        return firmware_list(user=user).get(version=version)
    except Firmware.DoesNotExist:
        raise NotFound(f"no firmware {version!r}", path="version") from None


def update_list(*, user: Any, endpoint: Endpoint | None = None, status: str | None = None) -> QuerySet[FirmwareUpdate]:
    require(user, Role.VIEWER)
    updates = FirmwareUpdate.objects.select_related("endpoint", "firmware", "campaign").order_by("-id")
    if endpoint is not None:
        updates = updates.filter(endpoint=endpoint)
    if status:
        if status.upper() not in FirmwareUpdate.Status.values:
            names = ", ".join(s.lower() for s in FirmwareUpdate.Status.values)
            raise FieldhubError(f"status must be one of {names}", path="status")
        updates = updates.filter(status=status.upper())
    return updates


def update_get(*, user: Any, pk: int) -> FirmwareUpdate:
    try:
        return update_list(user=user).get(pk=pk)
    except FirmwareUpdate.DoesNotExist:
        raise NotFound(f"no firmware update {pk}", path="update") from None


def campaign_list(*, user: Any) -> QuerySet[Campaign]:
    require(user, Role.VIEWER)
    return Campaign.objects.select_related("firmware").order_by("-created_at")


def campaign_get(*, user: Any, pk: int) -> Campaign:
    try:
        return campaign_list(user=user).get(pk=pk)
    except Campaign.DoesNotExist:
        raise NotFound(f"no campaign {pk}", path="campaign") from None


def campaign_devices(*, user: Any, campaign: Campaign) -> QuerySet[CampaignDevice]:
    require(user, Role.VIEWER)
    return campaign.devices.select_related("endpoint", "update", "update__firmware").order_by("wave", "endpoint__name")
