"""Campaigns: a firmware update of many devices in waves, started, paused, resumed, aborted and moved on
(``campaigns_advance``) as their updates finish. A wave starts when the one before it finished with few
enough failures, else the campaign halts and says why; the waves' sizes follow ``waves.wave_sizes``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, FieldhubError
from core.models import Endpoint
from core.permissions import SYSTEM, Principal, author_of, require_on
from core.roles import Role
from firmware import announce, selectors
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate
from firmware.services import updates
from firmware.services.waves import wave_sizes

Status = FirmwareUpdate.Status
LATER_WAVES_NOT_STARTED = "; later waves not started"


@dataclass(frozen=True)
class _Skip:
    """Why a device of a new campaign is in no wave: ``kind`` is current, updating or waiting."""

    kind: str
    reason: str
    campaign: str = ""  # the other campaign, as the refusal names it


def campaign_create(
    *,
    actor: Principal,
    name: str,
    firmware: Firmware,
    endpoints: Sequence[Endpoint],
    waves: Sequence[int],
    unit: str = "percent",
    max_failure_rate: float = 0.1,
) -> Campaign:
    """Plan and start a campaign (operator): ``endpoints`` in waves, ``waves`` as cumulative percentages
    (``[1, 10, 100]``) or device counts per wave (``unit="devices"``: ``[2, 20, 0]``, 0 for the rest); the
    rules are ``waves.wave_sizes``'.

    A device that needs no update, or is taken, is skipped with the reason and planned in no wave: one
    already running the target version, one with an update under way, one waiting in another campaign
    that may still start it (running, paused or halted). The waves are planned over the others, so a
    skipped device never takes a place in the first, small wave. A campaign left with no device to
    update is refused (409), naming why.

    The campaign belongs to the site of its devices (``Campaign.site``; none when they are in several sites
    or in none, which needs the operator role globally): who may see and steer it."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldhubError("a campaign needs a name of at most 100 characters", path="name")
    if not 0 <= max_failure_rate <= 1:
        raise FieldhubError("max_failure_rate is between 0 and 1", path="max_failure_rate")
    devices = sorted({e.pk: e for e in endpoints}.values(), key=lambda e: e.name)
    if not devices:
        raise FieldhubError("the campaign selects no devices", path="endpoints")
    site_id = _campaign_site(actor, devices)
    with transaction.atomic():
        skips = _skips_at_start(devices, firmware)
        todo = [device for device in devices if device.pk not in skips]
        if not todo:
            raise Conflict(_nothing_to_update(len(devices), firmware, skips), path="endpoints")
        sizes = wave_sizes(len(todo), waves, unit)
        campaign = Campaign.objects.create(
            name=name,
            firmware=firmware,
            waves=sizes,
            max_failure_rate=max_failure_rate,
            site_id=site_id,
            created_by=author_of(actor),
        )
        members, start = [], 0
        for wave, size in enumerate(sizes):
            members += [CampaignDevice(campaign=campaign, endpoint=e, wave=wave) for e in todo[start : start + size]]
            start += size
        members += [
            CampaignDevice(campaign=campaign, endpoint=e, wave=None, skipped=skips[e.pk].reason)
            for e in devices
            if e.pk in skips
        ]
        CampaignDevice.objects.bulk_create(members)
        _start_wave(campaign, 0)
        _advance_campaign(campaign)  # a first wave whose devices were all skipped as it started is done now
        announce.campaign_changed(campaign, created=True)
    return campaign


def _under_way(update: FirmwareUpdate) -> str:
    where = f' (campaign "{update.campaign.name}")' if update.campaign is not None else ""
    return f"an update to {update.firmware.version} is under way{where}"


def _skips_at_start(devices: Sequence[Endpoint], firmware: Firmware) -> dict[int, _Skip]:
    ids = [device.pk for device in devices]
    versions = selectors.running_versions(user=SYSTEM, endpoint_ids=ids)
    updating = selectors.updates_under_way(user=SYSTEM, endpoint_ids=ids)
    waiting = selectors.members_waiting(user=SYSTEM, endpoint_ids=ids)
    skips: dict[int, _Skip] = {}
    for pk in ids:
        if versions.get(pk) == firmware.version:
            skips[pk] = _Skip("current", f"already running {firmware.version}")
        elif pk in updating:
            update = updating[pk]
            skips[pk] = _Skip("updating", _under_way(update), f'"{update.campaign.name}"' if update.campaign else "")
        elif pk in waiting:
            other = f'"{waiting[pk].name}" ({waiting[pk].get_status_display()})'
            skips[pk] = _Skip("waiting", f"waiting in campaign {other}", other)
    return skips


