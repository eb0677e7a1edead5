"""What the telemetry pages show, and the live fragments that keep them current.

The pages (``telemetry.views``) and the live updates render the same named partials of the same
templates (``templates/telemetry/*.html#partial``), from the same context built here, so a page after a
push looks exactly like the page after a reload. Live fragments carry ``hx-swap-oob`` (``oob=True``): the
htmx ws extension swaps them in by id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from core.lwm2m import types as lwm2m
from core.models import Endpoint, ResourceType
from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry import selectors
from telemetry.models import EndpointOperation, Event

DASHBOARD_ROWS = 100
SPARKLINE_SPAN = dt.timedelta(hours=24)
SPARKLINE_POINTS = 40
EVENTS_SHOWN = 20
OPERATIONS_SHOWN = 20


@dataclass(frozen=True)
class EventSummary:
    id: int
    endpoint_id: int
    endpoint_name: str
    event_type: str
    description: str
    measured_at: dt.datetime
    resources: list[dict[str, Any]]


def summarize_event(event: Event) -> EventSummary:
    return EventSummary(
        id=event.pk,
        endpoint_id=event.endpoint_id,
        endpoint_name=event.endpoint.name,
        event_type=event.event_type,
        description=event.description,
        measured_at=event.measured_at,
        resources=[
            {"path": r.path, "slug": r.resource_type.slug, "value": lwm2m.to_api(r.resource_type.lwm2m_type, r.value)}
            for r in event.resources.all()
        ],
    )


def _display(reading: selectors.LatestReading) -> dict[str, Any]:
    value = lwm2m.to_api(lwm2m.DataType(reading.data_type), reading.value)
    numeric = float(value) if isinstance(value, int | float) else None  # for the chart's live points
    if reading.data_type == lwm2m.DataType.TIME and isinstance(value, int):
        value, numeric = _as_datetime(value), None
    return {**reading.__dict__, "value": value, "numeric": numeric, "epoch": reading.measured_at.timestamp()}


def _as_datetime(epoch_ms: int) -> dt.datetime | int:
    """A TIME value (epoch milliseconds) as a date people read; the number itself when no date can hold it."""
    try:
        return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return epoch_ms


def _rows(endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    """A dashboard row per device: state, firmware version, battery, and a sparkline of the main sensor."""
    paths = [selectors.FIRMWARE_VERSION_PATH, selectors.BATTERY_PATH]
    latest = selectors.latest_values_of(endpoints, paths)
    since = timezone.now() - SPARKLINE_SPAN
    recent = selectors.recent_values_of(endpoints, settings.SPARKLINE_PATH, since=since, per_endpoint=SPARKLINE_POINTS)
    return [
        {
            "endpoint": e,
            "firmware_version": latest[e.pk].get(selectors.FIRMWARE_VERSION_PATH),
            "battery": latest[e.pk].get(selectors.BATTERY_PATH),
            "sparkline": sparkline(recent.get(e.pk, [])),
        }
        for e in endpoints
    ]


def sparkline(points: Sequence[tuple[dt.datetime, float]]) -> dict[str, Any] | None:
    """An SVG polyline (100 x 24 box) of the points, with the last value; None for fewer than two."""
    if len(points) < 2:
        return None
    times = [t.timestamp() for t, _ in points]
    values = [v for _, v in points]
    t0, t1 = times[0], times[-1] if times[-1] > times[0] else times[0] + 1
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    coordinates = " ".join(
        f"{100 * (t - t0) / (t1 - t0):.1f},{22 - 20 * (v - low) / span:.1f}" for t, v in zip(times, values, strict=True)
    )
    return {"points": coordinates, "last": values[-1], "low": low, "high": high}


# --- pages ----------------------------------------------------------------------------------------------


def dashboard_context(*, user: Any, q: str = "", status: str | None = None) -> dict[str, Any]:
    endpoints = list(selectors.endpoint_list(user=user, name=q or None, status=status)[:DASHBOARD_ROWS])
    events = [summarize_event(e) for e in selectors.event_list(user=user)[:EVENTS_SHOWN]]
    return {"counts": selectors.fleet_counts(user=user), "rows": _rows(endpoints), "events": events}


IDENTITY = {
    "/3/0/0": "Manufacturer",
    "/3/0/1": "Model",
    "/3/0/2": "Serial number",
    "/3/0/17": "Device type",
    "/3/0/18": "Hardware",
    "/3/0/3": "Firmware",
    "/3/0/19": "Software",
}
CHARTED = frozenset({"INTEGER", "UNSIGNED_INTEGER", "FLOAT", "BOOLEAN"})


def _status_context(endpoint: Endpoint, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """The device page's header: state, identity (object 3), recent registrations."""
    by_path = {r["path"]: r["value"] for r in readings}
    identity = [(label, by_path[path]) for path, label in IDENTITY.items() if by_path.get(path) not in (None, "")]
    history = selectors.registration_history(user=None, endpoint=endpoint, system=True)
    return {"endpoint": endpoint, "identity": identity, "history": history}


def endpoint_context(*, user: Any, name: str) -> dict[str, Any]:
    endpoint = selectors.endpoint_get(user=user, name=name)
    readings = [_display(r) for r in selectors.latest_readings(user=user, endpoint=endpoint)]
    events = [summarize_event(e) for e in selectors.event_list(user=user, endpoint=endpoint)[:EVENTS_SHOWN]]
    operations = selectors.operations_mark_retryable(
        selectors.operation_list(user=user, endpoint=endpoint)[:OPERATIONS_SHOWN]
    )
    charted = [r for r in readings if r["data_type"] in CHARTED and r["object_id"] != 10240]
    return {
        **_status_context(endpoint, readings),
        "readings": readings,
        "events": events,
        "operations": operations,
        "charted": charted,
    }


