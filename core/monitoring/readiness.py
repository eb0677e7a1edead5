"""Readiness (/readyz): the process serves, its database and channel layer answer, every migration is
applied, and it is not shutting down. /healthz is liveness alone (core.views.healthz).

A stopping ``manage.py serve`` sets ``shutting_down`` first and keeps serving for SHUTDOWN_DRAIN_SECONDS:
the load balancer sees /readyz fail and sends no new clients while the open requests and sockets finish.
"""

from __future__ import annotations

import threading

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

_shutting_down = threading.Event()
_migrated = False  # once every migration was applied, this process's code stays migrated


def begin_shutdown() -> None:
    _shutting_down.set()


def shutting_down() -> bool:
    return _shutting_down.is_set()


def reset() -> None:
    """Tests only: forget the shutdown and the migrations seen applied."""
    global _migrated
    _shutting_down.clear()
    _migrated = False


def migrations_pending() -> int:
    """How many migrations of this code the database lacks (checked until there are none, then never)."""
    global _migrated
    if _migrated:
        return 0
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        connection.close_if_unusable_or_obsolete()
        raise
    _migrated = not plan
    return len(plan)
