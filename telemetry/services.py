"""Writes of telemetry: storing what devices report (the ingest, one transaction per post), and the
downlink queue of operations for devices (enqueue, claim, complete, recover, cancel, retry)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core import leshan
from core.errors import Conflict, FieldhubError
from core.lwm2m import types as lwm2m
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration, unknown_slug
from core.lwm2m.nodes import NodeError, Path, Reading, flatten
from core.lwm2m.ranges import limit_of
from core.models import Endpoint, ResourceType
from core.permissions import require
from core.registry import resource_types
from core.roles import Role
from telemetry import fragments, hooks, store, wakeup
from telemetry.models import EndpointOperation

logger = logging.getLogger(__name__)

ENDPOINT_NAME_MAX = 255
# Registration times before this (2001-09-09) are not epoch milliseconds: older bridges send 1.
_PLAUSIBLE_MS = 10**12
# The LwM2M Server object: 1/x/1 Lifetime (seconds), 1/x/7 Binding ("U", "UQ", ...).
SERVER_OBJECT_ID, SERVER_LIFETIME, SERVER_BINDING = 1, 1, 7
LIFETIME_MAX = 2**31 - 1  # what the lifetime column holds


class IngestError(FieldhubError):
    """A post that cannot be stored; nothing of it was."""


@dataclass(frozen=True)
class IngestResult:
    endpoint: str
    resources: int
    event_id: int | None


def endpoint_name_check(name: object) -> str:
    """An LwM2M endpoint name as Fieldhub stores it: 1 to 255 visible characters (letters of any script,
    digits, punctuation, inner spaces), no slash, not only dots. Every way an endpoint is created (the
    bridge's posts, Leshan's registrations and resynchronisation) goes through ``ingest``, which calls this.

    Devices are addressed by name in URLs (/endpoints/<name>/, Leshan's /api/clients/<name>), where ``.``
    and ``..`` are path segments that clients resolve away; and a name must not look like another one:
    no invisible or direction-changing characters (Unicode format characters: bidi controls U+202A..U+202E
    and U+2066..U+2069, zero-width U+200B..U+200D, U+FEFF, soft hyphen…), no spaces other than the ordinary
    one, none at either end."""
    if not isinstance(name, str) or not name:
        raise IngestError("the endpoint name (ep) must be a non-empty string", path="ep")
    if len(name) > ENDPOINT_NAME_MAX:
        raise IngestError(f"the endpoint name (ep) is longer than {ENDPOINT_NAME_MAX} characters", path="ep")
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise IngestError("the endpoint name (ep) contains control characters", path="ep")
    if "/" in name:
        raise IngestError('the endpoint name (ep) contains "/"', path="ep")
    if not name.strip("."):
        raise IngestError("the endpoint name (ep) consists only of dots", path="ep")
    for char in name:
        category = unicodedata.category(char)
        if category == "Cf":
            raise IngestError(
                f"the endpoint name (ep) contains an invisible or direction-changing character "
                f"(U+{ord(char):04X} {unicodedata.name(char, 'format character')})",
                path="ep",
            )
        if category == "Zs" and char != " ":
            raise IngestError(
                f"the endpoint name (ep) contains a space other than U+0020 (U+{ord(char):04X})", path="ep"
            )
    if name != name.strip(" "):
        raise IngestError("the endpoint name (ep) begins or ends with a space", path="ep")
    try:
        lwm2m.check_text(name, "the endpoint name (ep)")
    except ValueError as exc:
        raise IngestError(str(exc), path="ep") from None
    return name


def ingest(*, endpoint_name: str, readings: Sequence[Reading], received_at: dt.datetime | None = None) -> IngestResult:
    """Store one post of ``readings`` from one device, atomically, in a constant number of queries.

    The endpoint is created or refreshed (registration events of object 10240 change its state), every
    reading becomes a Resource row, and a post of several readings becomes one Event linking them.
    Resource types unknown to the registry are registered from the payload's type; a value whose type
    conflicts with its registered type fails the whole post.
    """
    name = endpoint_name_check(endpoint_name)
    if not readings:
        raise IngestError("the post holds no resource values", path="val")
    if len(readings) > settings.INGEST_MAX_RESOURCES:
        raise IngestError(
            f"the post holds {len(readings)} resource values; the limit is {settings.INGEST_MAX_RESOURCES}",
            path="val",
            status=413,
        )
    now = received_at or timezone.now()
    keys = {(r.path.object_id, r.path.resource_id) for r in readings}
    types = resource_types.get_many(keys)
    firmware_readings = [r for r in readings if hooks.is_firmware_reading(r)]

    if store.ONE_STATEMENT and not firmware_readings and len(types) == len(keys):
        # The common case on PostgreSQL: one statement, which is its own transaction.
        saved = _save(name, readings, types, now)
    else:
        with transaction.atomic():
            if len(types) < len(keys):
                types.update(_resource_types_register([r for r in readings if _key(r) not in types]))
            saved = _save(name, readings, types, now)
            hooks.firmware_reported(saved.endpoint_id, firmware_readings)
    if _reachable(readings):
        # Dispatchers in this process; those elsewhere were NOTIFYed by the statement itself (PostgreSQL).
        wakeup.wake(saved.endpoint_id, notify_database=False)
    return IngestResult(endpoint=name, resources=saved.resources, event_id=saved.event_id)


def _save(
    name: str, readings: Sequence[Reading], types: dict[tuple[int, int], ResourceType], now: dt.datetime
) -> store.Saved:
    """Write the post (one statement on PostgreSQL) and announce it to the live pages after commit."""
    values = [_registered_value(reading, types) for reading in readings]  # may refuse the post: nothing written yet
    rows = [
        store.resource_row(
            resource_type_id=resource_type.pk,
            object_instance_id=reading.path.object_instance_id,  # type: ignore[arg-type]
            resource_instance_id=reading.path.resource_instance_id,
            columns=lwm2m.to_columns(resource_type.lwm2m_type, value),
            measured_at=_from_ms(reading.timestamp_ms) if reading.timestamp_ms is not None else now,
        )
        for reading, (resource_type, value) in zip(readings, values, strict=True)
    ]
    event = None
    if len(rows) > 1:
        names = {rt.object_id: rt.object_name for rt in types.values()}
        object_ids = sorted(names)
        event = (
            "+".join(str(i) for i in object_ids)[:64],
            " + ".join(names[i] for i in object_ids)[:255],
            max(row[-1] for row in rows),
        )
    fields = _endpoint_fields(readings, now)
    paths = [str(reading.path) for reading in readings]
    post = store.Post(
        endpoint_name=name,
        endpoint_fields=fields,
        rows=rows,
        paths=paths,
        received_at=now,
        event=event,
        wake=_reachable(readings),
    )
    saved = store.save(post)
    summary = None
    if event is not None and saved.event_id is not None:
        summary = fragments.event_summary_of_post(
            event_id=saved.event_id,
            endpoint_id=saved.endpoint_id,
            endpoint_name=name,
            event_type=event[0],
            description=event[1],
            measured_at=event[2],
            values=[(path, rt, value, row[-1]) for path, (rt, value), row in zip(paths, values, rows, strict=True)],
        )
    fragments.announce_ingest(
        endpoint_id=saved.endpoint_id,
        created=saved.created,
        status_changed=saved.previous != (fields["online"], fields["sleeping"]),
        event=summary,
    )
    return saved


def _registered_value(reading: Reading, types: dict[tuple[int, int], ResourceType]) -> tuple[ResourceType, Any]:
    """The reading's resource type, and its value converted to the registered type."""
    resource_type = types[_key(reading)]
    try:
        value = lwm2m.coerce(reading.value, from_type=reading.data_type, to_type=resource_type.lwm2m_type)
    except ValueError as exc:
        raise IngestError(f"{exc} ({resource_type.slug})", path=str(reading.path)) from None
    return resource_type, value


def _key(reading: Reading) -> tuple[int, int]:
    return (reading.path.object_id, reading.path.resource_id)  # type: ignore[return-value]


def _reachable(readings: Sequence[Reading]) -> bool:
    return any(
        not (r.path.object_id == REGISTRATION_OBJECT_ID and r.path.resource_id == Registration.UNREGISTERED)
        for r in readings
    )


def _resource_types_register(readings: Sequence[Reading]) -> dict[tuple[int, int], ResourceType]:
    """Register resource types first seen in a payload, named ``<object>_<resource>``, typed as sent
    (by the first reading of each; the others are checked against it like any registered type)."""
    object_names = dict(
        ResourceType.objects.filter(object_id__in={r.path.object_id for r in readings}, defined=True)
        .values_list("object_id", "object_name")
        .distinct()
    )
    first: dict[tuple[int, int], Reading] = {}
    for reading in readings:
        first.setdefault(_key(reading), reading)
    new = [
        ResourceType(
            object_id=r.path.object_id,
            resource_id=r.path.resource_id,
            object_name=object_names.get(r.path.object_id, f"Object {r.path.object_id}"),
            name=f"Resource {r.path.resource_id}",
            slug=unknown_slug(r.path.object_id, r.path.resource_id),  # type: ignore[arg-type]
            data_type=r.data_type.value,
            multiple=r.multiple,
            defined=False,
        )
        for r in first.values()
    ]
    # Another process may register the same type at the same moment: keep whichever row won.
    ResourceType.objects.bulk_create(new, ignore_conflicts=True)
    keys = {(r.path.object_id, r.path.resource_id) for r in readings}
    created = {
        (rt.object_id, rt.resource_id): rt
        for rt in ResourceType.objects.filter(object_id__in={k[0] for k in keys}, resource_id__in={k[1] for k in keys})
        if (rt.object_id, rt.resource_id) in keys
    }
    for key in keys - created.keys():
        raise IngestError(f"cannot register resource type {unknown_slug(*key)}: its name is taken", path=f"/{key[0]}")
    for rt in created.values():
        transaction.on_commit(lambda rt=rt: resource_types.add(rt))
    return created


def _endpoint_fields(readings: Sequence[Reading], now: dt.datetime) -> dict[str, object]:
    """What a post says about its endpoint: seen now, online and awake; registration events (10240) set its
    state; the LwM2M Server object (1/x/1 Lifetime, 1/x/7 Binding), when reported or read, its lifetime and
    binding (a binding with Q, LwM2M 1.0's queue mode, marks it as sleeping between wake-ups)."""
    fields: dict[str, object] = {
        "last_seen_at": now,
        "online": True,
        "sleeping": False,
        "registration_state": Endpoint.RegistrationState.REGISTERED,
    }
    for reading in readings:
        if reading.path.object_id == SERVER_OBJECT_ID:
            value = reading.value
            if reading.path.resource_id == SERVER_LIFETIME and type(value) is int and 0 < value <= LIFETIME_MAX:
                fields["lifetime"] = value
            elif reading.path.resource_id == SERVER_BINDING and isinstance(value, str) and value:
                fields["binding"] = value[:16]
                if "Q" in value:
                    fields["queue_mode"] = True
            continue
        if reading.path.object_id != REGISTRATION_OBJECT_ID:
            continue
        if reading.path.resource_id == Registration.REGISTERED:
            fields.update(online=True, registration_state=Endpoint.RegistrationState.REGISTERED)
            fields["registered_at"] = _registration_time(reading.value, now)
        elif reading.path.resource_id == Registration.UNREGISTERED:
            fields.update(online=False, sleeping=False, registration_state=Endpoint.RegistrationState.UNREGISTERED)
        elif reading.path.resource_id == Registration.UPDATED:
            fields.update(online=True, sleeping=False, registration_state=Endpoint.RegistrationState.REGISTERED)
    return fields


def _registration_time(value: object, now: dt.datetime) -> dt.datetime:
    if isinstance(value, int) and _PLAUSIBLE_MS <= value <= now.timestamp() * 1000 + 86_400_000:
        return _from_ms(value)
    return now


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


# --- the downlink queue: operations for devices ----------------------------------------------------------

Kind = EndpointOperation.Kind
Status = EndpointOperation.Status
EXECUTE_ARGUMENTS_MAX = 255


def operation_enqueue(
    *,
    actor: Any,
    endpoint: Endpoint,
    kind: str,
    path: str,
    value: Any = None,
    values: dict[str, Any] | None = None,
    arguments: str = "",
    system: bool = False,
) -> EndpointOperation:
    """Queue a write, execute, read, observe or observation cancel for a device.

    An operator's request (``system`` for Fieldhub's own: firmware updates, observations on registration)
    is checked here, before anything is queued: the path must be known to the registry, a written value
    must fit the resource's type, the resource must allow the operation. A bad request is a 422 now, not a
    failure at the device later. Writes: ``value`` for a resource or resource instance, ``values`` (id →
    value) for several resources of an instance or the instances of a multi-instance resource.
    """
    if not system:
        require(actor, Role.OPERATOR)
    if kind not in Kind.values:
        raise FieldhubError(f"kind must be one of {', '.join(k.lower() for k in Kind.values)}", path="kind")
    try:
        parsed = Path.parse(path)
    except NodeError as exc:
        raise FieldhubError(exc.problem, path="path") from None
    payload = _operation_payload(kind, parsed, value, values, arguments)
    with transaction.atomic():
        operation = EndpointOperation.objects.create(
            endpoint=endpoint,
            kind=kind,
            path=str(parsed),
            payload=payload,
            created_by=None if system else actor,
        )
        if endpoint.online and not endpoint.sleeping:
            wakeup.wake(endpoint.pk)
        fragments.announce_operation(operation, created=True)
    return operation


def _operation_payload(
    kind: str, path: Path, value: Any, values: dict[str, Any] | None, arguments: str
) -> dict[str, Any] | None:
    if kind == Kind.EXECUTE:
        if path.depth != 3:
            raise FieldhubError("execute needs a resource path, e.g. /3/0/4", path="path")
        resource_type = _known_type(path)
        if not resource_type.executable:
            raise FieldhubError(f"{path} ({resource_type.slug}) is not executable", path="path")
        if not isinstance(arguments, str) or len(arguments) > EXECUTE_ARGUMENTS_MAX:
            raise FieldhubError(f"arguments are a text of at most {EXECUTE_ARGUMENTS_MAX} characters", path="arguments")
        if any(ord(char) < 32 or ord(char) > 126 for char in arguments):
            raise FieldhubError("arguments must be printable ASCII (e.g. 0='reason',1)", path="arguments")
        return {"arguments": arguments} if arguments else None
    if kind == Kind.WRITE:
        return {"node": _write_node(path, value, values)}
    if path.depth >= 3:  # read, observe, cancel: a resource must be readable
        resource_type = _known_type(path)
        if kind != Kind.OBSERVE_CANCEL and not resource_type.readable:
            raise FieldhubError(f"{path} ({resource_type.slug}) is not readable", path="path")
    return None


def _known_type(path: Path) -> ResourceType:
    key = (path.object_id, path.resource_id)
    found = resource_types.get_many([key]).get(key)  # type: ignore[list-item]
    if found is None:
        raise FieldhubError(f"{path} is not a resource the registry knows", path="path")
    return found


def _write_node(path: Path, value: Any, values: dict[str, Any] | None) -> dict[str, Any]:
    """The Leshan node a write sends (contract §1.5), every value checked against its resource's type."""
    if path.depth == 1:
        raise FieldhubError("write needs an instance or resource path, not a whole object", path="path")
    if path.depth == 2:
        if not values:
            raise FieldhubError("writing an instance needs values: {resource id: value}", path="values")
        resources = []
        for key, raw in sorted(values.items(), key=lambda item: str(item[0])):
            resource_path = path.child(_id_of(key, "values"))
            resources.append(_resource_node(resource_path, raw))
        return {"id": path.object_instance_id, "kind": "instance", "resources": resources}
    resource_type = _writable(path)
    if path.depth == 4:
        return _leaf(path.resource_instance_id, "resourceInstance", resource_type, value, path)  # type: ignore[arg-type]
    if resource_type.multiple:
        if not values:
            raise FieldhubError(f"{path} has several instances: give values {{instance id: value}}", path="values")
        checked = {
            str(_id_of(key, "values")): _checked(resource_type, raw, path.child(_id_of(key, "values")))
            for key, raw in values.items()
        }
        return {"id": path.resource_id, "kind": "multiResource", "type": resource_type.data_type, "values": checked}
    return _leaf(path.resource_id, "singleResource", resource_type, value, path)  # type: ignore[arg-type]


def _resource_node(path: Path, raw: Any) -> dict[str, Any]:
    resource_type = _writable(path)
    if resource_type.multiple:
        raise FieldhubError(f"{path} has several instances: write it on its own", path="values")
    return _leaf(path.resource_id, "singleResource", resource_type, raw, path)  # type: ignore[arg-type]


def _writable(path: Path) -> ResourceType:
    resource_type = _known_type(path)
    if not resource_type.writable:
        raise FieldhubError(f"{path} ({resource_type.slug}) is not writable", path="path")
    return resource_type


def _leaf(node_id: int, kind: str, resource_type: ResourceType, raw: Any, path: Path) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": kind,
        "type": resource_type.data_type,
        "value": _checked(resource_type, raw, path),
    }