# --- live fragments -------------------------------------------------------------------------------------


def render_fleet_counts() -> str:
    context = {"counts": selectors.fleet_counts_of(), "oob": True}
    return render_to_string("telemetry/dashboard.html#fleet-counts", context)


def render_endpoint_row(endpoint_id: int, *, insert: bool = False) -> str:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return ""
    (row,) = _rows([endpoint])
    html = render_to_string("telemetry/dashboard.html#endpoint-row", {"row": row, "oob": not insert})
    return f'<tbody hx-swap-oob="afterbegin:#endpoint-rows">{html}</tbody>' if insert else html


def render_endpoint_status(endpoint_id: int) -> str:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return ""
    readings = [_display(r) for r in selectors.latest_readings_of(endpoint)]
    context = {**_status_context(endpoint, readings), "oob": True}
    return render_to_string("telemetry/endpoint.html#endpoint-status", context)


def render_latest_values(endpoint_id: int) -> str:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return ""
    readings = [_display(r) for r in selectors.latest_readings_of(endpoint)]
    return render_to_string("telemetry/endpoint.html#latest-values", {"readings": readings, "oob": True})


def render_event(summary: EventSummary) -> str:
    html = render_to_string("telemetry/dashboard.html#event-row", {"event": summary})
    return f'<ul hx-swap-oob="afterbegin:#events">{html}</ul>'


def announce_ingest(
    *,
    endpoint_id: int,
    created: bool,
    status_changed: bool,
    event: EventSummary | None,
) -> None:
    """Push what a stored post changed: the dashboard row (a new row for a new device), the counts when a
    device changed state, the device page's header and latest values, and the event on both lists."""
    dashboard, device = groups.DASHBOARD, groups.endpoint(endpoint_id)
    if created:
        publish(
            dashboard,
            LiveEvent(
                EventType.STATUS, f"endpoint-new-{endpoint_id}", partial(render_endpoint_row, endpoint_id, insert=True)
            ),
        )
    else:
        publish(
            dashboard,
            LiveEvent(EventType.STATUS, f"endpoint-row-{endpoint_id}", partial(render_endpoint_row, endpoint_id)),
        )
    if created or status_changed:
        publish(dashboard, LiveEvent(EventType.FLEET, "fleet-counts", render_fleet_counts))
    publish(device, LiveEvent(EventType.STATUS, "endpoint-status", partial(render_endpoint_status, endpoint_id)))
    publish(device, LiveEvent(EventType.READING, "latest-values", partial(render_latest_values, endpoint_id)))
    if event is not None:
        html = render_event(event)
        for group in (dashboard, device, groups.EVENTS):
            publish(group, LiveEvent(EventType.EVENT, "events", html=html, keep=EVENTS_SHOWN))


def event_summary_of_post(
    *,
    event_id: int,
    endpoint_id: int,
    endpoint_name: str,
    event_type: str,
    description: str,
    measured_at: dt.datetime,
    values: Sequence[tuple[str, ResourceType, lwm2m.Value]],
) -> EventSummary:
    """The summary of an event just stored, from what the ingest has in hand (no query)."""
    return EventSummary(
        id=event_id,
        endpoint_id=endpoint_id,
        endpoint_name=endpoint_name,
        event_type=event_type,
        description=description,
        measured_at=measured_at,
        resources=[
            {"path": path, "slug": rt.slug, "value": lwm2m.to_api(rt.lwm2m_type, value)} for path, rt, value in values
        ],
    )


def announce_endpoint(endpoint_id: int, *, status_changed: bool) -> None:
    """A device's state changed outside an ingest (Leshan said it sleeps or left): its row, header, counts."""
    dashboard, device = groups.DASHBOARD, groups.endpoint(endpoint_id)
    row = partial(render_endpoint_row, endpoint_id)
    publish(dashboard, LiveEvent(EventType.STATUS, f"endpoint-row-{endpoint_id}", row))
    publish(device, LiveEvent(EventType.STATUS, "endpoint-status", partial(render_endpoint_status, endpoint_id)))
    if status_changed:
        publish(dashboard, LiveEvent(EventType.FLEET, "fleet-counts", render_fleet_counts))


def render_operation(operation_id: int, *, insert: bool = False, page: str = "endpoint") -> str:
    """An operation's row, on a device's page or on the operations page; new rows go on top."""
    operation = EndpointOperation.objects.select_related("endpoint", "created_by").filter(pk=operation_id).first()
    if operation is None:
        return ""
    selectors.operations_mark_retryable([operation])
    template = f"telemetry/{page}.html#operation-row"
    html = render_to_string(template, {"op": operation, "oob": not insert})
    return f'<tbody hx-swap-oob="afterbegin:#operations-rows">{html}</tbody>' if insert else html


def announce_operation(operation: EndpointOperation, *, created: bool = False) -> None:
    """An operation was queued or changed state: its row on the device's page and on the operations page."""
    key = f"operation-{operation.pk}" + ("-new" if created else "")
    for group, page in ((groups.endpoint(operation.endpoint_id), "endpoint"), (groups.OPERATIONS, "operations")):
        render = partial(render_operation, operation.pk, insert=created, page=page)
        publish(group, LiveEvent(EventType.OPERATION, key, render))
