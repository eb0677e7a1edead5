"""Writes of the firmware app: images, the object 5 state machine of each update, and campaigns.

An update of one device (``firmware_update_start``) queues a write of the Package URI (5/0/1) through the
downlink queue. From then on the device drives it, through what it reports (``firmware_reported``, called
by the ingest inside its transaction):

    QUEUED ─ 5/0/3 = 1 ─▶ DOWNLOADING ─ 5/0/3 = 2 ─▶ DOWNLOADED (execute 5/0/2 queued) ─ 5/0/3 = 3 ─▶ UPDATING
    UPDATING ─ registers again, 3/0/3 = target version ─▶ SUCCEEDED
    UPDATING ─ registers again, 3/0/3 ≠ target ─▶ FAILED (with the reported 5/0/5, else "firmware update failed")
    any active ─ 5/0/5 in 2..9 ─▶ FAILED with that result;  5/0/5 = 10 ─▶ CANCELLED
    any active ─ no progress for FIRMWARE_PHASE_TIMEOUT ─▶ FAILED ("timed out while downloading")

Reports may come late, twice or out of order (a result before its state, DOWNLOADED twice, a state
going back): a state never moves an update backwards, the execute is queued once, and a finished update
ignores what comes after. Campaigns start updates wave by wave (``campaigns_advance``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, FieldhubError, NotFound
from core.lwm2m.nodes import Reading
from core.models import Endpoint
from core.permissions import SYSTEM, require
from core.roles import Role
from firmware import fragments
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate
from telemetry import announce as telemetry_announce
from telemetry.downlink import queue as telemetry_queue
from telemetry.models import EndpointOperation, LatestValue

logger = logging.getLogger(__name__)

Status = FirmwareUpdate.Status
State = FirmwareUpdate.State
Result = FirmwareUpdate.Result

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}")
# The order of progress: a report never moves an update back in it.
PROGRESS = {Status.QUEUED: 0, Status.DOWNLOADING: 1, Status.DOWNLOADED: 2, Status.UPDATING: 3}
FAILURE_RESULTS = frozenset(range(Result.NOT_ENOUGH_FLASH, Result.UNSUPPORTED_PROTOCOL + 1))


# --- images -------------------------------------------------------------------------------------------


def firmware_upload(*, actor: Any, version: str, upload: UploadedFile) -> Firmware:
    """Store an image under MEDIA_ROOT with its size and SHA-256 (admin)."""
    require(actor, Role.ADMIN)
    version = (version or "").strip()
    if not VERSION_RE.fullmatch(version):
        raise FieldhubError(
            "a version is 1 to 64 letters, digits and . _ + ~ - (starting with a letter or digit)", path="version"
        )
    if upload is None or not upload.size:
        raise FieldhubError("the firmware file is empty", path="file")
    if upload.size > settings.FIRMWARE_MAX_BYTES:
        raise FieldhubError(
            f"the file has {upload.size} bytes; the limit is {settings.FIRMWARE_MAX_BYTES}", path="file", status=413
        )
    if Firmware.objects.filter(version=version).exists():
        raise Conflict(f"firmware {version} exists already", path="version")
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", upload.name or "firmware.bin").strip("._") or "firmware.bin"
    try:
        with transaction.atomic():
            firmware = Firmware(
                version=version,
                filename=filename[:255],
                size=upload.size,
                sha256=digest.hexdigest(),
                created_by=actor,
            )
            firmware.file.save(f"{digest.hexdigest()[:16]}-{filename}"[:200], upload, save=False)
            firmware.save()
    except IntegrityError:
        raise Conflict(f"firmware {version} exists already", path="version") from None
    fragments.announce_firmware_list()
    return firmware


def firmware_delete(*, actor: Any, firmware: Firmware) -> None:
    """Delete an image no update or campaign refers to (admin); its file goes too."""
    require(actor, Role.ADMIN)
    if firmware.updates.exists() or firmware.campaigns.exists():
        raise Conflict(f"firmware {firmware.version} is used by updates or campaigns and stays", path="firmware")
    stored = firmware.file.name
    with transaction.atomic():
        firmware.delete()
        transaction.on_commit(lambda: firmware.file.storage.delete(stored))
    fragments.announce_firmware_list()


def package_uri(firmware: Firmware) -> str:
    """What a device downloads the image from (5/0/1): FIRMWARE_BASE_URL, or the path alone."""
    path = reverse("firmware_package", args=[firmware.download_token, firmware.filename])
    return f"{settings.FIRMWARE_BASE_URL}{path}"


# --- one device's update --------------------------------------------------------------------------------


def firmware_update_start(
    *, actor: Any, endpoint: Endpoint, firmware: Firmware, campaign: Campaign | None = None
) -> FirmwareUpdate:
    """Start updating a device (operator): the update, and the Package URI write queued for it. A device with
    an active update gets a 409 (the database enforces one active update per device)."""
    if campaign is None:
        require(actor, Role.OPERATOR)
    now = timezone.now()
    try:
        with transaction.atomic():
            update = FirmwareUpdate.objects.create(
                endpoint=endpoint,
                firmware=firmware,
                campaign=campaign,
                created_by=actor,
                phase_started_at=now,
            )
            update.uri_operation = _queue(endpoint, "WRITE", "/5/0/1", value=package_uri(firmware))
            update.save(update_fields=["uri_operation"])
            fragments.announce_update(update)
    except IntegrityError:
        raise Conflict(f"{endpoint.name} has an update under way already", path="endpoint") from None
    return update


def _queue(endpoint: Endpoint, kind: str, path: str, **kwargs: Any) -> EndpointOperation:
    return telemetry_queue.operation_enqueue(actor=SYSTEM, endpoint=endpoint, kind=kind, path=path, **kwargs)


def firmware_update_cancel(*, actor: Any, update: FirmwareUpdate) -> FirmwareUpdate:
    """Cancel an active update (operator): what is still queued for it is cancelled, and a device that got
    the URI is told to reset its state machine (an empty Package URI, as object 5 specifies)."""
    require(actor, Role.OPERATOR)
    with transaction.atomic():
        update = FirmwareUpdate.objects.select_for_update().select_related("endpoint").get(pk=update.pk)
        if not update.active:
            raise Conflict(f"the update is {update.status.lower()}: only an active one can be cancelled")
        sent = False
        for operation in (update.uri_operation, update.execute_operation):
            if operation is None:
                continue
            if operation.status == EndpointOperation.Status.QUEUED:
                EndpointOperation.objects.filter(pk=operation.pk, status="QUEUED").update(
                    status="CANCELLED", completed_at=timezone.now(), updated_at=timezone.now()
                )
                telemetry_announce.operation_changed(operation)  # its row no longer offers Cancel
            else:
                sent = True
        if sent:
            update.cancel_operation = _queue(update.endpoint, "WRITE", "/5/0/1", value="")
        _finish(update, Status.CANCELLED, error="cancelled by an operator")
    campaigns_advance(campaign_id=update.campaign_id)
    return update


def firmware_reported(endpoint_id: int, readings: Sequence[Reading]) -> None:
    """The ingest's firmware listener: what a device reported of its firmware moves its active update."""
    update = (
        FirmwareUpdate.objects.select_for_update()
        .select_related("firmware", "endpoint")
        .filter(endpoint_id=endpoint_id, status__in=FirmwareUpdate.ACTIVE_STATUSES)
        .first()
    )
    if update is None:
        return
    before = (update.status, update.state, update.result, update.rebooted)
    for reading in readings:
        _apply(update, reading)
        if not update.active:
            break
    if (update.status, update.state, update.result, update.rebooted) != before and update.active:
        update.save()
        fragments.announce_update(update)
    if not update.active and update.campaign_id:
        transaction.on_commit(lambda: campaigns_advance(campaign_id=update.campaign_id))


