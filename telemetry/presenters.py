"""What the telemetry pages show: the contexts their templates render.

The pages (``telemetry.views``) and the live fragments (``telemetry.partials``) render the same named
partials of the same templates (``templates/telemetry/*.html#partial``) from the contexts built here, so a
page after a push looks exactly like the page after a reload. Reads go through ``telemetry.selectors``;
fragments pushed to a group read as ``SYSTEM`` (its members were checked when they joined).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils import timezone

from core.errors import FieldhubError, PermissionDenied
from core.lwm2m import types as lwm2m
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID
from core.models import Endpoint, ResourceType
from core.permissions import SYSTEM, Principal, has_role, has_role_on, scope_of
from core.roles import Role
from core.sites import selectors as sites
from telemetry import selectors
from telemetry.alarms import presenters as alarm_presenters
from telemetry.alarms import selectors as alarm_selectors
from telemetry.ingest.rows import Post, PostValue
from telemetry.models import Event, Resource

DASHBOARD_ROWS = 50
SPARKLINE_SPAN = dt.timedelta(hours=24)
SPARKLINE_POINTS = 40
EVENTS_SHOWN = 20
OPERATIONS_SHOWN = 20


EVENT_VALUES_SHOWN = 12  # values an event row lists; a post of thousands says how many more it had
LATEST_VALUES_SHOWN = 500  # latest values a device page lists (and renders for each push)


@dataclass(frozen=True)
class EventSummary:
    id: int
    endpoint_id: int
    endpoint_name: str
    event_type: str
    description: str
    measured_at: dt.datetime
    resources: list[dict[str, Any]]
    more: int = 0  # values beyond the EVENT_VALUES_SHOWN listed


def _event_values(endpoint_name: str, entries: Sequence[PostValue]) -> tuple[list[dict[str, Any]], int]:
    """An event's values as its row lists them: human names, values as people read them, units (the
    registry's, else the Sensor Units reported in the same event); the first EVENT_VALUES_SHOWN only."""
    sensor_units = {
        path.rsplit("/", 1)[0]: value.strip()
        for path, rt, value, _ in entries
        if rt.object_id in selectors.IPSO_OBJECTS
        and rt.resource_id == selectors.IPSO_UNITS_RESOURCE
        and isinstance(value, str)
    }
    shown = [
        {
            "path": path,
            "slug": rt.slug,
            "label": label(rt),
            "value": shown_value(rt.lwm2m_type, value),
            "full": reading_url(endpoint_name, path, measured_at),
            "units": sensor_units.get(path.rsplit("/", 1)[0], "") if selectors.sensor_units_apply(rt) else rt.units,
        }
        for path, rt, value, measured_at in entries[:EVENT_VALUES_SHOWN]
    ]
    return shown, max(0, len(entries) - EVENT_VALUES_SHOWN)


def label(resource_type: ResourceType) -> str:
    """A resource's name as a person reads it: an IPSO sensor's value by its object ("Temperature"), the
    rest by their own name ("Battery Level")."""
    if resource_type.resource_id == SENSOR_VALUE_RESOURCE:
        return resource_type.object_name
    return resource_type.name


SENSOR_VALUE_RESOURCE = 5700


def summarize_event(event: Event, values: tuple[Sequence[Resource], int] | None = None) -> EventSummary:
    """An event's row: from ``values`` (its first values and their count, ``summarize_events``), else from
    its prefetched resources."""
    resources, total = values if values is not None else (list(event.resources.all()), None)
    entries = [PostValue(r.path, r.resource_type, r.value, r.measured_at) for r in resources]
    shown, more = _event_values(event.endpoint.name, entries)
    if total is not None:
        more = max(0, total - len(shown))
    return EventSummary(
        id=event.pk,
        endpoint_id=event.endpoint_id,
        endpoint_name=event.endpoint.name,
        event_type=event.event_type,
        description=event.description,
        measured_at=event.measured_at,
        resources=shown,
        more=more,
    )


