"""Rollouts: one operation (or a firmware update) for a selection of devices, in waves: the one wave engine.

``rollout_create`` checks everything first (the request against the registry, once; the selection; the
waves), freezes the selection (one ``RolloutDevice`` per device, with its wave) and starts the first wave
in the same transaction. Each device's status is its operation's, or for a rollout of another kind
(``kinds``: firmware) its item's (the device's firmware update, which that kind starts). As operations
finish (``telemetry.hooks.operations_changed``), or the kind's items do (the firmware app calls
``rollouts_advance``), the rollout moves on: when the current wave has nothing queued or sent any more,
it halts on too many failures, else starts the next wave, or completes. Pause, resume (after a halt: an
override) and abort are here, once, for every kind. Every advance locks the rollout's row
(``select_for_update``), so several dispatchers may finish operations of one wave at once: one of them
starts the next wave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from core.bulk import column_set
from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint
from core.permissions import SYSTEM, Principal, author_of, require_scope
from core.roles import Role
from core.waves import wave_sizes
from telemetry import announce as telemetry_announce
from telemetry.downlink import queue
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import announce, kinds, selectors
from telemetry.rollouts.selectors import Selection
from telemetry.selectors.endpoints import STATUS_FILTERS

Kind = EndpointOperation.Kind
Op = EndpointOperation.Status
KINDS = (Kind.WRITE, Kind.EXECUTE, Kind.OBSERVE, Kind.OBSERVE_CANCEL, Kind.READ)
LATER_WAVES_NOT_STARTED = "; later waves not started"
OPERATION_ROWS_PUSHED = 100  # cancelled operations whose rows an abort pushes to the operations page
NUMBER_ATTEMPTS = 5  # a rollout of another kind takes the next number; two at once: one tries again


def rollout_create(
    *,
    actor: Principal,
    name: str,
    kind: str,
    selection: Selection,
    waves: Sequence[int],
    path: str = "",
    unit: str = "percent",
    max_failure_rate: float = 0.1,
    value: Any = None,
    values: dict[str, Any] | None = None,
    arguments: str = "",
    firmware: Any = None,
) -> Rollout:
    """Start a rollout (operator): ``kind`` at ``path`` (with ``value``, ``values`` or ``arguments`` as a
    single command takes them), or of another kind (``kinds``: "FIRMWARE" with ``firmware``, a version or
    an image's id), for the devices of ``selection``, in ``waves`` (``core.waves.wave_sizes``: cumulative
    percentages, or device counts with ``unit="devices"``). Nothing is stored unless all of it is right: a
    bad field is a 422 naming it, a selection with no device the actor may operate a 409."""
    require_scope(actor, Role.OPERATOR)
    other = kinds.of(kind)
    _check(name, max_failure_rate, other)
    if other is not None:
        fields = {"kind": other.name, **other.target(actor, {"firmware": firmware})}
    elif kind not in KINDS:
        names = [k.lower() for k in KINDS] + [k.name.lower() for k in kinds.kinds()]
        raise FieldhubError(f"kind must be one of {', '.join(names)}", path="kind")
    else:
        request = queue.operation_request(kind=kind, path=path, value=value, values=values, arguments=arguments)
        asked = {"value": value, "values": values, "arguments": arguments}
        fields = {
            "kind": request.kind,
            "path": request.path,
            "request": {key: given for key, given in asked.items() if given not in (None, "", {})},
            "payload": request.payload,
        }
    resolved = selectors.selection_resolve(user=actor, selection=selection)
    if not resolved.devices:
        if resolved.skipped:
            count = len(resolved.skipped)
            raise Conflict(f"none of the {count} device{'' if count == 1 else 's'} listed is yours to operate")
        raise FieldhubError("the selection reaches no device", path="selection")
    return rollout_start(
        actor=actor,
        name=name,
        fields=fields,
        devices=resolved.devices,
        skipped=resolved.skipped,
        selection=selection.as_json(),
        waves=waves,
        unit=unit,
        max_failure_rate=max_failure_rate,
    )


def _check(name: str, max_failure_rate: float, kind: kinds.Kind | None) -> None:
    noun = "rollout" if kind is None else kind.noun
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldhubError(f"a {noun} needs a name of at most 100 characters", path="name")
    if isinstance(max_failure_rate, bool) or not 0 <= max_failure_rate <= 1:
        raise FieldhubError("max_failure_rate is between 0 and 1", path="max_failure_rate")


def rollout_start(
    *,
    actor: Principal,
    name: str,
    fields: dict[str, Any],
    devices: Sequence[selectors.Device],
    waves: Sequence[int],
    skipped: Sequence[tuple[selectors.Device, str]] = (),
    selection: dict[str, Any] | None = None,
    unit: str = "percent",
    max_failure_rate: float = 0.1,
) -> Rollout:
    """Store a rollout of ``devices`` (checked: the actor's to operate) and start its first wave, in one
    transaction: ``fields`` are what it sends (``kind`` and what that kind needs), ``skipped`` the devices
    listed that it does not operate, with why. A rollout of another kind (``kinds``) plans its devices first:
    those that need nothing are skipped with the reason, and the waves are planned over the others (so a
    skipped device never takes a place in the first, small wave). Called by ``rollout_create`` and by the
    firmware campaigns' own form and API (``firmware.services.campaign_create``)."""
    other = kinds.of(fields["kind"])
    _check(name, max_failure_rate, other)
    with transaction.atomic():
        planned = other.plan(fields, devices) if other is not None else {}
        todo = [device for device in devices if device.pk not in planned]
        sizes = wave_sizes(len(todo), waves, unit, what="rollout" if other is None else other.noun)
        sites = sorted({d.site_id for d in devices} | {d.site_id for d, _ in skipped}, key=lambda s: (s is None, s))
        rollout = _stored(
            other,
            name=name.strip(),
            selection=selection or {},
            waves=sizes,
            max_failure_rate=max_failure_rate,
            created_by=author_of(actor),
            sites=sites,
            site_id=sites[0] if len(sites) == 1 else None,
            **fields,
        )
        rows: list[Member] = []
        if other is None:
            rows = [(o.endpoint_id, 0, o.pk, "") for o in _queue(rollout, todo[: sizes[0]])]
        else:
            rows = [(device.pk, 0, None, "") for device in todo[: sizes[0]]]
        start = sizes[0]
        for wave, size in enumerate(sizes[1:], 1):
            rows += [(device.pk, wave, None, "") for device in todo[start : start + size]]
            start += size
        rows += [(device.pk, None, None, planned[device.pk]) for device in devices if device.pk in planned]
        rows += [(device.pk, None, None, why) for device, why in skipped]
        _insert_members(rollout.pk, rows)
        if other is not None:
            _start_wave(rollout, 0)
            _advance(rollout)  # a first wave whose devices were all skipped as it started is done now
        announce.rollout_changed(rollout.pk, created=True)
    return rollout


def _stored(other: kinds.Kind | None, **fields: Any) -> Rollout:
    """The rollout's row; one of another kind takes the next number of its kind (``Rollout.number``): two
    made at once both try the same, the database keeps one (unique), the other tries the next."""
    if other is None:
        return Rollout.objects.create(**fields)
    for _attempt in range(NUMBER_ATTEMPTS):
        last = Rollout.objects.filter(number__isnull=False).aggregate(last=Max("number"))["last"] or 0
        try:
            with transaction.atomic():
                return Rollout.objects.create(number=last + 1, **fields)
        except IntegrityError:
            continue
    raise Conflict(f"another {other.noun} is being made: try again")


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
    """Start a wave: queue its operations, or have the rollout's kind start its members (a firmware update
    each). A device that no longer matches the selection's state filter (an ``online`` selection's device now
    offline) is skipped with the reason."""
    rollout.current_wave = wave
    rows = RolloutDevice.objects.filter(
        rollout=rollout, wave=wave, operation__isnull=True, update__isnull=True, skipped=""
    ).order_by("id")
    members = list(rows.values_list("id", "endpoint_id", "endpoint__site_id", "endpoint__online", "endpoint__sleeping"))
    status = rollout.selection.get("status")
    if status in STATUS_FILTERS:
        ids = [endpoint_id for _, endpoint_id, *_ in members]
        matching = set(Endpoint.objects.filter(STATUS_FILTERS[status], pk__in=ids).values_list("pk", flat=True))
        gone = [pk for pk, endpoint_id, *_ in members if endpoint_id not in matching]
        RolloutDevice.objects.filter(pk__in=gone).update(skipped=f"no longer {status} when wave {wave + 1} started")
        members = [member for member in members if member[1] in matching]
    other = kinds.of(rollout.kind)
    if other is not None:
        other.start(rollout, [(pk, endpoint_id) for pk, endpoint_id, *_ in members])
        return
    devices = [
        selectors.Device(endpoint_id, "", site, online, sleeping) for _, endpoint_id, site, online, sleeping in members
    ]
    queued = _queue(rollout, devices)
    _link([pk for pk, *_ in members], [operation.pk for operation in queued])


def _link(member_ids: list[int], operation_ids: list[int]) -> None:
    """Each member's operation, in one statement on PostgreSQL."""
    column_set(RolloutDevice, "operation_id", member_ids, operation_ids)


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
    """Once nothing of the current wave is queued or sent: halt if more of what it started failed than
    allowed (cancelled and skipped ones are no failures), else start the next wave, or complete.
    ``override``: an operator resumed the rollout after the current wave halted it."""
    changed = halted = False
    while True:
        counts = selectors.wave_tally(user=SYSTEM, rollout=rollout, wave=rollout.current_wave)
        if counts["open"]:
            break
        changed = True
        started, failed, skipped = counts["started"], counts["failed"], counts["skipped"]
        more = rollout.current_wave + 1 < len(rollout.waves)
        if not override and started and failed / started > rollout.max_failure_rate:
            rollout.status, rollout.finished_at = Rollout.Status.HALTED, timezone.now()
            rollout.reason = (
                f"wave {rollout.current_wave + 1}: {failed} of {started} device{'' if started == 1 else 's'} failed "
                f"({100 * failed / started:.0f} % > {100 * rollout.max_failure_rate:.0f} % allowed)"
                + (f", {skipped} skipped" if skipped else "")
                + (LATER_WAVES_NOT_STARTED if more else "")
            )
            halted = True
            break
        override = False
        if more:
            _start_wave(rollout, rollout.current_wave + 1)
            continue
        _complete(rollout)
        break
    if changed:
        rollout.save()
        announce.rollout_changed(rollout.pk, steered=halted)


def _complete(rollout: Rollout) -> None:
    counts = selectors.progress(Rollout.objects.filter(pk=rollout.pk).first() or rollout)
    other = kinds.of(rollout.kind)
    waves = "the wave is done" if len(rollout.waves) == 1 else f"all {len(rollout.waves)} waves done"
    total = counts["total"]
    done = "confirmed" if other is None else other.done
    reason = f"{waves}: {counts['confirmed']} of {total} device{'' if total == 1 else 's'} {done}"
    for word in ("failed", "cancelled", "skipped"):
        if counts[word]:
            reason += f", {counts[word]} {word}"
    if rollout.reason.startswith("resumed after halt"):
        reason += f"; {rollout.reason}"
    rollout.status, rollout.reason, rollout.finished_at = Rollout.Status.COMPLETED, reason, timezone.now()


def _noun(rollout: Rollout) -> str:
    other = kinds.of(rollout.kind)
    return "rollout" if other is None else other.noun


def _locked(actor: Principal, rollout: Rollout) -> Rollout:
    """The rollout, locked, for an actor who operates every device it reaches (403 otherwise)."""
    require_scope(actor, Role.OPERATOR)
    if not selectors.may_steer(user=actor, rollout=rollout):
        raise PermissionDenied(
            f"this {_noun(rollout)} reaches devices of sites you do not operate: a global operator steers it"
        )
    return Rollout.objects.select_for_update(of=("self",)).select_related("firmware").get(pk=rollout.pk)


def rollout_pause(*, actor: Principal, rollout: Rollout) -> Rollout:
    """Start no further waves (what is queued is still delivered, updates under way go on)."""
    with transaction.atomic():
        rollout = _locked(actor, rollout)
        if rollout.status != Rollout.Status.RUNNING:
            raise Conflict(f"the {_noun(rollout)} is {rollout.get_status_display()}: only a running one can be paused")
        rollout.status, rollout.reason = Rollout.Status.PAUSED, f"paused by {actor.get_username()}"
        rollout.save()
        announce.rollout_changed(rollout.pk, steered=True)
    return rollout


def rollout_resume(*, actor: Principal, rollout: Rollout) -> Rollout:
    """Go on with a paused rollout, or override the halt of a halted one: its next wave starts now, and the
    reason says who resumed it after what, e.g. "resumed after halt by otto: wave 1: 3 of 10 devices failed
    (30 % > 20 % allowed)"."""
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
            raise Conflict(
                f"the {_noun(rollout)} is {rollout.get_status_display()}: only a paused or halted one can be resumed"
            )
        announce.rollout_changed(rollout.pk, steered=True)
    return rollout


def rollout_abort(*, actor: Principal, rollout: Rollout) -> Rollout:
    """End the rollout, later waves never start: every operation of it still queued is cancelled (one being
    sent cannot be called back); a rollout of another kind stops its own (firmware: its updates under way
    are cancelled)."""
    with transaction.atomic():
        rollout = _locked(actor, rollout)
        if rollout.status not in Rollout.OPEN_STATUSES:
            raise Conflict(f"the {_noun(rollout)} is {rollout.get_status_display()} already")
        now = timezone.now()
        rollout.status, rollout.finished_at = Rollout.Status.ABORTED, now
        rollout.save()
        other = kinds.of(rollout.kind)
        if other is not None:
            stopped = other.abort(rollout)
        else:
            queued = EndpointOperation.objects.filter(rollout_device__rollout=rollout, status=Op.QUEUED)
            pushed = list(queued.order_by("id")[:OPERATION_ROWS_PUSHED])
            cancelled = queued.update(
                status=Op.CANCELLED, completed_at=now, updated_at=now, last_error=f"rollout {rollout.pk} aborted"
            )
            for operation in pushed:
                telemetry_announce.operation_changed(operation)
            stopped = f"{cancelled} queued operation{'' if cancelled == 1 else 's'} cancelled"
        rollout.reason = f"aborted by {actor.get_username()}: {stopped}"
        rollout.save()
        announce.rollout_changed(rollout.pk, steered=True)
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