def _apply(update: FirmwareUpdate, reading: Reading) -> None:
    path = reading.path
    key = (path.object_id, path.resource_id)
    if key == (10240, 0):  # registered again: rebooted
        if update.status == Status.UPDATING:
            update.rebooted = True
    elif key == (5, 3) and isinstance(reading.value, int) and reading.value in State.values:
        _apply_state(update, State(reading.value))
    elif key == (5, 5) and isinstance(reading.value, int) and reading.value in Result.values:
        _apply_result(update, Result(reading.value))
    elif key == (3, 3) and isinstance(reading.value, str):
        _apply_version(update, reading.value)


def _advance(update: FirmwareUpdate, status: str) -> None:
    if PROGRESS.get(status, -1) > PROGRESS[update.status]:
        update.status = status
        update.phase_started_at = timezone.now()


def _apply_state(update: FirmwareUpdate, state: State) -> None:
    update.state = state
    if state == State.DOWNLOADING:
        _advance(update, Status.DOWNLOADING)
    elif state == State.DOWNLOADED:
        _advance(update, Status.DOWNLOADED)
        if update.status == Status.DOWNLOADED and update.execute_operation_id is None:
            update.execute_operation = _queue(update.endpoint, "EXECUTE", "/5/0/2")
    elif state == State.UPDATING:
        _advance(update, Status.UPDATING)
    elif (
        state == State.IDLE
        and update.status in (Status.DOWNLOADING, Status.DOWNLOADED)
        and update.result in FAILURE_RESULTS
    ):
        _finish(update, Status.FAILED, result=update.result)  # back to idle after a failure: the result says why


