"""Waking the downlink dispatcher: a device became reachable, or an operation was queued for one.

A wake-up is only a hint: the dispatcher also sweeps the queue every DISPATCH_SWEEP_SECONDS, so a lost
wake-up delays an operation, it never loses it.

- Dispatchers in this process (the embedded server: ``manage.py serve``) register a callback here and are
  called after the transaction commits.
- Dispatchers in other processes (the Procfile's ``worker``) LISTEN on PostgreSQL's ``fieldhub_downlink``
  channel; ``NOTIFY`` is transactional, so they hear of a write only once it is committed. The ingest
  sends it inside its one statement (telemetry.store); everything else calls ``wake``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection, transaction

logger = logging.getLogger(__name__)

CHANNEL = "fieldhub_downlink"

_local: list[Callable[[int], None]] = []


def register_local(callback: Callable[[int], None]) -> None:
    _local.append(callback)


def unregister_local(callback: Callable[[int], None]) -> None:
    if callback in _local:
        _local.remove(callback)


def wake(endpoint_id: int, *, notify_database: bool = True) -> None:
    """Tell dispatchers that ``endpoint_id`` may have operations to send now (after commit)."""
    if notify_database and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(endpoint_id)])
    if _local:
        transaction.on_commit(lambda: _wake_local(endpoint_id))


def _wake_local(endpoint_id: int) -> None:
    for callback in list(_local):
        try:
            callback(endpoint_id)
        except Exception:  # a dispatcher shutting down must not fail a write
            logger.exception("downlink: waking a dispatcher failed")


NOTIFY_PAYLOAD_MAX = 7000  # bytes of one NOTIFY payload (PostgreSQL's limit is 8000)


def wake_many(endpoint_ids: list[int]) -> None:
    """``wake`` for many devices at once (a rollout's wave): their ids comma-separated in as few NOTIFYs as
    fit, and one callback after commit for this process's dispatchers."""
    if not endpoint_ids:
        return
    if connection.vendor == "postgresql":
        payloads, current = [], ""
        for endpoint_id in endpoint_ids:
            text = str(endpoint_id)
            if current and len(current) + len(text) + 1 > NOTIFY_PAYLOAD_MAX:
                payloads.append(current)
                current = ""
            current = f"{current},{text}" if current else text
        payloads.append(current)
        with connection.cursor() as cursor:
            for payload in payloads:
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])
    if _local:
        ids = list(endpoint_ids)

        def wake_all() -> None:
            for endpoint_id in ids:
                _wake_local(endpoint_id)

        transaction.on_commit(wake_all)
