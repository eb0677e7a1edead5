"""From readings to the rows a post writes: a pure function (no query, no I/O), tested on its own.

``post_build`` turns one post's readings, with their registered resource types, into a ``Post``: one
``ResourceRow`` per reading (the value converted to its registered type and split into its column), the
``EventRow`` when the post holds several values, the device's state the post implies
(``telemetry.lifecycle.state.reported``), and what the live pages list of it (``values``). A value that
does not fit its registered type refuses the post here, before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.lwm2m import types as lwm2m
from core.lwm2m.nodes import Reading
from core.models import ResourceType
from telemetry.ingest.names import IngestError
from telemetry.lifecycle import state

TypeKey = tuple[int, int]  # (object id, resource id): what a resource type is registered by


class ResourceRow(NamedTuple):
    """One Resource row, its columns in the order the store writes them (endpoint and received_at are the post's)."""

    resource_type_id: int
    object_instance_id: int
    resource_instance_id: int | None
    value_int: int | None
    value_float: float | None
    value_bool: bool | None
    value_str: str | None
    value_bytes: bytes | None
    measured_at: dt.datetime


ROW_COLUMNS: tuple[str, ...] = ResourceRow._fields


class EventRow(NamedTuple):
    """The Event a post of several values becomes."""

    event_type: str  # the object ids of its values joined by "+", e.g. "3+3303"
    description: str  # their object names, e.g. "Device + Temperature"
    measured_at: dt.datetime  # its newest value's time


class PostValue(NamedTuple):
    """One value as the live pages list it (the event row): no query needed to show it."""

    path: str
    resource_type: ResourceType
    value: lwm2m.Value
    measured_at: dt.datetime


@dataclass(frozen=True)
class Post:
    endpoint_name: str
    # Endpoint columns to set, on insert and on conflict alike (last_seen_at, online, ...).
    endpoint_fields: dict[str, Any]
    rows: Sequence[ResourceRow]
    # The LwM2M path of each row ("/3303/0/5700"), for the latest-value pointers.
    paths: Sequence[str]
    received_at: dt.datetime
    event: EventRow | None
    # The device is reachable now: dispatchers are woken for its queued operations.
    wake: bool
    values: Sequence[PostValue]


def type_key(reading: Reading) -> TypeKey:
    return (reading.path.object_id, reading.path.resource_id)  # type: ignore[return-value]  # a reading's path is at resource depth


def post_build(
    *, endpoint_name: str, readings: Sequence[Reading], types: dict[TypeKey, ResourceType], now: dt.datetime
) -> Post:
    """The rows of one post; ``types`` holds the resource type of every reading."""
    values = [_value(reading, types[type_key(reading)], now) for reading in readings]
    rows = [_row(value, reading) for value, reading in zip(values, readings, strict=True)]
    event = _event(rows, types) if len(rows) > 1 else None
    return Post(
        endpoint_name=endpoint_name,
        endpoint_fields=state.reported(readings, now),
        rows=rows,
        paths=[value.path for value in values],
        received_at=now,
        event=event,
        wake=state.reachable(readings),
        values=values,
    )


def _value(reading: Reading, resource_type: ResourceType, now: dt.datetime) -> PostValue:
    """The reading's value converted to its registered type, measured at the device's time, else now."""
    try:
        value = lwm2m.coerce(reading.value, from_type=reading.data_type, to_type=resource_type.lwm2m_type)
    except ValueError as exc:
        raise IngestError(f"{exc} ({resource_type.slug})", path=str(reading.path)) from None
    measured_at = state.from_ms(reading.timestamp_ms) if reading.timestamp_ms is not None else now
    return PostValue(str(reading.path), resource_type, value, measured_at)


def _row(value: PostValue, reading: Reading) -> ResourceRow:
    columns = lwm2m.to_columns(value.resource_type.lwm2m_type, value.value)
    return ResourceRow(
        resource_type_id=value.resource_type.pk,
        object_instance_id=reading.path.object_instance_id,  # type: ignore[arg-type]  # a reading is at resource depth
        resource_instance_id=reading.path.resource_instance_id,
        value_int=columns.get("value_int"),
        value_float=columns.get("value_float"),
        value_bool=columns.get("value_bool"),
        value_str=columns.get("value_str"),
        value_bytes=columns.get("value_bytes"),
        measured_at=value.measured_at,
    )


def _event(rows: Sequence[ResourceRow], types: dict[TypeKey, ResourceType]) -> EventRow:
    names = {rt.object_id: rt.object_name for rt in types.values()}
    object_ids = sorted(names)
    return EventRow(
        "+".join(str(i) for i in object_ids)[:64],
        " + ".join(names[i] for i in object_ids)[:255],
        max(row.measured_at for row in rows),
    )