def _checked(resource_type: ResourceType, raw: Any, path: Path) -> Any:
    text_type = resource_type.lwm2m_type in (lwm2m.DataType.STRING, lwm2m.DataType.CORELINK)
    if raw is None or (raw == "" and not text_type):  # "" is a text value (an empty Package URI resets 5/0)
        raise FieldhubError(f"{path}: a value is needed", path="value")
    if resource_type.lwm2m_type == lwm2m.DataType.BOOLEAN and isinstance(raw, str):  # as a form sends it
        raw = {"true": True, "false": False}.get(raw.strip().lower(), raw)
    try:
        value = lwm2m.parse_value(resource_type.lwm2m_type, raw)
    except ValueError as exc:
        raise FieldhubError(f"{path}: {exc}", path="value") from None
    limit = limit_of(resource_type.lwm2m_type, resource_type.range_enumeration)
    problem = limit.problem(value) if limit else None
    if problem:
        raise FieldhubError(f"{path}: the value {problem}", path="value")
    return lwm2m.to_json(resource_type.lwm2m_type, value)


def _id_of(key: Any, field: str) -> int:
    text = str(key)
    if not (text.isascii() and text.isdigit() and int(text) <= lwm2m.ID_MAX):
        raise FieldhubError(f'"{text[:20]}" is not an LwM2M id (0..65535)', path=field)
    return int(text)


