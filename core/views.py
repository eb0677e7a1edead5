"""Operational endpoints of the project itself."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database unreachable: %s", exc)
        connection.close_if_unusable_or_obsolete()
        return f"unavailable ({type(exc).__name__})"
    return "ok"


async def _channel_layer_status() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "not configured"
    try:
        channel = await asyncio.wait_for(layer.new_channel("health."), CHECK_TIMEOUT_SECONDS)
        await asyncio.wait_for(layer.send(channel, {"type": "health.ping"}), CHECK_TIMEOUT_SECONDS)
        message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # redis-py raises its own ConnectionError family, not OSError
        logger.warning("health: channel layer failed: %r", exc)
        return f"unavailable ({type(exc).__name__})"
    return "ok" if message.get("type") == "health.ping" else "unavailable (wrong message)"


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer, else 503; no authentication, no secrets."""
    checks = {
        "database": await sync_to_async(_database_status, thread_sensitive=True)(),
        "channel_layer": await _channel_layer_status(),
    }
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
