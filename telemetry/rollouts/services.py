"""Rollouts: one operation for a selection of devices, in waves, through the durable command queue.

``rollout_create`` checks everything first (the request against the registry, once; the selection; the
waves), freezes the selection (one ``RolloutDevice`` per device, with its wave) and queues the first wave
in the same transaction. Each device's status is its operation's; as operations finish
(``telemetry.hooks.operations_changed``) ``rollouts_advance`` moves the rollout on: when the current wave
has nothing queued or sent any more, it halts on too many failures, else starts the next wave, or
completes. Every advance locks the rollout's row (``select_for_update``), so several dispatchers may
finish operations of one wave at once: one of them starts the next wave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint
from core.permissions import SYSTEM, Principal, author_of, require_scope
from core.roles import Role
from core.waves import wave_sizes
from telemetry import announce as telemetry_announce
from telemetry.downlink import queue
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import announce, selectors
from telemetry.rollouts.selectors import Selection
from telemetry.selectors.endpoints import STATUS_FILTERS

Kind = EndpointOperation.Kind
Op = EndpointOperation.Status
KINDS = (Kind.WRITE, Kind.EXECUTE, Kind.OBSERVE, Kind.OBSERVE_CANCEL, Kind.READ)
LATER_WAVES_NOT_STARTED = "; later waves not started"
OPERATION_ROWS_PUSHED = 100  # cancelled operations whose rows an abort pushes to the operations page


def rollout_create(
    *,
    actor: Principal,
    name: str,
    kind: str,
    path: str,
    selection: Selection,
    waves: Sequence[int],
    unit: str = "percent",
    max_failure_rate: float = 0.1,
    value: Any = None,
    values: dict[str, Any] | None = None,
    arguments: str = "",
) -> Rollout:
    """Start a rollout (operator): ``kind`` at ``path`` (with ``value``, ``values`` or ``arguments`` as a
    single command takes them) for the devices of ``selection``, in ``waves`` (``core.waves.wave_sizes``:
    cumulative percentages, or device counts with ``unit="devices"``). Nothing is stored unless all of it
    is right: a bad field is a 422 naming it, a selection with no device the actor may operate a 409."""
    require_scope(actor, Role.OPERATOR)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldhubError("a rollout needs a name of at most 100 characters", path="name")
    if isinstance(max_failure_rate, bool) or not 0 <= max_failure_rate <= 1:
        raise FieldhubError("max_failure_rate is between 0 and 1", path="max_failure_rate")
    if kind not in KINDS:
        raise FieldhubError(f"kind must be one of {', '.join(k.lower() for k in KINDS)}", path="kind")
    request = queue.operation_request(kind=kind, path=path, value=value, values=values, arguments=arguments)
    resolved = selectors.selection_resolve(user=actor, selection=selection)
    if not resolved.devices:
        if resolved.skipped:
            count = len(resolved.skipped)
            raise Conflict(f"none of the {count} device{'' if count == 1 else 's'} listed is yours to operate")
        raise FieldhubError("the selection reaches no device", path="selection")
    sizes = wave_sizes(len(resolved.devices), waves, unit, what="rollout")
    asked = {"value": value, "values": values, "arguments": arguments}
    with transaction.atomic():
        rollout = Rollout.objects.create(
            name=name,
            kind=request.kind,
            path=request.path,
            request={key: given for key, given in asked.items() if given not in (None, "", {})},
            payload=request.payload,
            selection=selection.as_json(),
            waves=sizes,
            max_failure_rate=max_failure_rate,
            created_by=author_of(actor),
        )
        first = resolved.devices[: sizes[0]]
        operations = _queue(rollout, first)
        rows: list[Member] = [(o.endpoint_id, 0, o.pk, "") for o in operations]
        start = sizes[0]
        for wave, size in enumerate(sizes[1:], 1):
            rows += [(device.pk, wave, None, "") for device in resolved.devices[start : start + size]]
            start += size
        rows += [(device.pk, None, None, why) for device, why in resolved.skipped]
        _insert_members(rollout.pk, rows)
        announce.rollout_changed(rollout.pk, created=True)
    return rollout


def _queue(rollout: Rollout, endpoints: Sequence[queue.Target]) -> list[queue.Queued]:
    """The rollout's operation for each of ``endpoints`` (checked when the rollout was made), queued on its
    creator's behalf: the selection was theirs to operate then."""
    request = queue.Request(rollout.kind, rollout.path, rollout.payload)
    return queue.operations_enqueue_many(actor=SYSTEM, endpoints=endpoints, request=request, author=rollout.created_by)


Member = tuple[int, int | None, int | None, str]  # endpoint id, wave, operation id, why skipped


