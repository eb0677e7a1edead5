"""What to push when telemetry changes: each function names the fragments (``telemetry.partials``) that
the groups watching a change need, and ``realtime.publish`` sends them after commit. Rendering is lazy:
a fragment nobody watches is never rendered.

Every write that changes what a telemetry page shows announces it here, once: the ingest
(``post_stored``), a device's state set elsewhere (``endpoint_changed``), an operation queued or moved
(``operation_changed``), devices' site or labels changed (``endpoints_retagged``).

What concerns one device goes to its own group, and, on the fleet pages, to the page's global group and to
the group of the device's site (``groups.of_device``; a device in no site to the global group only), each
fragment rendered once per group and, for a site's group, only while the device is still in that site
(``site_id`` of the partials). The fleet counts are rendered per group too: the global group's count every
device, a site's group that site's devices."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db.models import Model

from core.models import Endpoint
from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry import partials, presenters

if TYPE_CHECKING:
    from telemetry.downlink.queue import Queued
    from telemetry.ingest.rows import Post
    from telemetry.ingest.store import Saved
    from telemetry.models import EndpointOperation


def site_of_device(row: Model) -> int | None:
    """The site of the device a row (an operation, a firmware update) belongs to: from its ``endpoint`` if
    that was read with it, else in one query."""
    endpoint_field = type(row)._meta.get_field("endpoint")
    if endpoint_field.is_cached(row):  # type: ignore[union-attr]  # a ForeignKey, whose descriptor caches
        endpoint: Endpoint = getattr(row, "endpoint")  # noqa: B009  # any model with an endpoint
        return endpoint.site_id
    endpoint_id = getattr(row, "endpoint_id")  # noqa: B009
    return Endpoint.objects.filter(pk=endpoint_id).values_list("site_id", flat=True).first()


def _row(endpoint_id: int, site_id: int | None, *, created: bool = False, joined: bool = False) -> None:
    """A device's row on the dashboard of every group that may see it (a new one on top; one that
    ``joined`` its site on top of that site's dashboards, where it was not shown)."""
    for group in groups.of_device(groups.DASHBOARD, site_id):
        insert = created or (joined and group != groups.DASHBOARD)
        key = f"endpoint-new-{endpoint_id}" if insert else f"endpoint-row-{endpoint_id}"
        row = partial(partials.render_endpoint_row, endpoint_id, insert=insert, site_id=groups.site_of(group))
        publish(group, LiveEvent(EventType.STATUS, key, row))


def _row_left(endpoint_id: int, site_id: int) -> None:
    """A device left site ``site_id``: its row leaves that site's dashboards (only a row still shown as of
    that site: a page that also sees the device's new site may have it from there already)."""
    removal = partial(partials.render_endpoint_row_removed, endpoint_id, site_id)
    group = groups.on_site(groups.DASHBOARD, site_id)
    publish(group, LiveEvent(EventType.STATUS, f"endpoint-row-{endpoint_id}", removal))


def endpoint_row_changed(endpoint_id: int, site_id: int | None) -> None:
    """Something a device's dashboard row shows changed outside this module (its alarm mark)."""
    _row(endpoint_id, site_id)


def fleet_counts_changed(site_id: int | None) -> None:
    """A device of ``site_id`` changed state: the fleet counts of the global group and of its site's."""
    for group in groups.of_device(groups.DASHBOARD, site_id):
        counts = partial(partials.render_fleet_counts, site_id=groups.site_of(group))
        publish(group, LiveEvent(EventType.FLEET, "fleet-counts", counts))


def post_stored(post: Post, saved: Saved) -> None:
    """Push what a stored post changed: the dashboard row (a new row for a new device), the counts when a
    device changed state, the device page's header and latest values, and the event on every list."""
    endpoint_id = saved.endpoint_id
    device = groups.endpoint(endpoint_id)
    _row(endpoint_id, saved.site_id, created=saved.created)
    fields = post.endpoint_fields
    if saved.created or saved.previous != (fields["online"], fields["sleeping"]):
        fleet_counts_changed(saved.site_id)
    status = partial(partials.render_endpoint_status, endpoint_id)
    publish(device, LiveEvent(EventType.STATUS, "endpoint-status", status))
    latest = partial(partials.render_latest_values, endpoint_id)
    publish(device, LiveEvent(EventType.READING, "latest-values", latest))
    if post.event is not None and saved.event_id is not None:
        summary = presenters.event_summary_of_post(
            event_id=saved.event_id, endpoint_id=endpoint_id, endpoint_name=post.endpoint_name, post=post
        )
        html = partials.render_event(summary)
        lists = [*groups.of_device(groups.DASHBOARD, saved.site_id), *groups.of_device(groups.EVENTS, saved.site_id)]
        for group in (*lists, device):
            publish(group, LiveEvent(EventType.EVENT, "events", html=html, keep=presenters.EVENTS_SHOWN))


