"""Writes of telemetry: storing what devices report (the ingest), one transaction per post."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration, unknown_slug
from core.lwm2m.nodes import Reading
from core.models import Endpoint, ResourceType
from core.registry import resource_types
from telemetry import fragments, hooks, store

ENDPOINT_NAME_MAX = 255
# Registration times before this (2001-09-09) are not epoch milliseconds: older bridges send 1.
_PLAUSIBLE_MS = 10**12


class IngestError(FieldhubError):
    """A post that cannot be stored; nothing of it was."""


@dataclass(frozen=True)
class IngestResult:
    endpoint: str
    resources: int
    event_id: int | None


def endpoint_name_check(name: object) -> str:
    """An LwM2M endpoint name as Fieldhub stores it: 1 to 255 printable characters."""
    if not isinstance(name, str) or not name:
        raise IngestError("the endpoint name (ep) must be a non-empty string", path="ep")
    if len(name) > ENDPOINT_NAME_MAX:
        raise IngestError(f"the endpoint name (ep) is longer than {ENDPOINT_NAME_MAX} characters", path="ep")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise IngestError("the endpoint name (ep) contains control characters", path="ep")
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
        endpoint_reachable(endpoint_id=saved.endpoint_id)
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
    saved = store.save(
        store.Post(endpoint_name=name, endpoint_fields=fields, rows=rows, paths=paths, received_at=now, event=event)
    )
    summary = None
    if event is not None and saved.event_id is not None:
        summary = fragments.event_summary_of_post(
            event_id=saved.event_id,
            endpoint_id=saved.endpoint_id,
            endpoint_name=name,
            event_type=event[0],
            description=event[1],
            measured_at=event[2],
            values=[(path, rt, value) for path, (rt, value) in zip(paths, values, strict=True)],
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


def endpoint_reachable(*, endpoint_id: int) -> None:
    """The device just registered, updated its registration or sent data: it can be talked to now.

    The hook where queued operations start on their way to the device (the downlink dispatch plugs in
    here). Called after the post is stored; it must not write to the database itself (it may schedule
    work with ``transaction.on_commit``).
    """


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
    """What a post says about its endpoint: seen now, online; registration events (10240) set its state."""
    fields: dict[str, object] = {
        "last_seen_at": now,
        "online": True,
        "sleeping": False,
        "registration_state": Endpoint.RegistrationState.REGISTERED,
    }
    for reading in readings:
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