def _apply_result(update: FirmwareUpdate, result: Result) -> None:
    update.result = result
    if result in FAILURE_RESULTS:
        _finish(update, Status.FAILED, result=result)
    elif result == Result.CANCELLED:
        _finish(update, Status.CANCELLED, error="the device cancelled the update")
    # SUCCESS alone decides nothing: the new Firmware Version (3/0/3) does.


def _apply_version(update: FirmwareUpdate, version: str) -> None:
    if version == update.firmware.version and update.status in (Status.UPDATING, Status.DOWNLOADED):
        _finish(update, Status.SUCCEEDED, result=Result.SUCCESS)
    elif update.status == Status.UPDATING and update.rebooted:
        result = update.result if update.result in FAILURE_RESULTS else Result.UPDATE_FAILED
        _finish(update, Status.FAILED, result=result, error=f"the device runs {version} after the update")


def _finish(update: FirmwareUpdate, status: str, *, result: int | None = None, error: str = "") -> None:
    update.status = status
    if result is not None:
        update.result = result
    if status == Status.FAILED and not error and update.result is not None:
        error = Result(update.result).label
    update.error = error
    update.finished_at = update.phase_started_at = timezone.now()
    update.save()
    fragments.announce_update(update)


def firmware_updates_expire() -> int:
    """Fail the active updates that made no progress for FIRMWARE_PHASE_TIMEOUT (the dispatcher's sweep)."""
    limit = timezone.now() - dt.timedelta(seconds=settings.FIRMWARE_PHASE_TIMEOUT)
    expired = 0
    campaigns = set()
    with transaction.atomic():
        stale = FirmwareUpdate.objects.select_for_update(skip_locked=True).filter(
            status__in=FirmwareUpdate.ACTIVE_STATUSES, phase_started_at__lt=limit
        )
        for update in stale:
            phase = update.get_status_display()
            seconds = settings.FIRMWARE_PHASE_TIMEOUT
            _finish(update, Status.FAILED, error=f"timed out: no progress while {phase} for {seconds} s")
            expired += 1
            if update.campaign_id:
                campaigns.add(update.campaign_id)
    for campaign_id in campaigns:
        campaigns_advance(campaign_id=campaign_id)
    return expired


def updating_count() -> int:
    """Devices with an update under way (the dashboard's "updating")."""
    return FirmwareUpdate.objects.filter(status__in=FirmwareUpdate.ACTIVE_STATUSES).count()


# --- campaigns --------------------------------------------------------------------------------------------

# A campaign that may still start updates: the devices waiting in it are not free for another campaign.
CAMPAIGN_UNDER_WAY = (Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.HALTED)
LATER_WAVES_NOT_STARTED = "; later waves not started"
WAVE_ITEM_SPLIT = re.compile(r"\s*,\s*|\s+")


@dataclass(frozen=True)
class _Skip:
    """Why a device of a new campaign is in no wave: ``kind`` is current, updating or waiting."""

    kind: str
    reason: str
    campaign: str = ""  # the other campaign, as the refusal names it


