"""What the firmware pages show, and the live fragments (group ``firmware`` and each device's group)."""

from __future__ import annotations

from functools import partial

from django.db.models import Count

from firmware import selectors
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate
from realtime import LiveEvent, groups, publish, render
from realtime.groups import EventType

Status = FirmwareUpdate.Status
# How far along each status is, for the progress bars (of 4 steps: URI sent, downloaded, updating, done).
STEP = {"QUEUED": 0, "DOWNLOADING": 1, "DOWNLOADED": 2, "UPDATING": 3, "SUCCEEDED": 4, "FAILED": 4, "CANCELLED": 4}
MEMBER_RELATED = ("endpoint", "update", "update__firmware", "campaign", "campaign__firmware")


def progress(update: FirmwareUpdate) -> int:
    return 100 * STEP[update.status] // 4


def render_update_row(update_id: int, *, page: str) -> str:
    update = FirmwareUpdate.objects.select_related("endpoint", "firmware").filter(pk=update_id).first()
    if update is None:
        return ""
    return render(f"firmware/{page}.html#update-row", {"update": update, "oob": True})


def render_campaign(campaign_id: int) -> str:
    """A campaign's head on its page, and its row in the firmware page's list (one query)."""
    campaign = selectors.with_progress(Campaign.objects.select_related("firmware").filter(pk=campaign_id)).first()
    if campaign is None:
        return ""
    context = {"campaign": campaign, "oob": True}
    return render("firmware/campaign.html#campaign-head", context) + render(
        "firmware/firmware.html#campaign-row", context
    )


def render_members(campaign_id: int, *, update_id: int | None = None) -> str:
    """Rows of a campaign's page: the device whose update this is, or every device not started yet (waiting
    for its wave, or not started because the campaign halted or was aborted)."""
    members = CampaignDevice.objects.select_related(*MEMBER_RELATED).filter(campaign_id=campaign_id)
    if update_id is not None:
        members = members.filter(update_id=update_id)
    else:
        members = members.filter(update__isnull=True, skipped="")
    return "".join(
        render("firmware/campaign.html#member-row", {"member": m, "campaign": m.campaign, "oob": True}) for m in members
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
        member = partial(render_members, update.campaign_id, update_id=update.pk)
        publish(groups.FIRMWARE, LiveEvent(EventType.CAMPAIGN, f"campaign-update-{update.pk}", member))
        announce_campaign_progress(update.campaign_id)


def announce_campaign(campaign: Campaign, *, waiting: bool = False) -> None:
    """A campaign changed (made, a wave started, completed): its head and list row. ``waiting``: its status
    changed (halted, paused, resumed, aborted), so the rows of its devices not started yet, whose words say
    it ("not started: campaign halted"), go too (once per change: a large campaign's are many)."""
    announce_campaign_progress(campaign.pk)
    if waiting:
        rows = partial(render_members, campaign.pk)
        publish(groups.FIRMWARE, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign.pk}-waiting", rows))


def announce_campaign_progress(campaign_id: int) -> None:
    renderer = partial(render_campaign, campaign_id)
    publish(groups.FIRMWARE, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign_id}", renderer))


def announce_firmware_list() -> None:
    publish(groups.FIRMWARE, LiveEvent(EventType.FIRMWARE, "images", render_firmware_list))
