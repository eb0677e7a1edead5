"""The telemetry APIs, one router per file: ``bridge`` (the Leshan bridge API, /leshan_api/: the flownexus
bridge's URLs and JSON, so an existing bridge can post here unchanged), ``query`` (devices, values, series,
readings, exports and events of the query API, /api/v1/) and ``operations`` (the downlink queue's operations).
``core.api`` composes them."""

from telemetry.api.bridge import bridge_router
from telemetry.api.operations import operations_router
from telemetry.api.query import query_router

__all__ = ["bridge_router", "operations_router", "query_router"]