def campaign_create(
    *,
    actor: Any,
    name: str,
    firmware: Firmware,
    endpoints: Sequence[Endpoint],
    waves: Sequence[int],
    unit: str = "percent",
    max_failure_rate: float = 0.1,
) -> Campaign:
    """Plan and start a campaign (operator): ``endpoints`` in waves, ``waves`` as cumulative percentages
    (``[1, 10, 100]``) or device counts per wave (``unit="devices"``: ``[2, 20, 0]``, 0 for the rest); the
    rules are ``_wave_sizes``'.

    A device that needs no update, or is taken, is skipped with the reason and planned in no wave: one
    already running the target version, one with an update under way, one waiting in another campaign
    that may still start it (running, paused or halted). The waves are planned over the others, so a
    skipped device never takes a place in the first, small wave. A campaign left with no device to
    update is refused (409), naming why."""
    require(actor, Role.OPERATOR)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldhubError("a campaign needs a name of at most 100 characters", path="name")
    if not 0 <= max_failure_rate <= 1:
        raise FieldhubError("max_failure_rate is between 0 and 1", path="max_failure_rate")
    devices = sorted({e.pk: e for e in endpoints}.values(), key=lambda e: e.name)
    if not devices:
        raise FieldhubError("the campaign selects no devices", path="endpoints")
    with transaction.atomic():
        skips = _skips_at_start(devices, firmware)
        todo = [device for device in devices if device.pk not in skips]
        if not todo:
            raise Conflict(_nothing_to_update(len(devices), firmware, skips), path="endpoints")
        sizes = _wave_sizes(len(todo), waves, unit)
        campaign = Campaign.objects.create(
            name=name, firmware=firmware, waves=sizes, max_failure_rate=max_failure_rate, created_by=actor
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
        fragments.announce_campaign(campaign)
    return campaign


def campaign_waves_parse(*, text: str) -> list[int]:
    """The waves as an operator types them, "1, 10, 100": whole numbers separated by commas (or spaces). An
    empty item ("1,,100", a comma at either end) is refused, not dropped."""
    text = (text or "").strip()
    if not text:
        raise FieldhubError("give the waves, e.g. 1, 10, 100", path="waves")
    items = WAVE_ITEM_SPLIT.split(text)
    for number, item in enumerate(items, 1):
        if not item:
            raise FieldhubError(f"item {number} of {text!r} is empty", path="waves")
        if not re.fullmatch(r"[0-9]+", item):
            raise FieldhubError(f"waves are whole numbers separated by commas; {item[:20]!r} is not one", path="waves")
        if len(item) > 9:
            raise FieldhubError(f"{item[:12]}… is too large for a wave", path="waves")
    return [int(item) for item in items]


def _wave_sizes(count: int, waves: Sequence[int], unit: str) -> list[int]:
    """How many of ``count`` devices each wave updates. The rules, for the page and the API alike:

    - percentages (cumulative): each 1 to 100, strictly rising, the last 100; each wave must come to at
      least one device more than the one before (1 % and 10 % of 5 devices are both 1: refused);
    - device counts (per wave): each 1 or more, except one 0 ("the rest"), only last; without a 0 they add
      up to ``count`` exactly, with one to fewer (so the rest is not empty);
    - never more waves than devices.

    A specification that would leave a wave empty, or quietly merge or add one, is refused with a message
    naming the problem."""
    if unit not in ("percent", "devices"):
        raise FieldhubError('unit is "percent" or "devices"', path="unit")
    if not waves or any(type(wave) is not int for wave in waves):
        raise FieldhubError("waves is a list of whole numbers, e.g. [1, 10, 100]", path="waves")
    devices = f"{count} device{'' if count == 1 else 's'} to update"
    if len(waves) > count:
        raise FieldhubError(f"{len(waves)} waves for {devices}: each wave needs a device at least", path="waves")
    if unit == "percent":
        return _percent_waves(count, waves)
    return _device_count_waves(count, waves, devices)


def _percent_waves(count: int, waves: Sequence[int]) -> list[int]:
    for percent in waves:
        if not 1 <= percent <= 100:
            raise FieldhubError(f"a wave is 1 to 100 % of the devices, not {percent}", path="waves")
    for before, after in itertools.pairwise(waves):
        if after <= before:
            raise FieldhubError(f"percentages are cumulative and must rise: {after} after {before}", path="waves")
    if waves[-1] != 100:
        raise FieldhubError(
            f"the last wave must reach 100 %, not {waves[-1]} %: percentages are cumulative, e.g. 1, 10, 100",
            path="waves",
        )
    sizes, previous = [], 0
    for number, percent in enumerate(waves, 1):
        total = -(-count * percent // 100)  # rounded up: 1 % of 12 devices is one device
        if total == previous:
            raise FieldhubError(
                f"wave {number} ({percent} %) would be empty: {waves[number - 2]} % and {percent} % of {count} "
                f"devices both come to {total}; use fewer waves or larger steps",
                path="waves",
            )
        sizes.append(total - previous)
        previous = total
    return sizes


def _device_count_waves(count: int, waves: Sequence[int], devices: str) -> list[int]:
    for size in waves:
        if size < 0:
            raise FieldhubError(f"a wave has 1 device or more (or 0, last, for the rest), not {size}", path="waves")
    if 0 in waves[:-1]:
        raise FieldhubError("0 (the rest) can only be the last wave", path="waves")
    rest = waves[-1] == 0
    sizes = list(waves[:-1] if rest else waves)
    total = sum(sizes)
    listed = ", ".join(str(size) for size in sizes)
    if total > count:
        raise FieldhubError(f"the waves add up to {total} devices; the campaign has {devices}", path="waves")
    if rest:
        if total == count:
            raise FieldhubError(
                f"the last wave (0: the rest) would be empty: {listed} take all {devices}", path="waves"
            )
        return [*sizes, count - total]
    if total < count:
        raise FieldhubError(
            f"the waves add up to {total} of the {devices}: end with 0 for the rest ({listed}, 0)", path="waves"
        )
    return sizes


def _running_versions(endpoint_ids: Sequence[int]) -> dict[int, str]:
    """Each device's firmware version as it last reported it (3/0/3)."""
    rows = LatestValue.objects.filter(path="/3/0/3", endpoint_id__in=list(endpoint_ids))
    return dict(rows.values_list("endpoint_id", "resource__value_str"))


def _updates_under_way(endpoint_ids: Sequence[int]) -> dict[int, FirmwareUpdate]:
    updates = FirmwareUpdate.objects.filter(
        endpoint_id__in=list(endpoint_ids), status__in=FirmwareUpdate.ACTIVE_STATUSES
    )
    return {update.endpoint_id: update for update in updates.select_related("firmware", "campaign")}


def _under_way(update: FirmwareUpdate) -> str:
    where = f' (campaign "{update.campaign.name}")' if update.campaign_id else ""
    return f"an update to {update.firmware.version} is under way{where}"


def _skips_at_start(devices: Sequence[Endpoint], firmware: Firmware) -> dict[int, _Skip]:
    ids = [device.pk for device in devices]
    versions, updating = _running_versions(ids), _updates_under_way(ids)
    waiting = {
        member.endpoint_id: member.campaign
        for member in CampaignDevice.objects.filter(
            endpoint_id__in=ids,
            wave__isnull=False,
            update__isnull=True,
            skipped="",
            campaign__status__in=CAMPAIGN_UNDER_WAY,
        ).select_related("campaign")
    }
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
        CampaignDevice.objects.filter(campaign=campaign, wave=wave, update__isnull=True, skipped="").select_related(
            "endpoint"
        )
    )
    ids = [member.endpoint_id for member in members]
    versions, updating = _running_versions(ids), _updates_under_way(ids)
    version = campaign.firmware.version
    for member in members:
        if versions.get(member.endpoint_id) == version:
            member.skipped = f"already running {version}"
        elif member.endpoint_id in updating:
            member.skipped = _under_way(updating[member.endpoint_id])
        else:
            try:
                member.update = firmware_update_start(
                    actor=campaign.created_by, endpoint=member.endpoint, firmware=campaign.firmware, campaign=campaign
                )
            except Conflict:  # an update started since the look above
                other = _updates_under_way([member.endpoint_id]).get(member.endpoint_id)
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
            campaign = Campaign.objects.select_for_update().filter(pk=campaign_pk, status="RUNNING").first()
            if campaign is not None:
                _advance_campaign(campaign)


def _advance_campaign(campaign: Campaign, *, override: bool = False) -> None:
    """Once the current wave's updates are all over: halt if more of the updates it started failed than the
    campaign allows (skipped devices are not failures, and count for nothing), else start the next wave, or
    complete. ``override``: an operator resumed the campaign after the current wave halted it."""
    changed = halted = False
    while True:
        members = list(
            CampaignDevice.objects.filter(campaign=campaign, wave=campaign.current_wave).select_related("update")
        )
        updates = [member.update for member in members if member.update is not None]
        if any(update.active for update in updates):
            break
        changed = True
        started, skipped = len(updates), len(members) - len(updates)
        failed = sum(1 for update in updates if update.status != Status.SUCCEEDED)
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
        fragments.announce_campaign(campaign, waiting=halted)


def _complete(campaign: Campaign) -> None:
    counts = CampaignDevice.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        updated=Count("pk", filter=Q(update__status=Status.SUCCEEDED)),
        skipped=Count("pk", filter=Q(update__isnull=True, skipped__gt="")),
    )
    waves = "the wave is done" if len(campaign.waves) == 1 else f"all {len(campaign.waves)} waves done"
    total = counts["total"]
    reason = f"{waves}: {counts['updated']} of {total} device{'' if total == 1 else 's'} updated"
    if counts["skipped"]:
        reason += f", {counts['skipped']} skipped"
    if campaign.reason.startswith("resumed after halt"):
        reason += f"; {campaign.reason}"
    campaign.status, campaign.reason, campaign.finished_at = Campaign.Status.COMPLETED, reason, timezone.now()


