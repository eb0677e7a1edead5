"""/metrics (Prometheus text, protected: core.monitoring.access) and /readyz (readiness)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from core.monitoring import metrics, readiness
from core.monitoring.access import metrics_allowed, metrics_configured

logger = logging.getLogger(__name__)

Collect = Callable[[], Iterable[Metric]]


@cache
def scrape_collectors() -> list[Collect]:
    """The functions of ``settings.METRICS_COLLECTORS``: figures the database knows, counted at scrape time."""
    return [import_string(path) for path in settings.METRICS_COLLECTORS]


class _Scrape:
    """What one scrape shows: every process's figures (the multiprocess files, or this process's own
    registry), the health checks as /healthz saw them a moment ago, and the database's counts."""

    def __init__(self, health: dict[str, str]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        if metrics.MULTIPROCESS_DIR:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, metrics.MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        up = GaugeMetricFamily("fieldhub_health_up", "1 when the check of /healthz passes, else 0", labels=["check"])
        for check, status in self.health.items():
            up.add_metric([check], 1.0 if status == "ok" else 0.0)
        yield up
        if self.health.get("database") != "ok":
            return  # the counts would only fail the same way
        for collect in scrape_collectors():
            try:
                yield from collect()
            except DatabaseError as exc:
                logger.warning("metrics: %s failed: %r", getattr(collect, "__name__", collect), exc)


def _render(health: dict[str, str]) -> bytes:
    return generate_latest(_Scrape(health))  # any object with collect()


@never_cache
@require_GET
async def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_configured():
        return HttpResponse("Not Found\n", status=404, content_type="text/plain; charset=utf-8")
    if not metrics_allowed(request):
        return HttpResponse(
            "a valid METRICS_TOKEN (Authorization: Bearer ...) or an address in METRICS_ALLOW is needed\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    from core.views import health_checks

    body = await sync_to_async(_render, thread_sensitive=True)(await health_checks())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _migration_status() -> str:
    try:
        pending = readiness.migrations_pending()
    except DatabaseError as exc:
        return f"unavailable ({type(exc).__name__})"
    return f"{pending} pending" if pending else "ok"


@never_cache
@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process should get traffic: /healthz's checks pass, no migration is pending, and it is
    not shutting down; else 503 naming what is not ready. No authentication, no secrets."""
    from core.views import health_checks

    checks = {"shutdown": "shutting down" if readiness.shutting_down() else "ok", **(await health_checks())}
    if checks["database"] == "ok":
        checks["migrations"] = await sync_to_async(_migration_status, thread_sensitive=True)()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