def summarize_events(events: Sequence[Event]) -> list[EventSummary]:
    """The rows of a list of events (from ``event_list(values=False)``): one query for their values, which
    reads only the ones the rows show."""
    values = selectors.event_values(user=SYSTEM, event_ids=[e.pk for e in events], first=EVENT_VALUES_SHOWN)
    return [summarize_event(event, values[event.pk]) for event in events]


def shown_value(data_type: lwm2m.DataType, value: lwm2m.Value) -> Any:
    """A value as the pages show it: a TIME as a date (the template renders a <time>), the rest as the API
    gives it."""
    shown = lwm2m.to_api(data_type, value)
    if data_type == lwm2m.DataType.TIME and isinstance(shown, int):
        return _as_datetime(shown)
    return shown


def _display(reading: selectors.LatestReading, endpoint_name: str) -> dict[str, Any]:
    value = lwm2m.to_api(lwm2m.DataType(reading.data_type), reading.value)
    numeric = float(value) if isinstance(value, int | float) else None  # for the chart's live points
    if reading.data_type == lwm2m.DataType.TIME:
        numeric = None
    return {
        **reading.__dict__,
        "value": shown_value(lwm2m.DataType(reading.data_type), reading.value),
        "numeric": numeric,
        "epoch": reading.measured_at.timestamp(),
        "full": reading_url(endpoint_name, reading.path, reading.measured_at),
    }


def reading_url(endpoint_name: str, path: str, measured_at: dt.datetime) -> str:
    """Where one reading is in full: the query API's readings from its time (the browser's session)."""
    query = urlencode({"path": path, "since": measured_at.isoformat(), "limit": 1})
    return f"/api/v1/endpoints/{quote(endpoint_name, safe='')}/readings?{query}"


def _as_datetime(epoch_ms: int) -> dt.datetime | int:
    """A TIME value (epoch milliseconds) as a date people read; the number itself when no date can hold it."""
    try:
        return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return epoch_ms