def _nothing_to_update(count: int, firmware: Firmware, skips: dict[int, _Skip]) -> str:
    """Why a campaign has no device left to update, e.g. 'none of the 3 devices is left to update: 1 has an
    update under way (campaign "spring"), 2 are waiting in campaign "spring" (running); abort that campaign
    to update them here'."""

    def campaigns(kind: str) -> str:
        names = sorted({skip.campaign for skip in skips.values() if skip.kind == kind and skip.campaign})
        return f"campaign{'s' if len(names) > 1 else ''} {', '.join(names)}" if names else ""

    tally = Counter(skip.kind for skip in skips.values())
    parts = []
    if n := tally["updating"]:
        where = campaigns("updating")
        parts.append(f"{n} {'has' if n == 1 else 'have'} an update under way" + (f" ({where})" if where else ""))
    if n := tally["waiting"]:
        parts.append(f"{n} {'is' if n == 1 else 'are'} waiting in {campaigns('waiting')}")
    if n := tally["current"]:
        parts.append(f"{n} already run{'s' if n == 1 else ''} {firmware.version}")
    text = f"none of the {count} device{'' if count == 1 else 's'} is left to update: {', '.join(parts)}"
    if tally["waiting"]:
        several = len({skip.campaign for skip in skips.values() if skip.kind == "waiting"}) > 1
        text += f"; abort {'those campaigns' if several else 'that campaign'} to update them here"
    return text


def _start_wave(campaign: Campaign, wave: int) -> None:
    """Start the updates of a wave. A device that runs the target version by now, or has an update under way,
    is skipped with the reason (and does not count in the wave's failure rate)."""
    campaign.current_wave = wave
    campaign.save(update_fields=["current_wave", "updated_at"])
    members = list(
        selectors.wave_members(user=SYSTEM, campaign=campaign, wave=wave).filter(update__isnull=True, skipped="")
    )
    ids = [member.endpoint_id for member in members]
    versions = selectors.running_versions(user=SYSTEM, endpoint_ids=ids)
    updating = selectors.updates_under_way(user=SYSTEM, endpoint_ids=ids)
    version = campaign.firmware.version
    for member in members:
        if versions.get(member.endpoint_id) == version:
            member.skipped = f"already running {version}"
        elif member.endpoint_id in updating:
            member.skipped = _under_way(updating[member.endpoint_id])
        else:
            try:
                member.update = updates.firmware_update_start(
                    actor=campaign.created_by, endpoint=member.endpoint, firmware=campaign.firmware, campaign=campaign
                )
            except Conflict:  # an update started since the look above
                other = selectors.updates_under_way(user=SYSTEM, endpoint_ids=[member.endpoint_id]).get(
                    member.endpoint_id
                )
                member.skipped = _under_way(other) if other else "an update was under way"
        member.save(update_fields=["update", "skipped"])


def campaigns_advance(*, campaign_id: int | None = None) -> None:
    """Move running campaigns on: when a wave's updates all finished, halt on too many failures, else start
    the next wave, or complete. Called when a campaign's update finishes, and by the dispatcher's sweep."""
    campaigns = Campaign.objects.filter(status=Campaign.Status.RUNNING)
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    for campaign_pk in campaigns.values_list("pk", flat=True):
        with transaction.atomic():
            running = Campaign.objects.select_for_update().filter(pk=campaign_pk, status=Campaign.Status.RUNNING)
            campaign = running.first()
            if campaign is not None:
                _advance_campaign(campaign)


def _advance_campaign(campaign: Campaign, *, override: bool = False) -> None:
    """Once the current wave's updates are all over: halt if more of the updates it started failed than the
    campaign allows (skipped devices are not failures, and count for nothing), else start the next wave, or
    complete. ``override``: an operator resumed the campaign after the current wave halted it."""
    changed = halted = False
    while True:
        members = list(selectors.wave_members(user=SYSTEM, campaign=campaign, wave=campaign.current_wave))
        started_updates = [member.update for member in members if member.update is not None]
        if any(update.active for update in started_updates):
            break
        changed = True
        started, skipped = len(started_updates), len(members) - len(started_updates)
        failed = sum(1 for update in started_updates if update.status != Status.SUCCEEDED)
        more = campaign.current_wave + 1 < len(campaign.waves)
        if not override and started and failed / started > campaign.max_failure_rate:
            campaign.status = Campaign.Status.HALTED
            campaign.reason = (
                f"wave {campaign.current_wave + 1}: {failed} of {started} device{'' if started == 1 else 's'} failed "
                f"({100 * failed / started:.0f} % > {100 * campaign.max_failure_rate:.0f} % allowed)"
                + (f", {skipped} skipped" if skipped else "")
                + (LATER_WAVES_NOT_STARTED if more else "")
            )
            campaign.finished_at = timezone.now()
            halted = True
            break
        override = False
        if more:
            _start_wave(campaign, campaign.current_wave + 1)
            continue
        _complete(campaign)
        break
    if changed:
        campaign.save()
        announce.campaign_changed(campaign, waiting=halted)


