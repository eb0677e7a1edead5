"""What the firmware pages show, and the live fragments (group ``firmware`` and each device's group)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db.models import Count, Q

from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate
from realtime import LiveEvent, groups, publish, render
from realtime.groups import EventType

Status = FirmwareUpdate.Status
# How far along each status is, for the progress bars (of 4 steps: URI sent, downloaded, updating, done).
STEP = {"QUEUED": 0, "DOWNLOADING": 1, "DOWNLOADED": 2, "UPDATING": 3, "SUCCEEDED": 4, "FAILED": 4, "CANCELLED": 4}


def progress(update: FirmwareUpdate) -> int:
    return 100 * STEP[update.status] // 4


def campaign_summary(campaign: Campaign) -> dict[str, Any]:
    """Counts by outcome and the percentage done, in one query."""
    counts = CampaignDevice.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(update__status=Status.SUCCEEDED)),
        failed=Count("pk", filter=Q(update__status__in=[Status.FAILED, Status.CANCELLED]) | ~Q(skipped="")),
        active=Count("pk", filter=Q(update__status__in=FirmwareUpdate.ACTIVE_STATUSES)),
    )
    done = counts["succeeded"] + counts["failed"]
    counts["waiting"] = counts["total"] - done - counts["active"]
    counts["percent"] = 100 * done // counts["total"] if counts["total"] else 0
    return counts


def render_update_row(update_id: int, *, page: str) -> str:
    update = FirmwareUpdate.objects.select_related("endpoint", "firmware").filter(pk=update_id).first()
    if update is None:
        return ""
    return render(f"firmware/{page}.html#update-row", {"update": update, "oob": True})


def render_campaign(campaign_id: int) -> str:
    campaign = Campaign.objects.select_related("firmware").filter(pk=campaign_id).first()
    if campaign is None:
        return ""
    context = {"campaign": campaign, "summary": campaign_summary(campaign), "oob": True}
    return render("firmware/campaign.html#campaign-head", context) + render(
        "firmware/firmware.html#campaign-row", context
    )


def render_firmware_list() -> str:
    images = Firmware.objects.annotate(used=Count("updates")).order_by("-created_at")
    return render("firmware/firmware.html#images", {"images": images, "oob": True})


def announce_update(update: FirmwareUpdate) -> None:
    """An update changed: its row on the firmware pages, its device page, and its campaign's progress."""
    row = partial(render_update_row, update.pk, page="firmware")
    publish(groups.FIRMWARE, LiveEvent(EventType.FIRMWARE, f"update-{update.pk}", row))
    device_row = partial(render_update_row, update.pk, page="device")
    publish(groups.endpoint(update.endpoint_id), LiveEvent(EventType.FIRMWARE, f"update-{update.pk}", device_row))
    if update.campaign_id:
        announce_campaign_progress(update.campaign_id)


def announce_campaign(campaign: Campaign) -> None:
    announce_campaign_progress(campaign.pk)


def announce_campaign_progress(campaign_id: int) -> None:
    renderer = partial(render_campaign, campaign_id)
    publish(groups.FIRMWARE, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign_id}", renderer))


def announce_firmware_list() -> None:
    publish(groups.FIRMWARE, LiveEvent(EventType.FIRMWARE, "images", render_firmware_list))
