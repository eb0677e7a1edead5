"""Firmware updates as one kind of rollout (``telemetry.rollouts.kinds``): telemetry's wave engine runs a
firmware rollout (a "campaign") as it runs a command's, and asks this kind for what only firmware knows:
which devices need no update when it is made (``plan``: already on that version, an update under way,
waiting in another firmware rollout that may still start it), how a wave's members start (``start``: a
``FirmwareUpdate`` each, with the same skips as they start), what an update's status means for its member
(``STATUSES``: the object 5 phases), and what an abort stops (``abort``: the updates under way).

A firmware rollout's id is "fw-<number>" (``Rollout.number``); its pages and API are the campaign's
(``/firmware/campaigns/<number>/``, ``/api/v1/campaigns/<number>``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from core.errors import Conflict, FieldhubError
from core.models import Endpoint
from core.permissions import SYSTEM, Principal
from firmware import announce, selectors
from firmware.models import Firmware, FirmwareUpdate
from firmware.services import updates
from telemetry.models import Rollout, RolloutDevice
from telemetry.rollouts.kinds import Kind
from telemetry.rollouts.selectors import Device

PREFIX = "fw"
Status = FirmwareUpdate.Status
STATUSES: dict[str, tuple[str, ...]] = {
    "queued": (Status.QUEUED,),
    "sent": (Status.DOWNLOADING, Status.DOWNLOADED, Status.UPDATING),
    "confirmed": (Status.SUCCEEDED,),
    "failed": (Status.FAILED,),
    "cancelled": (Status.CANCELLED,),
}


@dataclass(frozen=True)
class _Skip:
    """Why a device of a new campaign is in no wave: ``kind`` is current, updating or waiting."""

    kind: str
    reason: str
    campaign: str = ""  # the other campaign, as the refusal names it


def target(actor: Principal, given: dict[str, Any]) -> dict[str, Any]:
    """The image a firmware rollout installs: ``firmware`` is its version (text) or its id (a number)."""
    value = given.get("firmware")
    if isinstance(value, str):
        value = value.strip()
    if value in (None, "") or isinstance(value, bool):
        raise FieldhubError("a firmware rollout needs the image: its version, or its id", path="firmware")
    if isinstance(value, int):
        image = selectors.firmware_find(user=actor, pk=value)
    else:
        image = selectors.firmware_list(user=actor).filter(version=str(value)).first()
    if image is None:
        raise FieldhubError(f"no firmware {str(value)[:64]!r}", path="firmware")
    return {"firmware_id": image.pk}


def plan(fields: dict[str, Any], devices: Sequence[Device]) -> dict[int, str]:
    """The devices of a new firmware rollout that need no update now, with why; a Conflict (409) naming
    why when none is left to update."""
    firmware = Firmware.objects.get(pk=fields["firmware_id"])
    skips = _skips_at_start([device.pk for device in devices], firmware)
    if devices and len(skips) == len(devices):
        raise Conflict(_nothing_to_update(len(devices), firmware, skips), path="endpoints")
    return {pk: skip.reason for pk, skip in skips.items()}


def _under_way(update: FirmwareUpdate) -> str:
    member = getattr(update, "rollout_device", None)
    where = f' (campaign "{member.rollout.name}")' if member is not None else ""
    return f"an update to {update.firmware.version} is under way{where}"


def _skips_at_start(ids: list[int], firmware: Firmware) -> dict[int, _Skip]:
    versions = selectors.running_versions(user=SYSTEM, endpoint_ids=ids)
    updating = selectors.updates_under_way(user=SYSTEM, endpoint_ids=ids)
    waiting = selectors.members_waiting(user=SYSTEM, endpoint_ids=ids)
    skips: dict[int, _Skip] = {}
    for pk in ids:
        if versions.get(pk) == firmware.version:
            skips[pk] = _Skip("current", f"already running {firmware.version}")
        elif pk in updating:
            update = updating[pk]
            member = getattr(update, "rollout_device", None)
            skips[pk] = _Skip("updating", _under_way(update), f'"{member.rollout.name}"' if member else "")
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


def start(rollout: Rollout, members: Sequence[tuple[int, int]]) -> None:
    """Start the updates of a wave's members, at once (``updates.firmware_updates_start_wave``). A device
    that runs the target version by now, or has an update under way, is skipped with the reason (and does
    not count in the wave's failure rate)."""
    ids = [endpoint_id for _, endpoint_id in members]
    versions = selectors.running_versions(user=SYSTEM, endpoint_ids=ids)
    updating = selectors.updates_under_way(user=SYSTEM, endpoint_ids=ids)
    endpoints = Endpoint.objects.in_bulk(ids)
    firmware = rollout.firmware
    assert firmware is not None  # a firmware rollout's
    skipped: dict[int, str] = {}
    todo: list[tuple[int, Endpoint]] = []
    for member_id, endpoint_id in members:
        if versions.get(endpoint_id) == firmware.version:
            skipped[member_id] = f"already running {firmware.version}"
        elif endpoint_id in updating:
            skipped[member_id] = _under_way(updating[endpoint_id])
        else:
            todo.append((member_id, endpoints[endpoint_id]))
    try:
        with transaction.atomic():
            updates.firmware_updates_start_wave(
                author=rollout.created_by, firmware=firmware, rollout_id=rollout.pk, members=todo
            )
    except IntegrityError:  # an update started since the look above: one by one, that one skipped
        for member_id, endpoint in todo:
            try:
                updates.firmware_update_start(
                    actor=rollout.created_by, endpoint=endpoint, firmware=firmware, member=(rollout.pk, member_id)
                )
            except Conflict:
                other = selectors.updates_under_way(user=SYSTEM, endpoint_ids=[endpoint.pk]).get(endpoint.pk)
                skipped[member_id] = _under_way(other) if other else "an update was under way"
    for reason in set(skipped.values()):
        RolloutDevice.objects.filter(pk__in=[m for m, why in skipped.items() if why == reason]).update(skipped=reason)


def abort(rollout: Rollout) -> str:
    """Cancel the rollout's updates under way (the engine checked who asks)."""
    active = selectors.update_list(user=SYSTEM).filter(
        rollout_device__rollout=rollout, status__in=FirmwareUpdate.ACTIVE_STATUSES
    )
    cancelled = 0
    for update in active:
        updates.firmware_update_cancel(actor=SYSTEM, update=update)
        cancelled += 1
    return f"{cancelled} update{'' if cancelled == 1 else 's'} under way cancelled"


def describe(rollout: Rollout) -> str:
    return f"firmware {rollout.firmware.version if rollout.firmware else '?'}"


KIND = Kind(
    name=Rollout.FIRMWARE,
    label="firmware",
    prefix=PREFIX,
    noun="campaign",
    done="updated",
    statuses={key: tuple(str(v) for v in values) for key, values in STATUSES.items()},
    target=target,
    plan=plan,
    start=start,
    abort=abort,
    describe=describe,
    url=lambda rollout: f"/firmware/campaigns/{rollout.number}/",
    api_url=lambda rollout: f"/api/v1/campaigns/{rollout.number}",
    changed=lambda rollout_id, created, steered: announce.campaign_changed(
        rollout_id, created=created, waiting=steered
    ),
    site_only=True,
)