def _complete(campaign: Campaign) -> None:
    counts = selectors.campaign_progress(user=SYSTEM, campaign_id=campaign.pk)
    waves = "the wave is done" if len(campaign.waves) == 1 else f"all {len(campaign.waves)} waves done"
    total = counts["total"]
    reason = f"{waves}: {counts['succeeded']} of {total} device{'' if total == 1 else 's'} updated"
    if counts["skipped"]:
        reason += f", {counts['skipped']} skipped"
    if campaign.reason.startswith("resumed after halt"):
        reason += f"; {campaign.reason}"
    campaign.status, campaign.reason, campaign.finished_at = Campaign.Status.COMPLETED, reason, timezone.now()


def _campaign_site(actor: Principal, devices: Sequence[Endpoint]) -> int | None:
    """The site a campaign over ``devices`` belongs to (none for devices of several sites, or in none), which
    the actor must operate, as each of the devices."""
    site_ids = {device.site_id for device in devices}
    site_id = site_ids.pop() if len(site_ids) == 1 else None
    what = "a campaign over these devices" if site_id is not None else "a campaign over devices of several sites"
    require_on(actor, Role.OPERATOR, site_id, what=what)
    for device in devices:  # each of them, whatever selected them
        require_on(actor, Role.OPERATOR, device.site_id, what=device.name)
    return site_id


def campaign_pause(*, actor: Principal, campaign: Campaign) -> Campaign:
    """Start no further waves (updates under way go on)."""
    return _campaign_set(actor, campaign, Campaign.Status.RUNNING, Campaign.Status.PAUSED, "paused")


def campaign_resume(*, actor: Principal, campaign: Campaign) -> Campaign:
    """Go on with a paused campaign (its next wave starts once the current one is over), or override the halt
    of a halted one (operator): its next wave starts now, and the reason says who resumed it after what, e.g.
    "resumed after halt by otto: wave 1: 3 of 10 devices failed (30 % > 20 % allowed)"."""
    require_on(actor, Role.OPERATOR, campaign.site_id, what="this campaign")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("firmware").get(pk=campaign.pk)
        if campaign.status == Campaign.Status.PAUSED:
            campaign.status, campaign.reason = Campaign.Status.RUNNING, ""
            campaign.save()
            _advance_campaign(campaign)
        elif campaign.status == Campaign.Status.HALTED:
            halt = campaign.reason.removesuffix(LATER_WAVES_NOT_STARTED)
            campaign.status, campaign.finished_at = Campaign.Status.RUNNING, None
            campaign.reason = f"resumed after halt by {actor.get_username()}: {halt}"
            campaign.save()
            _advance_campaign(campaign, override=True)
        else:
            raise Conflict(
                f"the campaign is {campaign.get_status_display()}: only a paused or halted one can be resumed"
            )
        announce.campaign_changed(campaign, waiting=True)
    return campaign


def campaign_abort(*, actor: Principal, campaign: Campaign) -> Campaign:
    """End the campaign: its updates under way are cancelled, later waves never start."""
    require_on(actor, Role.OPERATOR, campaign.site_id, what="this campaign")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.ABORTED):
            raise Conflict(f"the campaign is {campaign.status.lower()} already")
        campaign.status, campaign.reason, campaign.finished_at = Campaign.Status.ABORTED, "aborted", timezone.now()
        campaign.save()
        for update in selectors.update_list(user=SYSTEM).filter(
            campaign=campaign, status__in=FirmwareUpdate.ACTIVE_STATUSES
        ):
            updates.firmware_update_cancel(actor=SYSTEM, update=update)  # the campaign's: checked above
        announce.campaign_changed(campaign, waiting=True)
    return campaign


def _campaign_set(actor: Principal, campaign: Campaign, expected: str, status: str, reason: str) -> Campaign:
    require_on(actor, Role.OPERATOR, campaign.site_id, what="this campaign")
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=expected).update(
            status=status, reason=reason, updated_at=timezone.now()
        )
        campaign.refresh_from_db()
        if not updated:
            raise Conflict(f"the campaign is {campaign.status.lower()}: it must be {expected.lower()}")
        announce.campaign_changed(campaign, waiting=True)
    return campaign
