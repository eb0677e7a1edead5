"""Waking the notification workers when a message was written (as ``telemetry.downlink.wakeup`` wakes the
dispatchers): workers in this process (``manage.py serve``) are called after commit; workers in other
processes LISTEN on PostgreSQL's ``fieldhub_notify`` channel (``NOTIFY`` is delivered on commit). Only a
hint: every worker also looks every NOTIFY_POLL_SECONDS, so a lost wake-up delays a message, never loses it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection, transaction

logger = logging.getLogger(__name__)

CHANNEL = "fieldhub_notify"

_local: list[Callable[[], None]] = []


def register_local(callback: Callable[[], None]) -> None:
    _local.append(callback)


def unregister_local(callback: Callable[[], None]) -> None:
    if callback in _local:
        _local.remove(callback)


def wake() -> None:
    """Tell the workers that messages are due (after the current transaction commits)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    if _local:
        transaction.on_commit(_wake_local)


def _wake_local() -> None:
    for callback in list(_local):
        try:
            callback()
        except Exception:  # a worker shutting down must not fail a write
            logger.exception("notifications: waking a worker failed")
