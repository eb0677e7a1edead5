"""The telemetry APIs: the Leshan bridge API (the flownexus bridge's URLs and JSON, so an existing bridge can
post here unchanged) and the query API that operators' scripts and our pages read from."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Status

from core.auth import user_auth
from core.http import aware, read_json_body, stream
from core.lwm2m import types as lwm2m
from core.lwm2m.nodes import Reading
from core.models import Endpoint
from core.paging import MAX_PAGE
from core.schemas import ErrorOut, Offset, RowId, json_body
from telemetry import selectors
from telemetry.downlink import queue
from telemetry.ingest import IngestResult, ingest, payloads
from telemetry.models import EndpointOperation, Event, Resource
from telemetry.schemas import (
    CompositePostIn,
    EndpointDetailOut,
    EndpointPageOut,
    EventPageOut,
    FlownexusDataOut,
    IngestOut,
    OperationIn,
    OperationOut,
    OperationPageOut,
    ReadingsPageOut,
    SeriesOut,
    SinglePostIn,
    TimestampedPostIn,
)

bridge_router = Router(tags=["Leshan bridge"])

INGEST_RESPONSES = {
    201: IngestOut,
    400: ErrorOut,
    401: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
}


def _ingest(request: HttpRequest, schema: type, to_readings: Callable[..., list[Reading]]) -> IngestResult:
    payload = read_json_body(request, schema, max_bytes=settings.INGEST_MAX_BODY_BYTES)
    return ingest(endpoint_name=payload.ep, readings=to_readings(payload))


@bridge_router.post(
    "/resource/single",
    response=INGEST_RESPONSES,
    summary="Store one notification (single resource, instance or object)",
    openapi_extra=json_body(SinglePostIn),
)
def post_single(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, SinglePostIn, lambda p: payloads.readings_from_single(p.obj_id, p.val, p.path)))


@bridge_router.post(
    "/resource/composite",
    response=INGEST_RESPONSES,
    summary="Store a composite read or notification",
    openapi_extra=json_body(CompositePostIn),
)
def post_composite(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, CompositePostIn, lambda p: payloads.readings_from_composite(p.val)))


@bridge_router.post(
    "/resource/timestamped",
    response=INGEST_RESPONSES,
    summary="Store an LwM2M Send with timestamps",
    openapi_extra=json_body(TimestampedPostIn),
)
def post_timestamped(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, TimestampedPostIn, lambda p: payloads.readings_from_timestamped(p.val)))


# --- the query API (/api/v1/) ---------------------------------------------------------------------------

query_router = Router(tags=["Telemetry"])

READ_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _endpoint_out(endpoint: Endpoint, latest: dict[str, Any]) -> dict[str, Any]:
    battery = latest.get(selectors.BATTERY_PATH)
    return {
        "name": endpoint.name,
        "status": endpoint.status,
        "registration_state": endpoint.registration_state,
        "online": endpoint.online,
        "sleeping": endpoint.sleeping,
        "registered_at": endpoint.registered_at,
        "last_seen_at": endpoint.last_seen_at,
        "lifetime": endpoint.lifetime,
        "binding": endpoint.binding,
        "queue_mode": endpoint.queue_mode,
        "firmware_version": latest.get(selectors.FIRMWARE_VERSION_PATH),
        "battery": battery if isinstance(battery, int) else None,
    }


@query_router.get("/endpoints", response={200: EndpointPageOut, **READ_ERRORS}, summary="List devices")
def list_endpoints(
    request: HttpRequest,
    status: str | None = Query(None, description="online, sleeping or offline"),
    name: str | None = Query(None, description="part of the endpoint name"),
    sort: str = Query(
        selectors.DEFAULT_SORT,
        description="name, state, last_seen, firmware or battery; a leading - for descending (ties by name)",
    ),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> dict[str, Any]:
    endpoints = selectors.endpoint_list(user=request.auth, status=status, name=name, sort=sort)
    page = list(endpoints[offset : offset + limit])
    paths = [selectors.FIRMWARE_VERSION_PATH, selectors.BATTERY_PATH]
    latest = selectors.latest_values_by_endpoint(user=request.auth, endpoints=page, paths=paths)
    items = [_endpoint_out(endpoint, latest[endpoint.pk]) for endpoint in page]
    return {"items": items, "count": endpoints.count(), "limit": limit, "offset": offset}


@query_router.get("/endpoints/{endpoint}", response={200: EndpointDetailOut, **READ_ERRORS}, summary="One device")
def get_endpoint(request: HttpRequest, endpoint: str) -> dict[str, Any]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    readings = selectors.latest_readings(user=request.auth, endpoint=device)
    latest = {reading.path: reading.value for reading in readings}
    resources = [
        {**reading.__dict__, "value": lwm2m.to_api(lwm2m.DataType(reading.data_type), reading.value)}
        for reading in readings
    ]
    return {
        **_endpoint_out(device, latest),
        "created_at": device.created_at,
        "lwm2m_version": device.lwm2m_version,
        "resources": resources,
    }


@query_router.get(
    "/endpoints/{endpoint}/series", response={200: SeriesOut, **READ_ERRORS}, summary="Time series of a resource"
)
def get_series(
    request: HttpRequest,
    endpoint: str,
    path: str | None = Query(None, description="e.g. /3303/0/5700"),
    name: str | None = Query(None, description="machine name instead of path, e.g. temperature"),
    instance: int = Query(0, ge=0, le=65535, description="object instance, with name"),
    since: dt.datetime | None = Query(None, description="ISO 8601; default: the first reading"),
    until: dt.datetime | None = Query(None, description="ISO 8601, exclusive; default: now"),
    buckets: int = Query(500, ge=1, le=selectors.MAX_BUCKETS),
) -> dict[str, Any]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    ref = selectors.resource_ref(endpoint=device, path=path, name=name, instance=instance)
    result = selectors.series(user=request.auth, ref=ref, since=aware(since), until=aware(until), buckets=buckets)
    data_type = lwm2m.DataType(ref.resource_type.data_type)
    return {
        "endpoint": device.name,
        "path": ref.path,
        "name": ref.resource_type.slug,
        "units": selectors.units_of(ref),
        "data_type": data_type.value,
        "since": result.since,
        "until": result.until,
        "kind": "points" if result.points is not None else "buckets",
        "points": None
        if result.points is None
        else [{"time": p.time, "value": lwm2m.to_api(data_type, p.value)} for p in result.points],
        "buckets": None if result.buckets is None else [b.__dict__ for b in result.buckets],
    }


@query_router.get(
    "/endpoints/{endpoint}/readings",
    response={200: ReadingsPageOut, **READ_ERRORS},
    summary="Every reading of a resource, oldest first, by cursor",
)
def get_readings(
    request: HttpRequest,
    endpoint: str,
    path: str | None = Query(None, description="e.g. /3303/0/5700"),
    name: str | None = Query(None, description="machine name instead of path"),
    instance: int = Query(0, ge=0, le=65535),
    since: dt.datetime | None = Query(None),
    until: dt.datetime | None = Query(None),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(500, ge=1, le=MAX_PAGE),
) -> dict[str, Any]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    ref = selectors.resource_ref(endpoint=device, path=path, name=name, instance=instance)
    page = selectors.readings_page(
        user=request.auth, ref=ref, since=aware(since), until=aware(until), cursor=cursor, limit=limit
    )
    data_type = lwm2m.DataType(ref.resource_type.data_type)
    items = [
        {"id": r.pk, "time": r.measured_at, "received_at": r.received_at, "value": lwm2m.to_api(data_type, r.value)}
        for r in page.items
    ]
    return {"endpoint": device.name, "path": ref.path, "items": items, "next_cursor": page.next_cursor}


CSV_COLUMNS = ("measured_at", "received_at", "path", "resource", "data_type", "units", "value")


@query_router.get(
    "/endpoints/{endpoint}/export.csv",
    response=READ_ERRORS,
    summary="CSV of a device's readings (streamed)",
    openapi_extra={"responses": {"200": {"description": "CSV, one reading per line", "content": {"text/csv": {}}}}},
)
def export_csv(
    request: HttpRequest,
    endpoint: str,
    since: dt.datetime | None = Query(None),
    until: dt.datetime | None = Query(None),
    path: str | None = Query(None, description="only this resource"),
) -> StreamingHttpResponse:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    ref = selectors.resource_ref(endpoint=device, path=path) if path else None
    rows = selectors.export_rows(user=request.auth, endpoint=device, since=aware(since), until=aware(until), ref=ref)
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in device.name)
    return stream(request, _csv_lines(rows), content_type="text/csv; charset=utf-8", filename=f"{safe_name}.csv")


# What makes a spreadsheet read a cell as a formula (=HYPERLINK(…), @SUM(…), +, -, and a tab or carriage
# return before one): such a text cell gets a leading ' (OWASP, "CSV Injection"), which spreadsheets show
# as text. Numbers are written as numbers: -5.2 from a FLOAT reading is a value, never a formula.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(rows: Iterator[Resource]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for count, row in enumerate(rows, start=1):
        rt = row.resource_type
        value = lwm2m.to_api(rt.lwm2m_type, row.value)
        cells = [row.measured_at.isoformat(), row.received_at.isoformat(), row.path, rt.slug, rt.data_type, rt.units]
        writer.writerow([_csv_cell(cell) for cell in [*cells, value]])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@query_router.get("/events", response={200: EventPageOut, **READ_ERRORS}, summary="Events, newest first")
def list_events(
    request: HttpRequest,
    endpoint: str | None = Query(None, description="endpoint name"),
    type: str | None = Query(
        None, description="object ids joined by +: events with each of them (3 matches 3 and 3+3303, not 3303)"
    ),
    since: dt.datetime | None = Query(None),
    until: dt.datetime | None = Query(None),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> dict[str, Any]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    events = selectors.event_list(
        user=request.auth, endpoint=device, event_type=type, since=aware(since), until=aware(until)
    )
    page = list(events[offset : offset + limit])
    return {"items": [_event_out(e) for e in page], "count": events.count(), "limit": limit, "offset": offset}


def _event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.pk,
        "endpoint": event.endpoint.name,
        "event_type": event.event_type,
        "description": event.description,
        "measured_at": event.measured_at,
        "created_at": event.created_at,
        "resources": [
            {
                "path": r.path,
                "slug": r.resource_type.slug,
                "value": lwm2m.to_api(r.resource_type.lwm2m_type, r.value),
                "measured_at": r.measured_at,
            }
            for r in event.resources.all()
        ],
    }


# --- flownexus compatibility: GET /leshan_api/data/<resource_name>/ -------------------------------------


@bridge_router.get(
    "/data/{resource_name}/",
    auth=user_auth(),
    response={200: list[FlownexusDataOut], **READ_ERRORS},
    summary="Readings of one resource type, newest first (flownexus's data view, paginated)",
)
def flownexus_data(
    request: HttpRequest,
    resource_name: str,
    ep: str | None = Query(None, description="only this endpoint"),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> list[dict[str, Any]]:
    rows = selectors.resource_type_readings(user=request.auth, slug=resource_name, endpoint_name=ep)
    return [
        {
            "timestamp_created": row.measured_at,
            "value": lwm2m.to_api(row.resource_type.lwm2m_type, row.value),
            "resource_type": row.resource_type.slug,
        }
        for row in rows[offset : offset + limit]
    ]


# --- operations (the downlink queue) --------------------------------------------------------------------

operations_router = Router(tags=["Operations"])
WRITE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _operation_out(operation: EndpointOperation) -> dict[str, Any]:
    return {
        "id": operation.pk,
        "endpoint": operation.endpoint.name,
        "kind": operation.kind,
        "path": operation.path,
        "payload": operation.payload,
        "status": operation.status,
        "attempts": operation.attempts,
        "last_attempt_at": operation.last_attempt_at,
        "next_attempt_at": operation.next_attempt_at,
        "last_error": operation.last_error,
        "result": operation.result,
        "created_by": operation.created_by.get_username() if operation.created_by else None,
        "created_at": operation.created_at,
        "updated_at": operation.updated_at,
        "completed_at": operation.completed_at,
    }


@query_router.post(
    "/endpoints/{endpoint}/operations",
    response={201: OperationOut, **WRITE_ERRORS},
    summary="Queue a write, execute, read or observe for a device (operator)",
)
def create_operation(request: HttpRequest, endpoint: str, payload: OperationIn) -> Status[dict[str, Any]]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    operation = queue.operation_enqueue(
        actor=request.auth,
        endpoint=device,
        kind=payload.kind.upper(),
        path=payload.path,
        value=payload.value,
        values=payload.values,
        arguments=payload.arguments,
    )
    return Status(201, _operation_out(operation))


@operations_router.get(
    "/operations", response={200: OperationPageOut, **READ_ERRORS}, summary="Operations, newest first"
)
def list_operations(
    request: HttpRequest,
    status: str | None = Query(None, description="queued, sending, confirmed, failed or cancelled"),
    endpoint: str | None = Query(None, description="endpoint name"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> dict[str, Any]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    operations = selectors.operation_list(user=request.auth, endpoint=device, status=status)
    items = [_operation_out(op) for op in operations[offset : offset + limit]]
    return {"items": items, "count": operations.count(), "limit": limit, "offset": offset}


@operations_router.get(
    "/operations/{operation_id}", response={200: OperationOut, **READ_ERRORS}, summary="One operation"
)
def get_operation(request: HttpRequest, operation_id: RowId) -> dict[str, Any]:
    return _operation_out(selectors.operation_get(user=request.auth, pk=operation_id))


@operations_router.post(
    "/operations/{operation_id}/cancel",
    response={200: OperationOut, **WRITE_ERRORS},
    summary="Cancel a queued operation",
)
def cancel_operation(request: HttpRequest, operation_id: RowId) -> dict[str, Any]:
    operation = selectors.operation_get(user=request.auth, pk=operation_id)
    return _operation_out(queue.operation_cancel(actor=request.auth, operation=operation))


@operations_router.post(
    "/operations/{operation_id}/retry",
    response={200: OperationOut, **WRITE_ERRORS},
    summary="Queue a failed or cancelled operation again",
)
def retry_operation(request: HttpRequest, operation_id: RowId) -> dict[str, Any]:
    operation = selectors.operation_get(user=request.auth, pk=operation_id)
    return _operation_out(queue.operation_retry(actor=request.auth, operation=operation))