def _insert_members(rollout_id: int, rows: list[Member]) -> None:
    """The frozen selection: one row per device, in one statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        members = [
            RolloutDevice(rollout_id=rollout_id, endpoint_id=e, wave=w, operation_id=o, skipped=why)
            for e, w, o, why in rows
        ]
        RolloutDevice.objects.bulk_create(members, batch_size=queue.BULK_BATCH)
        return
    columns: list[list[Any]] = [[row[n] for row in rows] for n in range(4)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RolloutDevice._meta.db_table} (rollout_id, endpoint_id, wave, operation_id, skipped) "
            "SELECT %s, * FROM unnest(%s::bigint[], %s::integer[], %s::bigint[], %s::text[])",
            [rollout_id, *columns],
        )


def _start_wave(rollout: Rollout, wave: int) -> None:
    """Queue a later wave's operations. A device that no longer matches the selection's state filter (an
    ``online`` selection's device now offline) is skipped with the reason."""
    rollout.current_wave = wave
    rows = RolloutDevice.objects.filter(rollout=rollout, wave=wave, operation__isnull=True, skipped="").order_by("id")
    members = list(rows.values_list("id", "endpoint_id", "endpoint__site_id", "endpoint__online", "endpoint__sleeping"))
    status = rollout.selection.get("status")
    if status in STATUS_FILTERS:
        ids = [endpoint_id for _, endpoint_id, *_ in members]
        matching = set(Endpoint.objects.filter(STATUS_FILTERS[status], pk__in=ids).values_list("pk", flat=True))
        gone = [pk for pk, endpoint_id, *_ in members if endpoint_id not in matching]
        RolloutDevice.objects.filter(pk__in=gone).update(skipped=f"no longer {status} when wave {wave + 1} started")
        members = [member for member in members if member[1] in matching]
    devices = [
        selectors.Device(endpoint_id, "", site, online, sleeping) for _, endpoint_id, site, online, sleeping in members
    ]
    queued = _queue(rollout, devices)
    _link([pk for pk, *_ in members], [operation.pk for operation in queued])


def _link(member_ids: list[int], operation_ids: list[int]) -> None:
    """Each member's operation, in one statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        members = [RolloutDevice(pk=m, operation_id=o) for m, o in zip(member_ids, operation_ids, strict=True)]
        RolloutDevice.objects.bulk_update(members, ["operation"], batch_size=500)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RolloutDevice._meta.db_table} AS d SET operation_id = v.operation_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, operation_id) WHERE d.id = v.id",
            [member_ids, operation_ids],
        )


def rollouts_advance(*, rollout_id: int | None = None) -> None:
    """Move running rollouts on (each under a lock of its row): called after operations of a rollout
    finished, and by the dispatcher's sweep (``telemetry.hooks.add_periodic``) in case a call was lost."""
    running = Rollout.objects.filter(status=Rollout.Status.RUNNING)
    if rollout_id is not None:
        running = running.filter(pk=rollout_id)
    for pk in running.values_list("pk", flat=True):
        with transaction.atomic():
            rollout = Rollout.objects.select_for_update().filter(pk=pk, status=Rollout.Status.RUNNING).first()
            if rollout is not None:
                _advance(rollout)


def _advance(rollout: Rollout, *, override: bool = False) -> None:
    """Once nothing of the current wave is queued or sent: halt if more of the operations it started failed
    than allowed (cancelled and skipped ones are no failures), else start the next wave, or complete.
    ``override``: an operator resumed the rollout after the current wave halted it."""
    changed = False
    while True:
        counts = _wave(rollout, rollout.current_wave)
        if counts["open"]:
            break
        changed = True
        started, failed = counts["started"], counts["failed"]
        more = rollout.current_wave + 1 < len(rollout.waves)
        if not override and started and failed / started > rollout.max_failure_rate:
            rollout.status, rollout.finished_at = Rollout.Status.HALTED, timezone.now()
            rollout.reason = (
                f"wave {rollout.current_wave + 1}: {failed} of {started} device{'' if started == 1 else 's'} failed "
                f"({100 * failed / started:.0f} % > {100 * rollout.max_failure_rate:.0f} % allowed)"
                + (LATER_WAVES_NOT_STARTED if more else "")
            )
            break
        override = False
        if more:
            _start_wave(rollout, rollout.current_wave + 1)
            continue
        _complete(rollout)
        break
    if changed:
        rollout.save()
        announce.rollout_changed(rollout.pk)


def _wave(rollout: Rollout, wave: int) -> dict[str, int]:
    rows = RolloutDevice.objects.filter(rollout=rollout, wave=wave, operation__isnull=False)
    open_ = rows.filter(operation__status__in=EndpointOperation.OPEN_STATUSES)
    return {
        "open": 1 if open_.exists() else 0,
        "started": rows.count(),
        "failed": rows.filter(operation__status=Op.FAILED).count(),
    }


def _complete(rollout: Rollout) -> None:
    counts = selectors.progress(Rollout.objects.filter(pk=rollout.pk).first() or rollout)
    waves = "the wave is done" if len(rollout.waves) == 1 else f"all {len(rollout.waves)} waves done"
    total = counts["total"]
    reason = f"{waves}: {counts['confirmed']} of {total} device{'' if total == 1 else 's'} confirmed"
    for word in ("failed", "cancelled", "skipped"):
        if counts[word]:
            reason += f", {counts[word]} {word}"
    if rollout.reason.startswith("resumed after halt"):
        reason += f"; {rollout.reason}"
    rollout.status, rollout.reason, rollout.finished_at = Rollout.Status.COMPLETED, reason, timezone.now()


def _locked(actor: Principal, rollout: Rollout) -> Rollout:
    """The rollout, locked, for an actor who operates every device it reaches (403 otherwise)."""
    require_scope(actor, Role.OPERATOR)
    if not selectors.may_steer(user=actor, rollout=rollout):
        raise PermissionDenied("this rollout reaches devices of sites you do not operate: a global operator steers it")
    return Rollout.objects.select_for_update().get(pk=rollout.pk)


def rollout_pause(*, actor: Principal, rollout: Rollout) -> Rollout:
    """Start no further waves (what is queued is still delivered)."""
    with transaction.atomic():
        rollout = _locked(actor, rollout)
        if rollout.status != Rollout.Status.RUNNING:
            raise Conflict(f"the rollout is {rollout.get_status_display()}: only a running one can be paused")
        rollout.status, rollout.reason = Rollout.Status.PAUSED, f"paused by {actor.get_username()}"
        rollout.save()
        announce.rollout_changed(rollout.pk)
    return rollout


def rollout_resume(*, actor: Principal, rollout: Rollout) -> Rollout:
    """Go on with a paused rollout, or override the halt of a halted one: its next wave starts now, and the
    reason says who resumed it after what."""
    with transaction.atomic():
        rollout = _locked(actor, rollout)
        if rollout.status == Rollout.Status.PAUSED:
            rollout.status, rollout.reason = Rollout.Status.RUNNING, ""
            rollout.save()
            _advance(rollout)
        elif rollout.status == Rollout.Status.HALTED:
            halt = rollout.reason.removesuffix(LATER_WAVES_NOT_STARTED)
            rollout.status, rollout.finished_at = Rollout.Status.RUNNING, None
            rollout.reason = f"resumed after halt by {actor.get_username()}: {halt}"
            rollout.save()
            _advance(rollout, override=True)
        else:
            raise Conflict(f"the rollout is {rollout.get_status_display()}: only a paused or halted one can be resumed")
        announce.rollout_changed(rollout.pk)
    return rollout


def rollout_abort(*, actor: Principal, rollout: Rollout) -> Rollout:
    """End the rollout: every operation of it still queued is cancelled (one being sent cannot be called
    back), later waves never start."""
    with transaction.atomic():
        rollout = _locked(actor, rollout)
        if rollout.status not in Rollout.OPEN_STATUSES:
            raise Conflict(f"the rollout is {rollout.get_status_display()} already")
        now = timezone.now()
        queued = EndpointOperation.objects.filter(rollout_device__rollout=rollout, status=Op.QUEUED)
        pushed = list(queued.order_by("id")[:OPERATION_ROWS_PUSHED])
        cancelled = queued.update(
            status=Op.CANCELLED, completed_at=now, updated_at=now, last_error=f"rollout {rollout.pk} aborted"
        )
        for operation in pushed:
            telemetry_announce.operation_changed(operation)
        rollout.status, rollout.finished_at = Rollout.Status.ABORTED, now
        plural = "" if cancelled == 1 else "s"
        rollout.reason = f"aborted by {actor.get_username()}: {cancelled} queued operation{plural} cancelled"
        rollout.save()
        announce.rollout_changed(rollout.pk)
    return rollout


def operations_changed(operation_ids: Sequence[int], finished: bool) -> None:
    """``telemetry.hooks``' listener: operations changed status inside a queue write. Their rollouts' pages
    are told, and after the commit those rollouts move on if a wave may be over."""
    members = selectors.rollout_members_of(user=SYSTEM, operation_ids=list(operation_ids))
    for rollout_id in sorted({rollout_id for rollout_id, _ in members}):
        announce.rollout_changed(rollout_id)
        if finished:
            transaction.on_commit(lambda pk=rollout_id: rollouts_advance(rollout_id=pk))  # type: ignore[misc]
    for _, member_id in members[: announce.DEVICE_ROWS_PUSHED]:
        announce.member_changed(member_id)
