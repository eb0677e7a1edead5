"""Storing one post of what a device reports: check it, build its rows, store them, announce them once.

The path of a reading, from the bridge's POST to the browser (README, "Architecture"):
``telemetry.api.bridge`` (parse: ``telemetry.ingest.payloads``) → ``ingest`` → ``rows.post_build`` (pure)
→ ``store.save`` (one statement on PostgreSQL) → ``announce.post_stored`` → ``realtime.publish`` (after
commit) → the consumers → the page.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.lwm2m.ddf import unknown_slug
from core.lwm2m.nodes import Reading
from core.models import ResourceType
from core.monitoring import logs
from core.monitoring import metrics as monitoring
from core.registry import resource_types
from core.sites import services as site_rules
from telemetry import announce, hooks, metrics
from telemetry.downlink import wakeup
from telemetry.ingest import rows, store
from telemetry.ingest.names import IngestError, endpoint_name_check


@dataclass(frozen=True)
class IngestResult:
    endpoint: str
    resources: int
    event_id: int | None


def ingest(*, endpoint_name: str, readings: Sequence[Reading], received_at: dt.datetime | None = None) -> IngestResult:
    """Store one post of ``readings`` from one device, atomically, in a constant number of queries.

    The endpoint is created or refreshed (registration events change its state: ``lifecycle.state``), every
    reading becomes a Resource row, and a post of several readings becomes one Event linking them.
    Resource types unknown to the registry are registered from the payload's type; a value whose type
    conflicts with its registered type fails the whole post.
    """
    started = time.perf_counter()
    name = endpoint_name_check(endpoint_name)
    logs.bind(endpoint=name)
    _check_size(readings)
    now = received_at or timezone.now()
    keys = {rows.type_key(r) for r in readings}
    types = resource_types.get_many(keys)
    firmware_readings = [r for r in readings if hooks.is_firmware_reading(r)]
    watched = hooks.readings_watched(keys)  # an alarm rule watches one of them: judged in a transaction
    post, saved = None, None
    if store.is_one_statement() and not firmware_readings and len(types) == len(keys):
        # The common case on PostgreSQL: one statement, which is its own transaction. Readings an alarm rule
        # watches take it too when they change no alarm: the statement's guard checks that (hooks).
        post = rows.post_build(endpoint_name=name, readings=readings, types=types, now=now)  # may refuse
        guard = hooks.readings_guard(name, post.values) if watched else None
        if not watched or guard is not None:
            try:
                saved = _store_guarded(name, post, guard)
            except store.GuardTripped:
                saved = None  # an alarm may change: the transaction below
    if saved is None:
        also = hooks.readings_state_read(readings, now) if watched and store.is_one_statement() else None
        with transaction.atomic():
            if len(types) < len(keys):
                types.update(resource_types_register([r for r in readings if rows.type_key(r) not in types]))
                post = None
            if post is None:
                post = rows.post_build(endpoint_name=name, readings=readings, types=types, now=now)
            saved = _store(name, post, also)
            if watched:
                hooks.readings_judged(name, saved.endpoint_id, saved.site_id, post.values, saved.also)
            hooks.firmware_reported(saved.endpoint_id, firmware_readings)
    assert post is not None
    if post.wake:
        # Dispatchers in this process; those elsewhere were NOTIFYed by the statement itself (PostgreSQL).
        wakeup.wake(saved.endpoint_id, notify_database=False)
    if monitoring.enabled():
        metrics.INGEST_POSTS.inc()
        metrics.RESOURCES_STORED.inc(saved.resources)
        metrics.INGEST_DURATION.observe(time.perf_counter() - started)
    return IngestResult(endpoint=name, resources=saved.resources, event_id=saved.event_id)


def _check_size(readings: Sequence[Reading]) -> None:
    if not readings:
        raise IngestError("the post holds no resource values", path="val")
    if len(readings) > settings.INGEST_MAX_RESOURCES:
        raise IngestError(
            f"the post holds {len(readings)} resource values; the limit is {settings.INGEST_MAX_RESOURCES}",
            path="val",
            status=413,
        )


def _store_guarded(name: str, post: rows.Post, guard: store.AlsoRead | None) -> store.Saved:
    """The one statement, with its guard; inside a caller's transaction in a savepoint, so that a guard
    that trips leaves that transaction usable."""
    if guard is not None and transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return _store(name, post, guard)
    return _store(name, post, guard)


def _store(name: str, post: rows.Post, also: store.AlsoRead | None = None) -> store.Saved:
    saved = store.save(post, also)
    if saved.created:
        # A device's first appearance: the assignment rules give it a site. In the caller's transaction; on
        # PostgreSQL's one-statement path (no transaction), in one of its own right after the statement.
        # A post for a known device reads no rules: the store says whether it created the row.
        with transaction.atomic(savepoint=False):
            site = site_rules.endpoint_site_assign_first(endpoint_id=saved.endpoint_id, name=name)
        if site is not None:
            saved = replace(saved, site_id=site.pk)  # announced to its site's pages too
    announce.post_stored(post, saved)
    return saved


def resource_types_register(readings: Sequence[Reading]) -> dict[rows.TypeKey, ResourceType]:
    """Register resource types first seen in a payload, named ``<object>_<resource>``, typed as sent
    (by the first reading of each; the others are checked against it like any registered type)."""
    object_names = dict(
        ResourceType.objects.filter(object_id__in={r.path.object_id for r in readings}, defined=True)
        .values_list("object_id", "object_name")
        .distinct()
    )
    first: dict[rows.TypeKey, Reading] = {}
    for reading in readings:
        first.setdefault(rows.type_key(reading), reading)
    new = [
        ResourceType(
            object_id=object_id,
            resource_id=resource_id,
            object_name=object_names.get(object_id, f"Object {object_id}"),
            name=f"Resource {resource_id}",
            slug=unknown_slug(object_id, resource_id),
            data_type=r.data_type.value,
            multiple=r.multiple,
            defined=False,
        )
        for (object_id, resource_id), r in first.items()
    ]
    # Another process may register the same type at the same moment: keep whichever row won.
    ResourceType.objects.bulk_create(new, ignore_conflicts=True)
    keys = set(first)
    created = {
        (rt.object_id, rt.resource_id): rt
        for rt in ResourceType.objects.filter(object_id__in={k[0] for k in keys}, resource_id__in={k[1] for k in keys})
        if (rt.object_id, rt.resource_id) in keys
    }
    for key in keys - created.keys():
        raise IngestError(f"cannot register resource type {unknown_slug(*key)}: its name is taken", path=f"/{key[0]}")
    for rt in created.values():
        transaction.on_commit(functools.partial(resource_types.add, rt))
    return created
