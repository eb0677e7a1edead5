"""Every websocket group name and live event type, in one place.

Group names follow Channels' rules (ASCII letters, digits, ``-``, ``_``, ``.``; under 100 characters), so
devices are named by their database id, never by their endpoint name.
"""

from __future__ import annotations

DASHBOARD = "dashboard"
FIRMWARE = "firmware"
OPERATIONS = "operations"
EVENTS = "events"


def endpoint(endpoint_id: int) -> str:
    """Everything about one device."""
    return f"endpoint.{endpoint_id}"


class EventType:
    """What a live event says happened (namespaced by the app that sends it)."""

    READING = "telemetry.reading"
    EVENT = "telemetry.event"
    STATUS = "endpoint.status"
    FLEET = "endpoint.fleet"
    OPERATION = "operation.status"
    FIRMWARE = "firmware.progress"
    CAMPAIGN = "firmware.campaign"
