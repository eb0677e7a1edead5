from __future__ import annotations

from django import template

from firmware import presenters, selectors
from firmware.models import FirmwareUpdate
from telemetry.models import Rollout, RolloutDevice
from telemetry.rollouts import presenters as rollouts_presenters

register = template.Library()

# A device of a campaign that has no update: what the campaign's state means for it.
NOT_STARTED: dict[str, tuple[str, str, str]] = {
    Rollout.Status.HALTED: ("not-started", "not started", "campaign halted"),
    Rollout.Status.ABORTED: ("not-started", "not started", "campaign aborted"),
    Rollout.Status.COMPLETED: ("not-started", "not started", ""),
    Rollout.Status.PAUSED: ("waiting", "waiting", "campaign paused"),
}


@register.filter
def progress_of(status: str) -> int:
    """Percent of an update's way done, from its status."""
    return presenters.update_percent(status)


@register.simple_tag
def member_outcome(member: RolloutDevice, campaign: Rollout) -> dict[str, str]:
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
def campaign_stage(campaign: Rollout) -> str:
    """Where a campaign is in its waves, as a phrase (a rollout's: "wave 2 of 3 under way")."""
    return rollouts_presenters.stage(campaign)


@register.filter
def device_count(number: int) -> str:
    return f"{number} device{'' if number == 1 else 's'}"


@register.filter
def campaign_progress(campaign: Rollout) -> dict[str, int]:
    """A campaign's devices by outcome (``selectors.progress``: from its counts, when it was read with them)."""
    return selectors.progress(campaign)
