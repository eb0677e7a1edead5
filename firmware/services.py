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
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, FieldhubError, NotFound
from core.lwm2m.nodes import Reading
from core.models import Endpoint
from core.permissions import require
from core.roles import Role
from firmware import fragments
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate
from telemetry import services as telemetry
from telemetry.models import EndpointOperation

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
    return telemetry.operation_enqueue(actor=None, endpoint=endpoint, kind=kind, path=path, system=True, **kwargs)


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
                EndpointOperation.objects.filter(pk=operation.pk, status="QUEUED").update(status="CANCELLED")
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
    (``[1, 10, 100]``) or device counts per wave (``unit="devices"``: ``[2, 20, 0]``, 0 for the rest)."""
    require(actor, Role.OPERATOR)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldhubError("a campaign needs a name of at most 100 characters", path="name")
    if not 0 <= max_failure_rate <= 1:
        raise FieldhubError("max_failure_rate is between 0 and 1", path="max_failure_rate")
    devices = sorted({e.pk: e for e in endpoints}.values(), key=lambda e: e.name)
    if not devices:
        raise FieldhubError("the campaign selects no devices", path="endpoints")
    sizes = _wave_sizes(len(devices), waves, unit)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name, firmware=firmware, waves=sizes, max_failure_rate=max_failure_rate, created_by=actor
        )
        members, start = [], 0
        for wave, size in enumerate(sizes):
            chosen = devices[start : start + size]
            members += [CampaignDevice(campaign=campaign, endpoint=e, wave=wave) for e in chosen]
            start += size
        CampaignDevice.objects.bulk_create(members)
        _start_wave(campaign, 0)
        fragments.announce_campaign(campaign)
    return campaign


def _wave_sizes(count: int, waves: Sequence[int], unit: str) -> list[int]:
    if not waves or any(type(w) is not int or w < 0 for w in waves):
        raise FieldhubError("waves is a list of non-negative integers", path="waves")
    if unit == "percent":
        if any(b < a for a, b in itertools.pairwise(waves)) or waves[-1] != 100 or waves[0] <= 0:
            raise FieldhubError("percentages must rise and end at 100, e.g. [1, 10, 100]", path="waves")
        cumulative = [max(1, -(-count * percent // 100)) for percent in waves]  # at least one device a wave
        cumulative[-1] = count
        sizes, previous = [], 0
        for total in cumulative:
            total = min(max(total, previous), count)
            sizes.append(total - previous)
            previous = total
    elif unit == "devices":
        sizes, left = [], count
        for size in waves:
            take = left if size == 0 else min(size, left)
            sizes.append(take)
            left -= take
        if left:
            sizes.append(left)
    else:
        raise FieldhubError('unit is "percent" or "devices"', path="unit")
    return [size for size in sizes if size > 0]


def _start_wave(campaign: Campaign, wave: int) -> None:
    campaign.current_wave = wave
    campaign.save(update_fields=["current_wave", "updated_at"])
    for member in CampaignDevice.objects.filter(campaign=campaign, wave=wave, update__isnull=True).select_related(
        "endpoint"
    ):
        try:
            member.update = firmware_update_start(
                actor=campaign.created_by, endpoint=member.endpoint, firmware=campaign.firmware, campaign=campaign
            )
        except Conflict as exc:
            member.skipped = exc.detail
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


def _advance_campaign(campaign: Campaign) -> None:
    members = CampaignDevice.objects.filter(campaign=campaign, wave=campaign.current_wave).select_related("update")
    updates = [m.update for m in members if m.update is not None]
    if any(update.active for update in updates):
        return
    failed = sum(1 for m in members if m.update is None or m.update.status != Status.SUCCEEDED)
    total = len(members)
    label = f"wave {campaign.current_wave + 1}"
    if total and failed / total > campaign.max_failure_rate:
        campaign.status = Campaign.Status.HALTED
        campaign.reason = (
            f"{label}: {failed} of {total} devices failed ({100 * failed / total:.0f} % > "
            f"{100 * campaign.max_failure_rate:.0f} % allowed); later waves not started"
        )
        campaign.finished_at = timezone.now()
    elif campaign.current_wave + 1 < len(campaign.waves):
        _start_wave(campaign, campaign.current_wave + 1)
    else:
        campaign.status = Campaign.Status.COMPLETED
        done = CampaignDevice.objects.filter(campaign=campaign, update__status=Status.SUCCEEDED).count()
        devices = campaign.devices.count()
        campaign.reason = f"all {len(campaign.waves)} waves done: {done} of {devices} devices updated"
        campaign.finished_at = timezone.now()
    campaign.save()
    fragments.announce_campaign(campaign)


def campaign_pause(*, actor: Any, campaign: Campaign) -> Campaign:
    """Start no further waves (updates under way go on)."""
    return _campaign_set(actor, campaign, Campaign.Status.RUNNING, Campaign.Status.PAUSED, "paused")


def campaign_resume(*, actor: Any, campaign: Campaign) -> Campaign:
    campaign = _campaign_set(actor, campaign, Campaign.Status.PAUSED, Campaign.Status.RUNNING, "")
    campaigns_advance(campaign_id=campaign.pk)
    campaign.refresh_from_db()
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
        fragments.announce_campaign(campaign)
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
        fragments.announce_campaign(campaign)
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
    if from_version:
        from telemetry.models import LatestValue

        ids = LatestValue.objects.filter(path="/3/0/3", resource__value_str=from_version).values("endpoint_id")
        return list(Endpoint.objects.filter(Q(pk__in=ids)))
    return list(Endpoint.objects.all())