def operation_cancel(*, actor: Any, operation: EndpointOperation) -> EndpointOperation:
    """Cancel a queued operation. One being sent cannot be called back (409); a finished one stays as it is."""
    require(actor, Role.OPERATOR)
    with transaction.atomic():
        updated = EndpointOperation.objects.filter(pk=operation.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, completed_at=timezone.now(), updated_at=timezone.now()
        )
        operation.refresh_from_db()
        if not updated:
            raise Conflict(
                f"operation {operation.pk} is {operation.status.lower()}: only a queued one can be cancelled"
            )
        fragments.announce_operation(operation)
    return operation


def operation_retry(*, actor: Any, operation: EndpointOperation) -> EndpointOperation:
    """Queue a failed or cancelled operation again, with its attempts reset. One another app still answers
    for is refused (409): the Package URI write of a firmware update that was cancelled, for one."""
    require(actor, Role.OPERATOR)
    with transaction.atomic():
        refusal = hooks.retry_refusals([operation.pk]).get(operation.pk)
        if refusal:
            raise Conflict(f"operation {operation.pk} cannot be retried: {refusal}")
        updated = EndpointOperation.objects.filter(
            pk=operation.pk, status__in=[Status.FAILED, Status.CANCELLED]
        ).update(
            status=Status.QUEUED,
            attempts=0,
            next_attempt_at=None,
            last_error="",
            completed_at=None,
            request_id="",
            updated_at=timezone.now(),
        )
        operation.refresh_from_db()
        if not updated:
            raise Conflict(
                f"operation {operation.pk} is {operation.status.lower()}: only a failed or cancelled one can be retried"
            )
        endpoint = operation.endpoint
        if endpoint.online and not endpoint.sleeping:
            wakeup.wake(endpoint.pk)
        fragments.announce_operation(operation)
    return operation