def device_rows(endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    """A dashboard row per device: state, firmware version, battery, a sparkline of the main sensor, and the
    severity of its worst open alarm (one query for them all)."""
    units, units_path = selectors.units_of_path(settings.SPARKLINE_PATH)
    paths = [selectors.FIRMWARE_VERSION_PATH, selectors.BATTERY_PATH, *([units_path] if units_path else [])]
    latest = selectors.latest_values_by_endpoint(user=SYSTEM, endpoints=endpoints, paths=paths)
    worst = alarm_selectors.worst_open_by_endpoint(endpoint_ids=[e.pk for e in endpoints])
    since = timezone.now() - SPARKLINE_SPAN
    recent = selectors.recent_values(
        user=SYSTEM, endpoints=endpoints, path=settings.SPARKLINE_PATH, since=since, per_endpoint=SPARKLINE_POINTS
    )
    return [
        {
            "endpoint": e,
            "site": e.site,  # joined by the page (with_site_and_labels), else read here
            "labels": [label.name for label in e.labels.all()],
            "firmware_version": latest[e.pk].get(selectors.FIRMWARE_VERSION_PATH),
            "battery": latest[e.pk].get(selectors.BATTERY_PATH),
            "sparkline": sparkline(recent.get(e.pk, [])),
            "sparkline_units": units or latest[e.pk].get(units_path or "", ""),
            "alarm": worst.get(e.pk),  # the worst open alarm's severity (the row's mark), None without
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


def dashboard_context(
    *,
    user: Principal,
    q: str = "",
    status: str | None = None,
    sort: str = selectors.DEFAULT_SORT,
    page: int = 1,
    site: str = "",
    label: str = "",
) -> dict[str, Any]:
    """The dashboard: counts, one page of the device table, the newest events; a constant number of
    queries however large the fleet. ``takes_new``: pushed new devices belong at the top of this table
    (the first page of the default order, unfiltered), so its body accepts them (``render_endpoint_row``).
    A ``site`` or ``label`` filter that names nothing known shows no device and ``filter_error`` (the
    page answers 422) rather than an error page: the label is typed."""
    filter_error = ""
    try:
        devices = selectors.endpoint_page(
            user=user,
            name=q or None,
            status=status,
            sort=sort,
            page=page,
            per_page=DASHBOARD_ROWS,
            site=site or None,
            labels=[label] if label else None,
            tags=True,
        )
    except FieldhubError as exc:
        if exc.path not in ("site", "label"):
            raise
        filter_error, devices = str(exc), selectors.EndpointPage(items=[], number=1, pages=1, total=0, start=0, end=0)
    events = summarize_events(list(selectors.event_list(user=user, values=False)[:EVENTS_SHOWN]))
    filtered = bool(q or status or site or label)
    return {
        "fleet": selectors.fleet_counts_shown(user=user),
        "alarm_panels": alarm_presenters.panels(user=user),
        "rows": device_rows(devices.items),
        "devices": devices,
        "takes_new": devices.number == 1 and sort == selectors.DEFAULT_SORT and not filtered,
        "filtered": filtered,
        "filter_error": filter_error,
        "events": events,
        "sites": sites.site_choices(user=user),
        "sees_unassigned": has_role(user, Role.VIEWER),  # devices in no site: global roles only
        "known_labels": sites.label_names(user=user),
        "can_operate_some": bool(scope_of(user, Role.OPERATOR)),
        # what the bulk change may move devices to (none for a viewer: no query)
        "bulk_sites": sites.site_choices(user=user, role=Role.OPERATOR),
        "bulk_unassign": has_role(user, Role.OPERATOR),
    }


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


def status_context(endpoint: Endpoint) -> dict[str, Any]:
    """The device page's header: state, site and labels, identity (object 3), recent registrations."""
    by_path = selectors.latest_values_by_endpoint(user=SYSTEM, endpoints=[endpoint], paths=list(IDENTITY))[endpoint.pk]
    identity = [(label, by_path[path]) for path, label in IDENTITY.items() if by_path.get(path) not in (None, "")]
    history = selectors.registration_history(user=SYSTEM, endpoint=endpoint)
    return {
        "endpoint": endpoint,
        "identity": identity,
        "tags": selectors.endpoint_tags(user=SYSTEM, endpoint=endpoint),
        "history": history,
        "default_lifetime": settings.DEFAULT_LIFETIME_SECONDS,
    }


def may_tag(user: Principal, endpoint: Endpoint) -> bool:
    """Does the device page offer ``user`` its site and labels form (the service decides; this hides it)?"""
    return has_role_on(user, Role.OPERATOR, endpoint.site_id)


def tags_state(tags: selectors.EndpointTags) -> str:
    """A short digest of a device's site and labels: what its page's form shows (``#endpoint-tags-refresh``)."""
    shown = f"{tags.site.pk if tags.site else ''}|{','.join(tags.labels)}"
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def tags_context(*, user: Principal, endpoint: Endpoint) -> dict[str, Any]:
    """The device page's site and labels form: the sites the user may move it to (with "none" for a global
    operator), the labels known, its own. Only for those who may change them (403)."""
    if not may_tag(user, endpoint):
        raise PermissionDenied("the device's site and labels need the operator role on its site")
    tags = selectors.endpoint_tags(user=user, endpoint=endpoint)
    return {
        "endpoint": endpoint,
        "can_tag": True,
        "tags": tags,
        "tags_state": tags_state(tags),
        "tag_sites": sites.site_choices(user=user, role=Role.OPERATOR),
        "tag_unassign": has_role_on(user, Role.OPERATOR, None),
        "known_labels": sites.label_names(user=user),
    }


def latest_values_context(endpoint: Endpoint, readings: list[selectors.LatestReading]) -> dict[str, Any]:
    """The latest-values table: the first LATEST_VALUES_SHOWN values, and how many there are in all."""
    shown = [_display(r, endpoint.name) for r in readings[:LATEST_VALUES_SHOWN]]
    if len(readings) <= LATEST_VALUES_SHOWN:
        total = len(readings)
    else:
        total = selectors.latest_values_count(user=SYSTEM, endpoint=endpoint)
    return {"endpoint": endpoint, "readings": shown, "readings_total": total}


def endpoint_context(
    *, user: Principal, name: str, path: str = "", before: str | None = None, after: str | None = None
) -> dict[str, Any]:
    """The device page; ``path``, ``before`` and ``after`` choose the readings table's resource and page."""
    endpoint = selectors.endpoint_get(user=user, name=name, tags=True)
    latest = latest_values_context(
        endpoint, selectors.latest_readings(user=user, endpoint=endpoint, limit=LATEST_VALUES_SHOWN + 1)
    )
    events = summarize_events(list(selectors.event_list(user=user, endpoint=endpoint, values=False)[:EVENTS_SHOWN]))
    operations = selectors.operations_mark_retryable(
        selectors.operation_list(user=user, endpoint=endpoint)[:OPERATIONS_SHOWN]
    )
    return {
        **status_context(endpoint),
        **(tags_context(user=user, endpoint=endpoint) if may_tag(user, endpoint) else {"can_tag": False}),
        **latest,
        "can_operate": has_role_on(user, Role.OPERATOR, endpoint.site_id),  # its controls (base.html)
        **alarm_presenters.endpoint_alarms_context(user=user, endpoint=endpoint),
        "events": events,
        "operations": operations,
        "charted": _charted(latest["readings"]),
        **readings_context(
            user=user, endpoint=endpoint, readings=latest["readings"], path=path, before=before, after=after
        ),
    }


def _charted(readings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest values a chart can draw: numbers and booleans, registration events aside."""
    return [r for r in readings if r["data_type"] in CHARTED and r["object_id"] != REGISTRATION_OBJECT_ID]


READINGS_ROWS = 50
CHART_DEFAULT = "/3303/0/5700"


def readings_context(
    *,
    user: Principal,
    endpoint: Endpoint,
    readings: Sequence[dict[str, Any]],
    path: str,
    before: str | None,
    after: str | None,
) -> dict[str, Any]:
    """The device page's readings table: every reading of one resource, newest first, a page at a time.
    Without ``path`` it shows the chart's default resource (the main sensor), else the first one charted,
    else the first the device reported."""
    if not path:
        paths = [r["path"] for r in readings]
        charted = [r["path"] for r in _charted(readings)]
        path = CHART_DEFAULT if CHART_DEFAULT in paths else next(iter(charted or paths), "")
    if not path:
        return {"readings_path": "", "readings_page": None, "readings_rows": [], "readings_units": ""}
    ref = selectors.resource_ref(endpoint=endpoint, path=path)
    page = selectors.readings_newest_first(user=user, ref=ref, before=before, after=after, limit=READINGS_ROWS)
    data_type = ref.resource_type.lwm2m_type
    rows = [
        {"measured_at": row.measured_at, "received_at": row.received_at, "value": shown_value(data_type, row.value)}
        for row in page.items
    ]
    return {
        "readings_path": ref.path,
        "readings_name": ref.resource_type.name,
        "readings_page": page,
        "readings_rows": rows,
        "readings_units": selectors.units_of(ref),
    }


def event_summary_of_post(*, event_id: int, endpoint_id: int, endpoint_name: str, post: Post) -> EventSummary:
    """The row of an event just stored, from what the ingest has in hand (no query)."""
    assert post.event is not None
    shown, more = _event_values(endpoint_name, post.values)
    return EventSummary(
        id=event_id,
        endpoint_id=endpoint_id,
        endpoint_name=endpoint_name,
        event_type=post.event.event_type,
        description=post.event.description,
        measured_at=post.event.measured_at,
        resources=shown,
        more=more,
    )