def campaign_pause(*, actor: Any, campaign: Campaign) -> Campaign:
    """Start no further waves (updates under way go on)."""
    return _campaign_set(actor, campaign, Campaign.Status.RUNNING, Campaign.Status.PAUSED, "paused")


def campaign_resume(*, actor: Any, campaign: Campaign) -> Campaign:
    """Go on with a paused campaign (its next wave starts once the current one is over), or override the halt
    of a halted one (operator): its next wave starts now, and the reason says who resumed it after what, e.g.
    "resumed after halt by otto: wave 1: 3 of 10 devices failed (30 % > 20 % allowed)"."""
    require(actor, Role.OPERATOR)
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
        fragments.announce_campaign(campaign, waiting=True)
    return campaign


def campaign_abort(*, actor: Any, campaign: Campaign) -> Campaign:
    """End the campaign: its updates under way are cancelled, later waves never start."""
    require(actor, Role.OPERATOR)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.ABORTED):
            raise Conflict(f"the campaign is {campaign.status.lower()} already")
        campaign.status, campaign.reason, campaign.finished_at = Campaign.Status.ABORTED, "aborted", timezone.now()
        campaign.save()
        for update in FirmwareUpdate.objects.filter(campaign=campaign, status__in=FirmwareUpdate.ACTIVE_STATUSES):
            firmware_update_cancel(actor=actor, update=update)
        fragments.announce_campaign(campaign, waiting=True)
    return campaign