@dataclass(frozen=True)
class Claim:
    """An operation a dispatcher now owns (SENDING) and must send, then complete."""

    id: int
    endpoint_id: int
    endpoint_name: str
    kind: str
    path: str
    payload: dict[str, Any] | None


def operations_claim(*, endpoint_ids: Sequence[int] | None, limit: int) -> list[Claim]:
    """Claim the next operation of up to ``limit`` devices: its oldest queued one, if it is due and the
    device has none being sent. Only ever one operation per device is SENDING, so they arrive in the
    order they were queued.

    Exactly one dispatcher wins a device: the endpoint rows are locked ``FOR UPDATE SKIP LOCKED`` (others
    skip them), and the no-SENDING check and the claim run as fresh statements under that lock, so they
    see what a dispatcher that held it before committed. (On SQLite the lock is ignored: run one
    dispatcher.) Woken devices are those in ``endpoint_ids``; a sweep (None) looks at every online device
    that is not known to be asleep.
    """
    now = timezone.now()
    queued_due = EndpointOperation.objects.filter(endpoint=OuterRef("pk"), status=Status.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    sending = EndpointOperation.objects.filter(endpoint=OuterRef("pk"), status=Status.SENDING)
    candidates = Endpoint.objects.filter(Exists(queued_due)).exclude(Exists(sending))
    if endpoint_ids is not None:
        candidates = candidates.filter(pk__in=list(endpoint_ids))
    else:
        candidates = candidates.filter(online=True, sleeping=False)
    with transaction.atomic():
        locked = dict(
            candidates.order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "name")[:limit]
        )
        if not locked:
            return []
        busy = set(
            EndpointOperation.objects.filter(endpoint_id__in=locked, status=Status.SENDING).values_list(
                "endpoint_id", flat=True
            )
        )
        first = (
            EndpointOperation.objects.filter(endpoint_id__in=locked, status=Status.QUEUED)
            .annotate(place=Window(RowNumber(), partition_by=F("endpoint_id"), order_by=F("id").asc()))
            .filter(place=1)
        )
        due = [
            op
            for op in first
            if op.endpoint_id not in busy and (op.next_attempt_at is None or op.next_attempt_at <= now)
        ]
        EndpointOperation.objects.filter(pk__in=[op.pk for op in due], status=Status.QUEUED).update(
            status=Status.SENDING, last_attempt_at=now, updated_at=now
        )
        for op in due:
            op.status, op.last_attempt_at = Status.SENDING, now
            fragments.announce_operation(op)
    return [Claim(op.pk, op.endpoint_id, locked[op.endpoint_id], op.kind, op.path, op.payload) for op in due]


