"""The live updates' Prometheus figures: open websockets by route, and what the publisher did with each
message (sent, coalesced, skipped: nobody watching, failed, dropped, oversize)."""

from __future__ import annotations

from prometheus_client import Counter

from core.monitoring.metrics import enabled, live_gauge

WEBSOCKETS_OPEN = live_gauge("fieldhub_websockets_open", "Websockets open, by route", ("route",))
PUBLISHER_MESSAGES = Counter(
    "fieldhub_publisher_messages_total",
    "Live updates by what became of them: sent, coalesced, skipped (unwatched), failed, dropped, oversize",
    ["result"],
)


def published(result: str, count: int = 1) -> None:
    if count and enabled():
        PUBLISHER_MESSAGES.labels(result).inc(count)
