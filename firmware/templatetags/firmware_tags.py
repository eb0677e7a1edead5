from __future__ import annotations

from django import template

from firmware import presenters, selectors
from firmware.models import Campaign, CampaignDevice, FirmwareUpdate

register = template.Library()

# A device of a campaign that has no update: what the campaign's state means for it.
NOT_STARTED: dict[str, tuple[str, str, str]] = {
    Campaign.Status.HALTED: ("not-started", "not started", "campaign halted"),
    Campaign.Status.ABORTED: ("not-started", "not started", "campaign aborted"),
    Campaign.Status.COMPLETED: ("not-started", "not started", ""),
    Campaign.Status.PAUSED: ("waiting", "waiting", "campaign paused"),
}


@register.filter
def progress_of(status: str) -> int:
    """Percent of an update's way done, from its status."""
    return presenters.update_percent(status)


@register.simple_tag
def member_outcome(member: CampaignDevice, campaign: Campaign) -> dict[str, str]:
    """How a campaign's device is doing, as a kind (its colour: succeeded, failed, cancelled, active,
    skipped, waiting, not-started), a word and what follows it: "failed: integrity check failure…",
    "skipped: already running 1.1.0", "not started: campaign halted"."""
    update: FirmwareUpdate | None = member.update
    if update is not None:
        if update.status in (
            FirmwareUpdate.Status.SUCCEEDED,
            FirmwareUpdate.Status.FAILED,
            FirmwareUpdate.Status.CANCELLED,
        ):
            return {"kind": update.status.lower(), "word": update.get_status_display(), "detail": update.error}
        device = f"device: {update.get_state_display()}" if update.state is not None else ""
        return {"kind": "active", "word": update.get_status_display(), "detail": device}
    if member.skipped:
        return {"kind": "skipped", "word": "skipped", "detail": member.skipped}
    if campaign.status in NOT_STARTED:
        kind, word, detail = NOT_STARTED[campaign.status]
        return {"kind": kind, "word": word, "detail": detail}
    return {"kind": "waiting", "word": f"waiting for wave {(member.wave or 0) + 1}", "detail": ""}


@register.filter
def campaign_stage(campaign: Campaign) -> str:
    """Where a campaign is in its waves, as a phrase: "wave 2 of 3 under way", "halted after wave 1"."""
    wave, waves = campaign.current_wave + 1, len(campaign.waves)
    of = f" of {waves}" if waves > 1 else ""
    stages: dict[str, str] = {
        Campaign.Status.RUNNING: f"wave {wave}{of} under way",
        Campaign.Status.PAUSED: f"paused in wave {wave}{of}: no further wave starts",
        Campaign.Status.HALTED: f"halted after wave {wave}{of}",
        Campaign.Status.COMPLETED: "every wave done" if waves > 1 else "done",
        Campaign.Status.ABORTED: f"aborted in wave {wave}{of}",
    }
    return stages.get(campaign.status, "")


@register.filter
def device_count(number: int) -> str:
    return f"{number} device{'' if number == 1 else 's'}"


@register.filter
def campaign_progress(campaign: Campaign) -> dict[str, int]:
    """A campaign's devices by outcome (``selectors.progress``: from its counts, when it was read with them)."""
    return selectors.progress(campaign)