def operation_complete(*, claim: Claim, response: leshan.Response) -> bool:
    """Record what Leshan answered for a claimed operation; True when the device's next operation may go.

    CONFIRMED: done (a read's or observe's content is stored as telemetry). DEVICE_ERROR, REJECTED:
    failed, retrying will not help. SLEEPING, NOT_REGISTERED: queued again, no attempt spent, the device
    marked asleep or unregistered until it is heard from. LESHAN_DOWN (no connection to Leshan): queued
    again, no attempt spent, tried again after OPERATION_BACKOFF_SECONDS, so that commands outlive a Leshan
    restart however long it takes. TIMEOUT, SERVER_ERROR, UNREACHABLE: an attempt
    spent, queued again after an exponential backoff, failed after OPERATION_MAX_ATTEMPTS. DELAYED: Leshan
    holds it for the sleeping device; it stays SENDING until REQUEST_RESPONSE.
    """
    now = timezone.now()
    with transaction.atomic():
        operation = EndpointOperation.objects.select_for_update().select_related("endpoint").filter(pk=claim.id).first()
        if operation is None or operation.status != Status.SENDING:
            return False
        outcome = response.outcome
        operation.result = response.as_json()
        proceed = False
        if outcome == leshan.Outcome.CONFIRMED:
            operation.attempts += 1
            operation.status, operation.completed_at, operation.last_error = Status.CONFIRMED, now, ""
            if response.content is not None and operation.kind in (Kind.READ, Kind.OBSERVE):
                _store_content(operation, response.content)
            proceed = True
        elif outcome in (leshan.Outcome.DEVICE_ERROR, leshan.Outcome.REJECTED):
            operation.attempts += 1
            operation.status, operation.completed_at, operation.last_error = Status.FAILED, now, response.detail
            proceed = True
        elif outcome.waits_for_device:
            operation.status, operation.last_error = Status.QUEUED, response.detail
            _endpoint_unreachable(operation.endpoint, outcome)
        elif outcome == leshan.Outcome.LESHAN_DOWN:
            operation.status, operation.last_error = Status.QUEUED, response.detail
            operation.next_attempt_at = now + dt.timedelta(seconds=settings.OPERATION_BACKOFF_SECONDS)
        elif outcome == leshan.Outcome.DELAYED:
            operation.request_id = response.request_id or ""
            operation.last_error = "delayed by Leshan until the device wakes"
        else:  # retryable
            operation.attempts += 1
            operation.last_error = response.detail
            if operation.attempts >= settings.OPERATION_MAX_ATTEMPTS:
                operation.status, operation.completed_at = Status.FAILED, now
                proceed = True
            else:
                operation.status = Status.QUEUED
                backoff = settings.OPERATION_BACKOFF_SECONDS * 2 ** (operation.attempts - 1)
                operation.next_attempt_at = now + dt.timedelta(seconds=backoff)
        operation.save()
        fragments.announce_operation(operation)
    return proceed


