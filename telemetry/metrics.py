"""Telemetry's Prometheus figures: counters the ingest, the dispatcher and the Leshan follower move as they
work, and the database's counts at scrape time (``collect``, one query per figure: devices, the command
queue, rollouts, open alarms, the notification outbox). Labels are states, statuses and outcomes; never a device."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from core.models import Endpoint
from core.monitoring.metrics import LATENCY_BUCKETS, live_gauge
from telemetry.alarms.models import Alarm, Severity
from telemetry.models import EndpointOperation, Rollout
from telemetry.notifications.models import Notification

RESOURCES_STORED = Counter("fieldhub_resources_stored_total", "Readings stored by the ingest (every source)")
INGEST_POSTS = Counter("fieldhub_ingest_posts_total", "Posts stored by the ingest (bridge, Leshan events, reads)")
INGEST_DURATION = Histogram(
    "fieldhub_ingest_duration_seconds", "Time to store one post of readings", buckets=LATENCY_BUCKETS
)
OPERATIONS_SENT = Counter(
    "fieldhub_operations_sent_total", "Operations sent to Leshan, by what Leshan answered", ["outcome"]
)
LESHAN_CONNECTED = live_gauge("fieldhub_leshan_connected", "1 while a Leshan event follower is connected")
LESHAN_EVENTS = Counter("fieldhub_leshan_events_total", "Events read from Leshan's event stream, by type", ["type"])
LESHAN_RECONNECTS = Counter("fieldhub_leshan_reconnects_total", "Times the Leshan event follower connected again")

# Leshan's event types (a stream may name others: counted as "other", the label set stays small).
LESHAN_EVENT_TYPES = frozenset(
    {"REGISTRATION", "UPDATED", "DEREGISTRATION", "SLEEPING", "AWAKE", "NOTIFICATION", "SEND", "REQUEST_RESPONSE",
     "COAPLOG"}
)  # fmt: skip


def leshan_event_type(name: str) -> str:
    return name if name in LESHAN_EVENT_TYPES else "other"


def collect() -> Iterator[Metric]:
    yield from _devices()
    yield from _queue()
    rollouts = GaugeMetricFamily("fieldhub_rollouts", "Rollouts by status", labels=["status"])
    counts = dict(Rollout.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in Rollout.Status.values:
        rollouts.add_metric([status.lower()], counts.get(status, 0))
    yield rollouts
    yield _alarms()
    outbox = GaugeMetricFamily("fieldhub_notifications", "Notifications in the outbox by status", labels=["status"])
    counts = dict(Notification.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in Notification.Status.values:
        outbox.add_metric([status], counts.get(status, 0))
    yield outbox


def _devices() -> Iterator[Metric]:
    """One grouped query: devices by state (online, sleeping, offline), registered, and by site."""
    rows = (
        Endpoint.objects.order_by()
        .values_list("site__name", "registration_state", "online", "sleeping")
        .annotate(n=Count("id"))
    )
    states = {"online": 0, "sleeping": 0, "offline": 0}
    registered = 0
    sites: dict[str, int] = {}
    for site, registration, online, sleeping, n in rows:
        states["offline" if not online else "sleeping" if sleeping else "online"] += n
        registered += n if registration == Endpoint.RegistrationState.REGISTERED else 0
        sites[site or ""] = sites.get(site or "", 0) + n
    by_state = GaugeMetricFamily("fieldhub_devices", "Devices by state", labels=["state"])
    for state, n in states.items():
        by_state.add_metric([state], n)
    yield by_state
    yield GaugeMetricFamily("fieldhub_devices_registered", "Devices registered with Leshan", value=registered)
    by_site = GaugeMetricFamily("fieldhub_devices_by_site", 'Devices by site ("": in no site)', labels=["site"])
    for site, n in sorted(sites.items()):
        by_site.add_metric([site], n)
    yield by_site


def _queue() -> Iterator[Metric]:
    """One grouped query: open operations by status, and the age of the oldest queued one."""
    rows = (
        EndpointOperation.objects.order_by()
        .filter(status__in=EndpointOperation.OPEN_STATUSES)
        .values_list("status")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    found = {status: (n, oldest) for status, n, oldest in rows}
    depth = GaugeMetricFamily(
        "fieldhub_operations_queue", "Operations waiting or being sent, by status", labels=["status"]
    )
    for status in EndpointOperation.OPEN_STATUSES:
        depth.add_metric([status.lower()], found.get(status, (0, None))[0])
    yield depth
    oldest = found.get(EndpointOperation.Status.QUEUED, (0, None))[1]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily(
        "fieldhub_operations_oldest_queued_age_seconds", "Age of the oldest queued operation (0: none)", value=age
    )


def _alarms() -> Metric:
    """The open alarms (active, acknowledged) by severity and state: one query."""
    alarms = GaugeMetricFamily(
        "fieldhub_alarms_open", "Open alarms by severity and state", labels=["severity", "state"]
    )
    rows = Alarm.objects.filter(state__in=Alarm.OPEN).order_by().values_list("severity", "state")
    counts = {(severity, state): n for severity, state, n in rows.annotate(n=Count("id"))}
    for severity in Severity.values:
        for state in Alarm.OPEN:
            alarms.add_metric([severity, state], counts.get((severity, state), 0))
    return alarms
