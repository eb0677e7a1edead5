"""Reads of the firmware app; every one takes the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.permissions import require
from core.roles import Role
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate

Status = FirmwareUpdate.Status


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


def with_progress(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Campaigns with their devices counted by outcome, in the same query (see ``progress``)."""
    return campaigns.annotate(
        n_total=Count("devices"),
        n_succeeded=Count("devices", filter=Q(devices__update__status=Status.SUCCEEDED)),
        n_failed=Count("devices", filter=Q(devices__update__status__in=[Status.FAILED, Status.CANCELLED])),
        n_active=Count("devices", filter=Q(devices__update__status__in=FirmwareUpdate.ACTIVE_STATUSES)),
        n_skipped=Count("devices", filter=Q(devices__update__isnull=True, devices__skipped__gt="")),
    )


def progress(campaign: Campaign) -> dict[str, int]:
    """A campaign's devices by outcome: total, succeeded, failed (cancelled ones too), skipped (no update
    started: why is on each device), active, waiting (not started yet, or never: after a halt or an abort),
    and the percent done (succeeded, failed or skipped). Read from ``with_progress``'s counts; a campaign
    without them is counted with one query."""
    if not hasattr(campaign, "n_total"):
        campaign = with_progress(Campaign.objects.filter(pk=campaign.pk)).get()
    counts = {
        "total": campaign.n_total,
        "succeeded": campaign.n_succeeded,
        "failed": campaign.n_failed,
        "skipped": campaign.n_skipped,
        "active": campaign.n_active,
    }
    done = counts["succeeded"] + counts["failed"] + counts["skipped"]
    counts["waiting"] = counts["total"] - done - counts["active"]
    counts["percent"] = 100 * done // counts["total"] if counts["total"] else 0
    return counts


def campaign_list(*, user: Any) -> QuerySet[Campaign]:
    """Campaigns newest first, each with its progress counted in the same query (``progress``)."""
    require(user, Role.VIEWER)
    return with_progress(Campaign.objects.select_related("firmware")).order_by("-created_at")


def campaign_get(*, user: Any, pk: int) -> Campaign:
    try:
        return campaign_list(user=user).get(pk=pk)
    except Campaign.DoesNotExist:
        raise NotFound(f"no campaign {pk}", path="campaign") from None


def campaign_devices(*, user: Any, campaign: Campaign) -> QuerySet[CampaignDevice]:
    """A campaign's devices wave by wave, then those skipped when it was made (in no wave)."""
    require(user, Role.VIEWER)
    return campaign.devices.select_related("endpoint", "update", "update__firmware").order_by(
        F("wave").asc(nulls_last=True), "endpoint__name"
    )