def _endpoint_unreachable(endpoint: Endpoint, outcome: leshan.Outcome) -> None:
    """Leshan says the device sleeps, or is not registered: believe it until the device is heard from."""
    if outcome == leshan.Outcome.SLEEPING:
        fields = {"sleeping": True, "queue_mode": True}  # Leshan says so of queue-mode clients only
    else:
        fields = {"online": False, "sleeping": False, "registration_state": Endpoint.RegistrationState.UNREGISTERED}
    if any(getattr(endpoint, name) != value for name, value in fields.items()):
        Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
        fragments.announce_endpoint(endpoint.pk, status_changed=True)


def endpoints_expire(*, now: dt.datetime | None = None) -> int:
    """The presence rule for devices that went quiet, run on every sweep of a dispatcher (and so at once when
    one starts: what went quiet while no server ran is caught then). With the ingest, which marks a device
    it hears from (data, registration, update) online and awake, this is the one place that decides a
    device's state from time alone; every page, count and API response reads the columns it sets.

    - **Lapsed**: online, and not heard from for its lifetime plus REGISTRATION_GRACE_SECONDS. The lifetime
      is the device's own (from Leshan's registration, or the Server object's 1/x/1 it reported), else
      DEFAULT_LIFETIME_SECONDS (the flownexus bridge posts registrations without one). It becomes
      unregistered and offline, as Leshan expires a registration, until it is heard from again.
    - **Asleep**: online and awake, in queue mode, and not heard from for QUEUE_MODE_AWAKE_SECONDS: it is
      sleeping, as Leshan's presence service decides (whose SLEEPING the bridge never posts).

    Each device changed is announced to the live pages (its row, its header, the counts). Returns how many
    devices changed."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.REGISTRATION_GRACE_SECONDS)
    changed = 0
    lifetimes = set(Endpoint.objects.filter(online=True).values_list("lifetime", flat=True).distinct())
    for lifetime in lifetimes:  # one query per lifetime in use (few), the cut-off computed here
        seconds = lifetime or settings.DEFAULT_LIFETIME_SECONDS
        lapsed = Endpoint.objects.filter(
            online=True, lifetime=lifetime, last_seen_at__lt=now - dt.timedelta(seconds=seconds) - grace
        )
        changed += _endpoints_change(
            lapsed, online=False, sleeping=False, registration_state=Endpoint.RegistrationState.UNREGISTERED
        )
    awake_until = now - dt.timedelta(seconds=settings.QUEUE_MODE_AWAKE_SECONDS)
    asleep = Endpoint.objects.filter(online=True, sleeping=False, queue_mode=True, last_seen_at__lt=awake_until)
    changed += _endpoints_change(asleep, sleeping=True)
    return changed


def _endpoints_change(endpoints: QuerySet[Endpoint], **fields: Any) -> int:
    """Update the devices ``endpoints`` selects (the filter is applied again by the update, so a device heard
    from meanwhile is left alone) and announce them after commit."""
    with transaction.atomic():
        ids = list(endpoints.values_list("pk", flat=True))
        if not ids:
            return 0
        changed = endpoints.filter(pk__in=ids).update(**fields)
        for pk in ids:
            fragments.announce_endpoint(pk, status_changed=True)
    return changed


def _store_content(operation: EndpointOperation, content: Any) -> None:
    """A read's or observe's answer is telemetry like any other value (stored after this transaction)."""
    try:
        readings = flatten(content, Path.parse(operation.path))
    except NodeError as exc:
        logger.warning("operation %s: Leshan's content was not readable: %s", operation.pk, exc)
        return
    name = operation.endpoint.name
    transaction.on_commit(lambda: _ingest_logged(name, readings, operation.pk))


def _ingest_logged(name: str, readings: list[Reading], operation_id: int) -> None:
    try:
        ingest(endpoint_name=name, readings=readings)
    except FieldhubError as exc:
        logger.warning("operation %s: the value read could not be stored: %s", operation_id, exc)


def operations_recover() -> int:
    """Queue again what a dispatcher that stopped left SENDING (its attempt counts), except executes, which
    fail instead (Leshan may have delivered one already; running a reboot or an update twice is not harmless,
    so the operator decides), and fail what Leshan has held for a sleeping device longer than
    OPERATION_DELAYED_TIMEOUT. Returns how many were touched."""
    now = timezone.now()
    lost = EndpointOperation.objects.filter(
        status=Status.SENDING,
        request_id="",
        last_attempt_at__lt=now - dt.timedelta(seconds=settings.OPERATION_SENDING_TIMEOUT),
    )
    stale_delayed = EndpointOperation.objects.filter(
        status=Status.SENDING,
        last_attempt_at__lt=now - dt.timedelta(seconds=settings.OPERATION_DELAYED_TIMEOUT),
    ).exclude(request_id="")
    touched = 0
    with transaction.atomic():
        for operation in lost.select_for_update(skip_locked=True):
            operation.attempts += 1
            operation.last_error = "the dispatcher stopped while sending; queued again"
            if operation.kind == EndpointOperation.Kind.EXECUTE:
                operation.status, operation.completed_at = Status.FAILED, now
                operation.last_error = (
                    "the dispatcher stopped while sending; whether the device executed it is unknown: "
                    "check the device, then retry"
                )
            elif operation.attempts >= settings.OPERATION_MAX_ATTEMPTS:
                operation.status, operation.completed_at = Status.FAILED, now
            else:
                operation.status = Status.QUEUED
            operation.save()
            fragments.announce_operation(operation)
            touched += 1
        for operation in stale_delayed.select_for_update(skip_locked=True):
            operation.status, operation.completed_at = Status.FAILED, now
            operation.last_error = "Leshan delayed it, and the device did not wake in time"
            operation.save()
            fragments.announce_operation(operation)
            touched += 1
    return touched


def operation_delayed_response(*, endpoint_name: str, request_id: str, response: dict[str, Any]) -> bool:
    """Leshan's REQUEST_RESPONSE for a delayed request: complete the operation that waits for it."""
    operation = EndpointOperation.objects.filter(
        endpoint__name=endpoint_name, request_id=request_id, status=Status.SENDING
    ).first()
    if operation is None:
        return False
    answer = leshan.classify(200, json.dumps(response))
    claim = Claim(operation.pk, operation.endpoint_id, endpoint_name, operation.kind, operation.path, operation.payload)
    operation_complete(claim=claim, response=answer)
    wakeup.wake(operation.endpoint_id)
    return True


