"""One device's firmware update: its start, its cancel, and the object 5 state machine that moves it.

An update (``firmware_update_start``) queues a write of the Package URI (5/0/1) through the downlink queue.
From then on the device drives it, through what it reports (``firmware_reported``, called by the ingest
inside its transaction):

    QUEUED ─ 5/0/3 = 1 ─▶ DOWNLOADING ─ 5/0/3 = 2 ─▶ DOWNLOADED (execute 5/0/2 queued) ─ 5/0/3 = 3 ─▶ UPDATING
    UPDATING ─ registers again, 3/0/3 = target version ─▶ SUCCEEDED
    UPDATING ─ registers again, 3/0/3 ≠ target ─▶ FAILED (with the reported 5/0/5, else "firmware update failed")
    any active ─ 5/0/5 in 2..9 ─▶ FAILED with that result;  5/0/5 = 10 ─▶ CANCELLED
    any active ─ no progress for FIRMWARE_PHASE_TIMEOUT ─▶ FAILED ("timed out while downloading")

Reports may come late, twice or out of order (a result before its state, DOWNLOADED twice, a state
going back): a state never moves an update backwards, the execute is queued once, and a finished update
ignores what comes after. An update of a firmware rollout (a campaign) that finishes moves its rollout on
(``telemetry.rollouts.services.rollouts_advance``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.bulk import column_set, rows_insert
from core.errors import Conflict
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration
from core.lwm2m.nodes import Reading
from core.models import Endpoint
from core.permissions import SYSTEM, Principal, author_of, require_on
from core.roles import Role
from firmware import announce
from firmware.models import Firmware, FirmwareUpdate
from firmware.services.images import package_uri
from telemetry import hooks
from telemetry.downlink import queue as telemetry_queue
from telemetry.models import EndpointOperation, RolloutDevice
from telemetry.rollouts import services as rollouts

Status = FirmwareUpdate.Status
State = FirmwareUpdate.State
Result = FirmwareUpdate.Result
Kind = EndpointOperation.Kind

# The order of progress: a report never moves an update back in it.
PROGRESS: dict[str, int] = {Status.QUEUED: 0, Status.DOWNLOADING: 1, Status.DOWNLOADED: 2, Status.UPDATING: 3}
FAILURE_RESULTS = frozenset(range(Result.NOT_ENOUGH_FLASH, Result.UNSUPPORTED_PROTOCOL + 1))


def firmware_update_start(
    *,
    actor: Principal | None,
    endpoint: Endpoint,
    firmware: Firmware,
    member: tuple[int, int] | None = None,
) -> FirmwareUpdate:
    """Start updating a device (operator): the update, and the Package URI write queued for it. A device with
    an active update gets a 409 (the database enforces one active update per device). ``member``: (rollout
    id, device row id) of the firmware rollout whose wave starts it (checked when the rollout was made),
    whose device row it becomes."""
    if member is None:
        require_on(actor, Role.OPERATOR, endpoint.site_id)
    now = timezone.now()
    try:
        with transaction.atomic():
            update = FirmwareUpdate.objects.create(
                endpoint=endpoint, firmware=firmware, created_by=author_of(actor), phase_started_at=now
            )
            update.uri_operation = _queue(endpoint, Kind.WRITE, "/5/0/1", value=package_uri(firmware))
            update.save(update_fields=["uri_operation"])
            if member is not None:
                RolloutDevice.objects.filter(pk=member[1]).update(update=update)
            announce.update_changed(update, created=True, member=member)
    except IntegrityError:
        raise Conflict(f"{endpoint.name} has an update under way already", path="endpoint") from None
    return update


def firmware_updates_start_wave(
    *, author: Principal | None, firmware: Firmware, rollout_id: int, members: Sequence[tuple[int, Endpoint]]
) -> None:
    """Start the updates of a firmware rollout's wave at once (its ``members``: device row id and device,
    checked when the rollout was made): the updates in one statement, their Package URI writes in one
    (``operations_enqueue_many``), each linked to its write and to its device row in one each. A device that
    got an update since the wave looked (the database keeps one active update per device) fails the lot
    with an IntegrityError, nothing stored: ``firmware.rollouts.start`` then starts them one by one."""
    if not members:
        return
    now = timezone.now()
    request = telemetry_queue.operation_request(kind=Kind.WRITE, path="/5/0/1", value=package_uri(firmware))
    created_by = author_of(author)
    endpoints = [endpoint for _, endpoint in members]
    fixed: dict[str, Any] = {"firmware_id": firmware.pk, "created_by_id": created_by.pk if created_by else None}
    fixed |= {"phase_started_at": now, "created_at": now, "updated_at": now}
    with transaction.atomic():
        ids = rows_insert(
            FirmwareUpdate,
            key="endpoint_id",
            keys=[endpoint.pk for endpoint in endpoints],
            values=fixed,
            batch_size=telemetry_queue.BULK_BATCH,
        )
        made = [
            FirmwareUpdate(pk=pk, endpoint=endpoint, firmware=firmware, phase_started_at=now)
            for pk, endpoint in zip(ids, endpoints, strict=True)
        ]
        queued = telemetry_queue.operations_enqueue_many(actor=SYSTEM, endpoints=endpoints, request=request)
        column_set(FirmwareUpdate, "uri_operation_id", [u.pk for u in made], [q.pk for q in queued])
        column_set(RolloutDevice, "update_id", [member_id for member_id, _ in members], [u.pk for u in made])
        announce.wave_started(rollout_id, made, [member_id for member_id, _ in members])


def _queue(endpoint: Endpoint, kind: str, path: str, **kwargs: Any) -> EndpointOperation:
    return telemetry_queue.operation_enqueue(actor=SYSTEM, endpoint=endpoint, kind=kind, path=path, **kwargs)


def firmware_update_cancel(*, actor: Principal, update: FirmwareUpdate) -> FirmwareUpdate:
    """Cancel an active update (operator): what is still queued for it is cancelled by the downlink queue
    (``operation_cancel``: completed now, and announced), and a device that got the URI is told to reset its
    state machine (an empty Package URI, as object 5 specifies)."""
    require_on(actor, Role.OPERATOR, update.endpoint.site_id)
    with transaction.atomic():
        update = (
            FirmwareUpdate.objects.select_for_update(of=("self", "endpoint"))
            .select_related("endpoint", "rollout_device")
            .get(pk=update.pk)
        )
        if not update.active:
            raise Conflict(f"the update is {update.status.lower()}: only an active one can be cancelled")
        sent = False
        for operation in (update.uri_operation, update.execute_operation):
            if operation is None:
                continue
            try:
                telemetry_queue.operation_cancel(actor=SYSTEM, operation=operation)  # checked above
            except Conflict:  # being sent, or answered: the device may have it
                sent = True
        if sent:
            update.cancel_operation = _queue(update.endpoint, Kind.WRITE, "/5/0/1", value="")
        _finish(update, Status.CANCELLED, error="cancelled by an operator")
    _advance_rollout(update)
    return update


def _advance_rollout(update: FirmwareUpdate) -> None:
    """The update is over: its rollout, if it has one, may move on."""
    found = announce.member_of(update)
    if found is not None:
        rollouts.rollouts_advance(rollout_id=found[0])


def firmware_reported(endpoint_id: int, readings: Sequence[Reading]) -> None:
    """The ingest's firmware listener: what a device reported of its firmware moves its active update."""
    update = (
        FirmwareUpdate.objects.select_for_update(of=("self", "firmware", "endpoint"))
        .select_related("firmware", "endpoint", "rollout_device")
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
        announce.update_changed(update)
    if not update.active:
        transaction.on_commit(lambda: _advance_rollout(update))


def _apply(update: FirmwareUpdate, reading: Reading) -> None:
    path = reading.path
    key = (path.object_id, path.resource_id)
    if key == (REGISTRATION_OBJECT_ID, Registration.REGISTERED):  # registered again: rebooted
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
            update.execute_operation = _queue(update.endpoint, Kind.EXECUTE, "/5/0/2")
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
    announce.update_changed(update)
    if status in (Status.FAILED, Status.SUCCEEDED):  # the alarm rules on failed updates
        hooks.firmware_update_finished(update.endpoint_id, failed=status == Status.FAILED, detail=error)


def firmware_updates_expire() -> int:
    """Fail the active updates that made no progress for FIRMWARE_PHASE_TIMEOUT (the dispatcher's sweep)."""
    limit = timezone.now() - dt.timedelta(seconds=settings.FIRMWARE_PHASE_TIMEOUT)
    expired = 0
    rollout_ids = set()
    with transaction.atomic():
        stale = FirmwareUpdate.objects.select_for_update(skip_locked=True).filter(
            status__in=FirmwareUpdate.ACTIVE_STATUSES, phase_started_at__lt=limit
        )
        for update in stale:
            phase = update.get_status_display()
            seconds = settings.FIRMWARE_PHASE_TIMEOUT
            _finish(update, Status.FAILED, error=f"timed out: no progress while {phase} for {seconds} s")
            expired += 1
            if (found := announce.member_of(update)) is not None:
                rollout_ids.add(found[0])
    for rollout_id in sorted(rollout_ids):
        rollouts.rollouts_advance(rollout_id=rollout_id)
    return expired
