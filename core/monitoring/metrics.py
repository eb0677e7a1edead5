"""The Prometheus figures of the HTTP layer, and how every process writes its figures.

prometheus-client keeps each figure in this process, or (``PROMETHEUS_MULTIPROC_DIR`` set before the first
import) in memory-mapped files of that folder, one set per process: then any process's /metrics adds up every
process of the machine that writes there (the ``api`` workers, ``web``, ``worker``, ``leshan``). Figures that
the database knows (devices, the command queue, the outbox) are counted at scrape time instead
(``settings.METRICS_COLLECTORS``). Labels stay few: route templates, statuses, outcomes; never a device.

``METRICS_ENABLED=0`` turns the recording off (the benchmark compares both).
"""

from __future__ import annotations

import atexit
import os

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:  # before the first figure is made (each opens its file there)
    os.makedirs(MULTIPROCESS_DIR, mode=0o700, exist_ok=True)

# Seconds: from a millisecond (a cached page) to 10 s (a slow Leshan behind a command).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "fieldhub_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "fieldhub_http_request_duration_seconds", "Time to answer an HTTP request, by route template", ["route"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
BRIDGE_POSTS = Counter(
    "fieldhub_bridge_posts_total", "Posts of the Leshan bridge (/leshan_api/), by route and status", ["route", "status"]
)


def enabled() -> bool:
    return bool(settings.METRICS_ENABLED)


def live_gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
    """A gauge summed over the living processes (a process's part goes with it: ``process_exiting``)."""
    return Gauge(name, documentation, list(labels), multiprocess_mode="livesum")


def process_exiting() -> None:
    """Forget this process's live gauges (open websockets, the Leshan connection) as it ends cleanly."""
    if MULTIPROCESS_DIR and os.path.isdir(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]


atexit.register(process_exiting)
