"""What the firmware pages show: the contexts their templates render, read through ``firmware.selectors``
(and telemetry's, for a device). The live fragments (``firmware.partials``) render named partials of the
same templates with the same objects, so a page after a push looks like the page after a reload."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.models import Endpoint
from core.permissions import Principal
from firmware import selectors
from firmware.models import FirmwareUpdate
from telemetry.models import Rollout
from telemetry.rollouts import selectors as rollouts_selectors

Status = FirmwareUpdate.Status

UPDATES_SHOWN = 100  # on the firmware page
CAMPAIGNS_SHOWN = 50  # on the firmware page
DEVICE_UPDATES_SHOWN = 20  # in a device's firmware section
# How far along each status is, for the progress bars (of 4 steps: URI sent, downloaded, updating, done).
STEP: dict[str, int] = {
    Status.QUEUED: 0,
    Status.DOWNLOADING: 1,
    Status.DOWNLOADED: 2,
    Status.UPDATING: 3,
    Status.SUCCEEDED: 4,
    Status.FAILED: 4,
    Status.CANCELLED: 4,
}
STEPS = 4


def update_percent(status: str) -> int:
    """Percent of an update's way done, from its status."""
    return 100 * STEP.get(status, 0) // STEPS


def firmware_page(*, user: Principal) -> dict[str, Any]:
    """The firmware page: images (the upload form for admins), the newest updates, the newest campaigns with
    their progress (counted in the same query)."""
    return {
        "nav": "firmware",
        "max_bytes": settings.FIRMWARE_MAX_BYTES,
        "images": selectors.firmware_list(user=user),
        "updates": selectors.update_list(user=user)[:UPDATES_SHOWN],
        "campaigns": selectors.campaign_list(user=user)[:CAMPAIGNS_SHOWN],
    }


def device_section(*, user: Principal, endpoint: Endpoint) -> dict[str, Any]:
    """A device page's firmware section: the images to update it to, and its newest updates."""
    return {
        "endpoint": endpoint,
        "images": selectors.firmware_list(user=user),
        "updates": selectors.update_list(user=user, endpoint=endpoint)[:DEVICE_UPDATES_SHOWN],
    }


def campaign_page(*, user: Principal, pk: int) -> dict[str, Any]:
    """A campaign's page: its head (with its progress) and its devices wave by wave."""
    campaign = selectors.campaign_get(user=user, pk=pk)
    return {
        "nav": "firmware",
        "campaign": campaign,
        "members": selectors.campaign_devices(user=user, campaign=campaign),
        "can_operate": rollouts_selectors.may_steer(user=user, rollout=campaign),  # its controls (base.html)
    }


def campaign_form(*, user: Principal, form: Any = None) -> dict[str, Any]:
    """The New campaign form: the images to choose from, and what was typed (after a refusal)."""
    return {"nav": "firmware", "images": selectors.firmware_list(user=user), "form": form if form is not None else {}}


def campaign_started(campaign: Rollout) -> str:
    """What a new campaign's page says of it, e.g. "Campaign “spring” started: 10 devices in 3 waves."."""
    counts = selectors.progress(campaign)
    waves = len(campaign.waves)
    text = f"Campaign “{campaign.name}” started: {sum(campaign.waves)} device{'' if sum(campaign.waves) == 1 else 's'}"
    text += f" in {waves} wave{'' if waves == 1 else 's'}"
    if counts["skipped"]:
        text += f"; {counts['skipped']} device{'' if counts['skipped'] == 1 else 's'} skipped (why is below)"
    return text + "."