def endpoint_changed(endpoint_id: int, *, site_id: int | None, status_changed: bool) -> None:
    """A device's state changed outside an ingest (Leshan said it sleeps or left): its row, header, counts."""
    _row(endpoint_id, site_id)
    status = partial(partials.render_endpoint_status, endpoint_id)
    publish(groups.endpoint(endpoint_id), LiveEvent(EventType.STATUS, "endpoint-status", status))
    if status_changed:
        fleet_counts_changed(site_id)


UNKNOWN_SITE = -1  # no site has this id: a caller that does not know the device's site


def operation_changed(
    operation: EndpointOperation, *, created: bool = False, site_id: int | None = UNKNOWN_SITE
) -> None:
    """An operation was queued or changed state: its row on the device's page and on the operations page
    (of every group that may see its device). ``site_id``: its device's site, if the caller knows it (else
    ``site_of_device`` reads it)."""
    key = f"operation-{operation.pk}" + ("-new" if created else "")
    site = site_of_device(operation) if site_id == UNKNOWN_SITE else site_id
    pages = [(group, "operations") for group in groups.of_device(groups.OPERATIONS, site)]
    for group, page in [(groups.endpoint(operation.endpoint_id), "endpoint"), *pages]:
        renderer = partial(
            partials.render_operation, operation.pk, insert=created, page=page, site_id=groups.site_of(group)
        )
        publish(group, LiveEvent(EventType.OPERATION, key, renderer))


RETAGGED_LIVE_MAX = 100  # devices of one change pushed one by one; a larger bulk change shows at a reload


def endpoints_retagged(
    endpoint_ids: Sequence[int], sites: Sequence[int | None] = (), moved: Sequence[int] = ()
) -> None:
    """Devices' site or labels changed (``core.signals.endpoints_retagged``, after the commit): their
    dashboard rows (in the groups of the site each is in now; a device that ``moved`` leaves the
    dashboards of the other ``sites`` and joins its new site's), their pages' headers, the site and labels
    form of the operators who have it open, and, when devices moved, the counts of the sites they left and
    joined (``sites``)."""
    shown = list(endpoint_ids[:RETAGGED_LIVE_MAX])
    site_now = dict(Endpoint.objects.filter(pk__in=shown).values_list("pk", "site_id"))
    moved_ids = set(moved)
    for endpoint_id in shown:
        if endpoint_id not in site_now:
            continue  # deleted meanwhile
        site_id = site_now[endpoint_id]
        if endpoint_id in moved_ids:
            for left in sites:
                if left is not None and left != site_id:
                    _row_left(endpoint_id, left)
        _row(endpoint_id, site_id, joined=endpoint_id in moved_ids)
        device = groups.endpoint(endpoint_id)
        status = partial(partials.render_endpoint_status, endpoint_id)
        publish(device, LiveEvent(EventType.STATUS, "endpoint-status", status))
        tags = partial(partials.render_endpoint_tags_refresh, endpoint_id)
        publish(device, LiveEvent(EventType.STATUS, "endpoint-tags", tags))
    for site in sites:
        fleet_counts_changed(site)


def on_endpoints_retagged(
    sender: Any, endpoint_ids: Sequence[int], sites: Sequence[int | None] = (), moved: Sequence[int] = (), **kwargs: Any
) -> None:
    endpoints_retagged(endpoint_ids, sites, moved)


BULK_ROWS_PUSHED = 20  # new rows a bulk enqueue puts on top of the operations page
BULK_DEVICES_PUSHED = 100  # device pages a bulk enqueue pushes its new row to


def operations_queued(operations: Sequence[Queued]) -> None:
    """Many operations were queued at once (a rollout's wave): one push to the operations page of each
    group that may see some of them (the global group, each of their sites' groups) with its newest
    ``BULK_ROWS_PUSHED`` on top, and each row to its device's page for the first ``BULK_DEVICES_PUSHED``
    (a larger wave's devices show theirs when their pages load)."""
    if not operations:
        return
    by_group: dict[str, list[int]] = {}
    for operation in operations:
        for group in groups.of_device(groups.OPERATIONS, operation.site_id):
            by_group.setdefault(group, []).append(operation.pk)
    for group, ids in by_group.items():
        newest = sorted(ids)[-BULK_ROWS_PUSHED:]
        rows = partial(partials.render_operations_inserted, newest, site_id=groups.site_of(group))
        publish(group, LiveEvent(EventType.OPERATION, f"operations-bulk-{newest[-1]}", rows))
    for operation in operations[:BULK_DEVICES_PUSHED]:
        row = partial(partials.render_operation, operation.pk, insert=True, page="endpoint")
        key = f"operation-{operation.pk}-new"
        publish(groups.endpoint(operation.endpoint_id), LiveEvent(EventType.OPERATION, key, row))