# --- Leshan's event stream: registrations and presence ----------------------------------------------------

REGISTRATION_EVENTS = {
    "REGISTRATION": Registration.REGISTERED,
    "UPDATED": Registration.UPDATED,
    "DEREGISTRATION": Registration.UNREGISTERED,
}


def endpoint_registration(*, event: str, registration: dict[str, Any]) -> IngestResult:
    """A REGISTRATION, UPDATED or DEREGISTRATION from Leshan's event stream: stored as the same object-10240
    reading the flownexus bridge posts (so both ways of connecting Leshan give the same data), plus what
    the registration says of the device (lifetime, binding, LwM2M version, whether it sleeps). A new
    registration gets the observations of LESHAN_OBSERVE queued."""
    name = registration.get("endpoint")
    registered_ms = registration.get("registrationDate")
    if type(registered_ms) is not int:
        registered_ms = int(timezone.now().timestamp() * 1000)
    reading = Reading(Path(REGISTRATION_OBJECT_ID, 0, REGISTRATION_EVENTS[event]), lwm2m.DataType.TIME, registered_ms)
    with transaction.atomic():
        result = ingest(endpoint_name=name, readings=[reading])  # type: ignore[arg-type]
        if event != "DEREGISTRATION":
            Endpoint.objects.filter(name=name).update(**_registration_fields(registration))
        if event == "REGISTRATION":
            endpoint = Endpoint.objects.get(name=name)
            for path in settings.LESHAN_OBSERVE:
                operation_enqueue(actor=None, endpoint=endpoint, kind=Kind.OBSERVE, path=path, system=True)
    return result


