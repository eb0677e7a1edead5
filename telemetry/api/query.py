"""The query API (/api/v1/) that operators' scripts and our pages read from: devices, their latest values,
time series, readings by cursor, the CSV export, events; and queuing an operation for a device."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from ninja import Router, Status
from ninja.params.functions import Query

from core.errors import FieldhubError
from core.http import ApiRequest, aware, stream
from core.lwm2m import types as lwm2m
from core.models import Endpoint, Site
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset
from core.sites import selectors as sites
from core.sites import services as site_services
from core.sites.schemas import BulkIn, BulkOut
from telemetry import selectors
from telemetry.downlink import queue
from telemetry.models import EndpointOperation, Event, Resource
from telemetry.schemas import (
    DeviceView,
    EndpointDetailOut,
    EndpointPageOut,
    EventPageOut,
    OperationIn,
    OperationOut,
    ReadingsPageOut,
    ReadingsView,
    SeriesOut,
)

query_router = Router(tags=["Telemetry"])

# The operation ids (and so the names a client generator gives them) stay those of the module these routes
# were first written in, telemetry/api.py.


@query_router.get(
    "/endpoints",
    response={200: EndpointPageOut, **READ_ERRORS},
    summary="List devices",
    operation_id="telemetry_api_list_endpoints",
)
def list_endpoints(
    request: ApiRequest,
    status: str | None = Query(None, description="online, sleeping or offline"),
    name: str | None = Query(None, description="part of the endpoint name"),
    sort: str = Query(
        selectors.DEFAULT_SORT,
        description="name, state, last_seen, firmware or battery; a leading - for descending (ties by name)",
    ),
    site: str | None = Query(None, description='a site id, or "none" for the devices in no site'),
    label: list[str] | None = Query(None, description="devices with all of these labels (repeat, or a,b)"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[DeviceView]:
    endpoints = selectors.endpoint_list(user=request.auth, status=status, name=name, sort=sort, site=site, labels=label)
    page = offset_page(selectors.with_site_and_labels(endpoints), limit=limit, offset=offset)
    paths = [selectors.FIRMWARE_VERSION_PATH, selectors.BATTERY_PATH]
    latest = selectors.latest_values_by_endpoint(user=request.auth, endpoints=page.items, paths=paths)
    return page.with_items([DeviceView(endpoint=endpoint, latest=latest[endpoint.pk]) for endpoint in page.items])


# Before /endpoints/{endpoint}: "bulk" is this route's, not a device's name.
@query_router.post(
    "/endpoints/bulk",
    response={200: BulkOut, **WRITE_ERRORS},
    summary="Set the site or labels of many devices, by names or by filter (operator)",
    operation_id="telemetry_api_bulk_endpoints",
)
def bulk_endpoints(request: ApiRequest, payload: BulkIn) -> site_services.Changed:
    endpoints = _bulk_selection(request, payload)
    site: Site | site_services.Keep | None = site_services.KEEP_SITE
    if "site" in payload.model_fields_set:
        site = None if payload.site is None else sites.site_for_filter(user=request.auth, value=payload.site)
    if site is site_services.KEEP_SITE and payload.labels is None and not payload.add_labels + payload.remove_labels:
        raise FieldhubError("say what to change: site, labels, add_labels or remove_labels", path="site")
    return site_services.endpoints_change(
        actor=request.auth,
        endpoints=endpoints,
        site=site,
        labels=payload.labels,
        add=payload.add_labels,
        remove=payload.remove_labels,
    )


def _bulk_selection(request: ApiRequest, payload: BulkIn) -> QuerySet[Endpoint]:
    if (payload.endpoints is None) == (payload.filter is None):
        raise FieldhubError("give endpoints (names) or filter, one of them", path="endpoints")
    if payload.endpoints is not None:
        return selectors.endpoints_named(user=request.auth, names=payload.endpoints)
    chosen = payload.filter
    assert chosen is not None
    label = [chosen.label] if isinstance(chosen.label, str) else chosen.label
    return selectors.endpoints_filter(
        selectors.visible_endpoints(request.auth),
        user=request.auth,
        status=chosen.status,
        name=chosen.name,
        site=chosen.site,
        labels=label,
    )


@query_router.get(
    "/endpoints/{endpoint}",
    response={200: EndpointDetailOut, **READ_ERRORS},
    summary="One device",
    operation_id="telemetry_api_get_endpoint",
)
def get_endpoint(request: ApiRequest, endpoint: str) -> DeviceView:
    device = selectors.endpoint_get(user=request.auth, name=endpoint, tags=True)
    readings = selectors.latest_readings(user=request.auth, endpoint=device)
    latest = {reading.path: reading.value for reading in readings}
    return DeviceView(endpoint=device, latest=latest, resources=readings)


# The path of the bulk change is also the path of a device named "bulk": its GET is that device's.
@query_router.get(
    "/endpoints/bulk",
    response={200: EndpointDetailOut, **READ_ERRORS},
    include_in_schema=False,
    operation_id="telemetry_api_get_endpoint_named_bulk",
)
def get_endpoint_named_bulk(request: ApiRequest) -> DeviceView:
    return get_endpoint(request, "bulk")


@query_router.get(
    "/endpoints/{endpoint}/series",
    response={200: SeriesOut, **READ_ERRORS},
    summary="Time series of a resource",
    operation_id="telemetry_api_get_series",
)
def get_series(
    request: ApiRequest,
    endpoint: str,
    path: str | None = Query(None, description="e.g. /3303/0/5700"),
    name: str | None = Query(None, description="machine name instead of path, e.g. temperature"),
    instance: int = Query(0, ge=0, le=65535, description="object instance, with name"),
    since: dt.datetime | None = Query(None, description="ISO 8601; default: the first reading"),
    until: dt.datetime | None = Query(None, description="ISO 8601, exclusive; default: now"),
    buckets: int = Query(500, ge=1, le=selectors.MAX_BUCKETS),
) -> selectors.Series:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    ref = selectors.resource_ref(endpoint=device, path=path, name=name, instance=instance)
    return selectors.series(user=request.auth, ref=ref, since=aware(since), until=aware(until), buckets=buckets)


@query_router.get(
    "/endpoints/{endpoint}/readings",
    response={200: ReadingsPageOut, **READ_ERRORS},
    summary="Every reading of a resource, oldest first, by cursor",
    operation_id="telemetry_api_get_readings",
)
def get_readings(
    request: ApiRequest,
    endpoint: str,
    path: str | None = Query(None, description="e.g. /3303/0/5700"),
    name: str | None = Query(None, description="machine name instead of path"),
    instance: int = Query(0, ge=0, le=65535),
    since: dt.datetime | None = Query(None),
    until: dt.datetime | None = Query(None),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(500, ge=1, le=MAX_PAGE),
) -> ReadingsView:
    device = selectors.endpoint_get(user=request.auth, name=endpoint)
    ref = selectors.resource_ref(endpoint=device, path=path, name=name, instance=instance)
    page = selectors.readings_page(
        user=request.auth, ref=ref, since=aware(since), until=aware(until), cursor=cursor, limit=limit
    )
    return ReadingsView(ref=ref, page=page)


CSV_COLUMNS = ("measured_at", "received_at", "path", "resource", "data_type", "units", "value")


@query_router.get(
    "/endpoints/{endpoint}/export.csv",
    response=READ_ERRORS,
    summary="CSV of a device's readings (streamed)",
    openapi_extra={"responses": {"200": {"description": "CSV, one reading per line", "content": {"text/csv": {}}}}},
    operation_id="telemetry_api_export_csv",
)
def export_csv(
    request: ApiRequest,
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


@query_router.get(
    "/events",
    response={200: EventPageOut, **READ_ERRORS},
    summary="Events, newest first",
    operation_id="telemetry_api_list_events",
)
def list_events(
    request: ApiRequest,
    endpoint: str | None = Query(None, description="endpoint name"),
    type: str | None = Query(
        None, description="object ids joined by +: events with each of them (3 matches 3 and 3+3303, not 3303)"
    ),
    since: dt.datetime | None = Query(None),
    until: dt.datetime | None = Query(None),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[Event]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    events = selectors.event_list(
        user=request.auth, endpoint=device, event_type=type, since=aware(since), until=aware(until)
    )
    return offset_page(events, limit=limit, offset=offset)


@query_router.post(
    "/endpoints/{endpoint}/operations",
    response={201: OperationOut, **WRITE_ERRORS},
    summary="Queue a write, execute, read or observe for a device (operator)",
    operation_id="telemetry_api_create_operation",
)
def create_operation(request: ApiRequest, endpoint: str, payload: OperationIn) -> Status[EndpointOperation]:
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
    return Status(201, operation)
