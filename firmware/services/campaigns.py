"""Campaigns: a firmware update of many devices in waves, which is a rollout of kind FIRMWARE
(``telemetry.rollouts``: its one wave engine starts, halts, pauses, resumes, aborts and moves them on;
``firmware.rollouts`` is what it asks the firmware app). What is left here is the campaign's own way in,
for its form and its API: devices given one by one, and the campaign's rule for who may start one."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import FieldhubError
from core.models import Endpoint
from core.permissions import Principal, require_on
from core.roles import Role
from firmware.models import Firmware
from telemetry.models import Rollout
from telemetry.rollouts import services as rollouts
from telemetry.rollouts.selectors import Device


def campaign_create(
    *,
    actor: Principal,
    name: str,
    firmware: Firmware,
    endpoints: Sequence[Endpoint],
    waves: Sequence[int],
    unit: str = "percent",
    max_failure_rate: float = 0.1,
) -> Rollout:
    """Plan and start a campaign (operator): a firmware rollout of ``endpoints`` in waves, ``waves`` as
    cumulative percentages (``[1, 10, 100]``) or device counts per wave (``unit="devices"``: ``[2, 20,
    0]``, 0 for the rest); the rules are ``core.waves.wave_sizes``'.

    A device that needs no update, or is taken, is skipped with the reason and planned in no wave
    (``firmware.rollouts.plan``); a campaign left with no device to update is refused (409), naming why.
    Devices of several sites (or of none) need the operator role globally."""
    devices = sorted({e.pk: e for e in endpoints}.values(), key=lambda e: e.name)
    if not devices:
        raise FieldhubError("the campaign selects no devices", path="endpoints")
    _require_operator(actor, devices)
    return rollouts.rollout_start(
        actor=actor,
        name=name,
        fields={"kind": Rollout.FIRMWARE, "firmware_id": firmware.pk},
        devices=[Device(e.pk, e.name, e.site_id, e.online, e.sleeping) for e in devices],
        selection={"endpoints": len(devices)},
        waves=waves,
        unit=unit,
        max_failure_rate=max_failure_rate,
    )


def _require_operator(actor: Principal, devices: Sequence[Endpoint]) -> None:
    """A campaign over ``devices`` needs the operator role on their one site (globally when they are of
    several sites, or in none), as on each of the devices."""
    site_ids = {device.site_id for device in devices}
    site_id = site_ids.pop() if len(site_ids) == 1 else None
    what = "a campaign over these devices" if site_id is not None else "a campaign over devices of several sites"
    require_on(actor, Role.OPERATOR, site_id, what=what)
    for device in devices:  # each of them, whatever selected them
        require_on(actor, Role.OPERATOR, device.site_id, what=device.name)


# Steering a campaign is steering its rollout: the rules are telemetry.rollouts.services', once.


def campaign_pause(*, actor: Principal, campaign: Rollout) -> Rollout:
    return rollouts.rollout_pause(actor=actor, rollout=campaign)


def campaign_resume(*, actor: Principal, campaign: Rollout) -> Rollout:
    return rollouts.rollout_resume(actor=actor, rollout=campaign)


def campaign_abort(*, actor: Principal, campaign: Rollout) -> Rollout:
    return rollouts.rollout_abort(actor=actor, rollout=campaign)