def _registration_fields(registration: dict[str, Any]) -> dict[str, Any]:
    """Endpoint columns from Leshan's registration JSON (contract §3), each only if well-formed."""
    fields: dict[str, Any] = {}
    lifetime = registration.get("lifetime")
    if type(lifetime) is int and lifetime >= 0:
        fields["lifetime"] = lifetime
    for key, column, size in (("bindingMode", "binding", 16), ("lwM2mVersion", "lwm2m_version", 8)):
        value = registration.get(key)
        if isinstance(value, str):
            fields[column] = value[:size]
    registration_id = registration.get("registrationId")
    if isinstance(registration_id, str):
        fields["registration_id"] = registration_id[:64]
    binding = registration.get("bindingMode")
    if "queuemode" in registration or isinstance(binding, str):  # LwM2M 1.1: queuemode; 1.0: a binding "UQ"
        fields["queue_mode"] = registration.get("queuemode") is True or (isinstance(binding, str) and "Q" in binding)
    if registration.get("queuemode") is True:
        fields["sleeping"] = registration.get("sleeping") is True
    return fields


def endpoint_presence(*, name: str, sleeping: bool) -> bool:
    """Leshan's SLEEPING or AWAKE for a queue-mode device; an awake device gets its queued operations.
    False for a device Fieldhub does not know."""
    endpoint = Endpoint.objects.filter(name=name).first()
    if endpoint is None:
        return False
    with transaction.atomic():
        fields: dict[str, Any] = {"sleeping": sleeping, "queue_mode": True}  # only queue-mode clients sleep
        if not sleeping:
            fields.update(online=True, last_seen_at=timezone.now())
        Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
        fragments.announce_endpoint(endpoint.pk, status_changed=endpoint.sleeping != sleeping or not endpoint.online)
        if not sleeping:
            wakeup.wake(endpoint.pk)
    return True


def endpoints_resync(*, registrations: list[dict[str, Any]]) -> int:
    """After the event stream reconnected (Leshan does not replay what was missed): make the registry agree
    with Leshan's list of registrations. Returns how many devices changed."""
    present: dict[str, dict[str, Any]] = {}
    for registration in registrations:
        name = registration.get("endpoint")
        try:
            present[endpoint_name_check(name)] = registration
        except IngestError as exc:  # Leshan accepts names Fieldhub refuses: skip it, resynchronise the rest
            logger.warning("Leshan registration of %r ignored: %s", name, exc)
    changed = 0
    with transaction.atomic():
        for endpoint in Endpoint.objects.select_for_update().filter(
            Q(name__in=list(present)) | Q(registration_state=Endpoint.RegistrationState.REGISTERED)
        ):
            registration = present.get(endpoint.name)
            if registration is None:
                fields: dict[str, Any] = {
                    "registration_state": Endpoint.RegistrationState.UNREGISTERED,
                    "online": False,
                    "sleeping": False,
                }
            else:
                fields = {
                    "registration_state": Endpoint.RegistrationState.REGISTERED,
                    "online": True,
                    "sleeping": False,
                    **_registration_fields(registration),
                }
                # Leshan heard from it at its last update: newer than what Fieldhub saw, it keeps the
                # sweep from taking a device that is registered for one that lapsed while nobody listened.
                updated_ms = registration.get("lastUpdate")
                if type(updated_ms) is int and _PLAUSIBLE_MS <= updated_ms <= timezone.now().timestamp() * 1000:
                    updated = _from_ms(updated_ms)
                    if endpoint.last_seen_at is None or updated > endpoint.last_seen_at:
                        fields["last_seen_at"] = updated
            if any(getattr(endpoint, key) != value for key, value in fields.items()):
                Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
                fragments.announce_endpoint(endpoint.pk, status_changed=True)
                changed += 1
            if registration is not None and not fields.get("sleeping"):
                wakeup.wake(endpoint.pk)
        known = set(Endpoint.objects.filter(name__in=list(present)).values_list("name", flat=True))
        for name in set(present) - known:  # registered while we were not listening
            endpoint_registration(event="REGISTRATION", registration=present[name])
            changed += 1
    return changed
