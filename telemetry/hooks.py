"""Where telemetry hands over to the apps built on it, without importing them.

Telemetry must not depend on firmware (firmware depends on telemetry), so the firmware app registers here
when Django starts (``FirmwareConfig.ready``):

- its listener for firmware-related readings, which ingest calls inside its transaction with those
  readings of one post, so the update's state changes commit together with the data;
- fleet counters (``updating``) for the dashboard's counts;
- periodic tasks (firmware phase timeouts) for the dispatcher's sweep;
- its kind of rollout (firmware updates: campaigns) in ``telemetry.rollouts.kinds``.
- the end of a firmware update (succeeded or failed), for the alarm rules.

And the alarm rules (``telemetry.alarms``, registered by ``TelemetryConfig.ready``) plug into the ingest
here: ``readings_watched`` says in memory whether a post holds a reading some rule watches (such a post
leaves the one-statement path for a transaction), and ``readings_judged`` is called in that transaction,
after the store, with the post's values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration
from core.lwm2m.nodes import Reading

if TYPE_CHECKING:
    import datetime as dt

    from django.db.models import QuerySet

    from core.models import Endpoint
    from telemetry.ingest.rows import PostValue
    from telemetry.ingest.store import AlsoRead

# Device 3/0/3 Firmware Version, Firmware Update 5/0/3 State and 5/0/5 Update Result, and a registration
# (a device updating its firmware reboots and registers again).
FIRMWARE_RESOURCES = frozenset({(3, 3), (5, 3), (5, 5), (REGISTRATION_OBJECT_ID, Registration.REGISTERED)})

FirmwareListener = Callable[[int, Sequence[Reading]], None]

_firmware_listener: FirmwareListener | None = None


def set_firmware_listener(listener: FirmwareListener | None) -> None:
    global _firmware_listener
    _firmware_listener = listener


def firmware_reported(endpoint_id: int, readings: Sequence[Reading]) -> None:
    """Called by ingest with the firmware-related readings of one post (see FIRMWARE_RESOURCES)."""
    if _firmware_listener is not None and readings:
        _firmware_listener(endpoint_id, readings)


def is_firmware_reading(reading: Reading) -> bool:
    return (reading.path.object_id, reading.path.resource_id) in FIRMWARE_RESOURCES


# The end of a firmware update: the device, whether it failed, and why (the error shown on its page).
FirmwareOutcomeListener = Callable[[int, bool, str], None]

_firmware_outcome_listeners: list[FirmwareOutcomeListener] = []


def add_firmware_outcome_listener(listener: FirmwareOutcomeListener) -> None:
    if listener not in _firmware_outcome_listeners:
        _firmware_outcome_listeners.append(listener)


def firmware_update_finished(endpoint_id: int, *, failed: bool, detail: str = "") -> None:
    """Called by the firmware app, inside its transaction, when an update succeeded or failed."""
    for listener in _firmware_outcome_listeners:
        listener(endpoint_id, failed, detail)


# The alarm rules' side of the ingest.
ReadingsWatched = Callable[[Iterable[tuple[int, int]]], bool]
ReadingsJudge = Callable[[str, int, "int | None", Sequence["PostValue"], Any], None]
StateRead = Callable[[Sequence[Reading], "dt.datetime"], "AlsoRead | None"]
ReadingsGuard = Callable[[str, Sequence["PostValue"]], "AlsoRead | None"]

_readings_watched: ReadingsWatched | None = None
_readings_judge: ReadingsJudge | None = None
_state_read: StateRead | None = None
_readings_guard: ReadingsGuard | None = None


def set_readings_judge(
    watched: ReadingsWatched | None,
    judge: ReadingsJudge | None,
    state_read: StateRead | None = None,
    guard: ReadingsGuard | None = None,
) -> None:
    global _readings_watched, _readings_judge, _state_read, _readings_guard
    _readings_watched, _readings_judge, _state_read, _readings_guard = watched, judge, state_read, guard


def readings_guard(name: str, values: Sequence[PostValue]) -> AlsoRead | None:
    """For a watched post on PostgreSQL: the guard under which its one statement may store it without a
    transaction (no alarm or pending duration can change: the guard checks it within the statement), or
    None when it needs the transaction and the judge."""
    return _readings_guard(name, values) if _readings_guard is not None else None


def readings_state_read(readings: Sequence[Reading], now: dt.datetime) -> AlsoRead | None:
    """What the store's one statement (PostgreSQL) should read for the judge (the rules' state of the
    device), so that judging a post costs no statement of its own when nothing changes."""
    return _state_read(readings, now) if _state_read is not None else None


def readings_watched(keys: Iterable[tuple[int, int]]) -> bool:
    """Whether a rule watches any of these (object id, resource id): in memory, no query per post."""
    return _readings_watched is not None and _readings_watched(keys)


def readings_judged(
    name: str, endpoint_id: int, site_id: int | None, values: Sequence[PostValue], state: Any = None
) -> None:
    """Called by ingest, inside its transaction and after the store, with a watched post's values (and
    what the store read for it: ``readings_state_read``; None: the judge reads it)."""
    if _readings_judge is not None:
        _readings_judge(name, endpoint_id, site_id, values, state)


# A fleet counter counts among the devices it is given (the dashboard's user's, or one site's), by their
# site (None: devices in no site), in one query.
FleetCounter = Callable[["QuerySet[Endpoint]"], dict[int | None, int]]

_fleet_counters: dict[str, FleetCounter] = {}


def add_fleet_counter(name: str, count: FleetCounter) -> None:
    """A count shown beside online / sleeping / offline on the dashboard (e.g. ``updating``)."""
    _fleet_counters[name] = count


def fleet_counters() -> dict[str, FleetCounter]:
    return dict(_fleet_counters)


_periodic: list[Callable[[], object]] = []


def add_periodic(task: Callable[[], object]) -> None:
    """Something to run on every sweep of a downlink dispatcher (every DISPATCH_SWEEP_SECONDS)."""
    if task not in _periodic:
        _periodic.append(task)


def periodic_tasks() -> list[Callable[[], object]]:
    return list(_periodic)


# Operations another app queued and still answers for (a firmware update's Package URI write): given
# operation ids, the reason each of them may not be retried; telemetry's retry refuses them and its pages
# offer no Retry for them.
RetryGuard = Callable[[Sequence[int]], dict[int, str]]

_retry_guards: list[RetryGuard] = []


def add_retry_guard(guard: RetryGuard) -> None:
    if guard not in _retry_guards:
        _retry_guards.append(guard)


def retry_refusals(operation_ids: Sequence[int]) -> dict[int, str]:
    """Why each of these operations may not be retried (absent: it may), in one query per guard."""
    refusals: dict[int, str] = {}
    if not operation_ids:
        return refusals
    for guard in _retry_guards:
        for pk, reason in guard(operation_ids).items():
            refusals.setdefault(pk, reason)
    return refusals


# Listeners told, inside the transaction, that operations changed status (claimed, completed, cancelled,
# retried, recovered): ``finished`` when they reached an end (confirmed, failed, cancelled). Rollouts move
# their waves on from here (``telemetry.rollouts``); firmware rollouts move on as their updates finish.
OperationListener = Callable[[Sequence[int], bool], None]

_operation_listeners: list[OperationListener] = []


def add_operation_listener(listener: OperationListener) -> None:
    if listener not in _operation_listeners:
        _operation_listeners.append(listener)


def operations_changed(operation_ids: Sequence[int], *, finished: bool) -> None:
    """Called by the downlink queue with the operations one of its writes changed."""
    if not operation_ids:
        return
    for listener in _operation_listeners:
        listener(operation_ids, finished)