def _campaign_set(actor: Any, campaign: Campaign, expected: str, status: str, reason: str) -> Campaign:
    require(actor, Role.OPERATOR)
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=expected).update(
            status=status, reason=reason, updated_at=timezone.now()
        )
        campaign.refresh_from_db()
        if not updated:
            raise Conflict(f"the campaign is {campaign.status.lower()}: it must be {expected.lower()}")
        fragments.announce_campaign(campaign, waiting=True)
    return campaign


def campaign_endpoints(
    *, user: Any, names: Sequence[str] | None = None, from_version: str | None = None
) -> list[Endpoint]:
    """Select a campaign's devices: by name, by current firmware version (their latest 3/0/3), or all."""
    require(user, Role.OPERATOR)
    if names is not None:
        if not names:
            raise FieldhubError("give at least one endpoint name", path="endpoints")
        found = list(Endpoint.objects.filter(name__in=list(names)))
        missing = sorted(set(names) - {e.name for e in found})
        if missing:
            raise NotFound(f"no endpoint named {', '.join(repr(n) for n in missing[:5])}", path="endpoints")
        return found
    if from_version is not None:
        from_version = from_version.strip()
        if not from_version:
            raise FieldhubError("give the firmware version the devices run", path="from_version")
        ids = LatestValue.objects.filter(path="/3/0/3", resource__value_str=from_version).values("endpoint_id")
        found = list(Endpoint.objects.filter(pk__in=ids))
        if not found:
            raise FieldhubError(f"no device reports firmware version {from_version} (3/0/3)", path="from_version")
        return found
    return list(Endpoint.objects.all())


def operation_retry_refusals(operation_ids: Sequence[int]) -> dict[int, str]:
    """Why an operation a firmware update queued may not be retried (telemetry asks, through its hooks, for
    the retry service and to hide the Retry buttons): the Package URI write or Update execute of an update
    that is over (cancelled, aborted with its campaign, failed, succeeded) would start a download or an
    update that nothing follows. The empty Package URI write that cancels an update stays retryable: it is
    how a device is told to stop."""
    ids = set(operation_ids)
    if not ids:
        return {}
    over = (
        FirmwareUpdate.objects.exclude(status__in=FirmwareUpdate.ACTIVE_STATUSES)
        .filter(Q(uri_operation_id__in=ids) | Q(execute_operation_id__in=ids))
        .select_related("endpoint", "firmware")
    )
    refusals = {}
    for update in over:
        why = (
            f"it belongs to the firmware update of {update.endpoint.name} to {update.firmware.version}, which is "
            f"{update.get_status_display()} (start a new update instead)"
        )
        for pk in (update.uri_operation_id, update.execute_operation_id):
            if pk in ids:
                refusals[pk] = why
    return refusals
