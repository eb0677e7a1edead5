"""What to push when telemetry changes: each function names the fragments (``telemetry.partials``) that
the groups watching a change need, and ``realtime.publish`` sends them after commit. Rendering is lazy:
a fragment nobody watches is never rendered.

Every write that changes what a telemetry page shows announces it here, once: the ingest
(``post_stored``), a device's state set elsewhere (``endpoint_changed``), an operation queued or moved
(``operation_changed``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry import partials, presenters

if TYPE_CHECKING:
    from telemetry.downlink.queue import Queued
    from telemetry.ingest.rows import Post
    from telemetry.ingest.store import Saved
    from telemetry.models import EndpointOperation


def post_stored(post: Post, saved: Saved) -> None:
    """Push what a stored post changed: the dashboard row (a new row for a new device), the counts when a
    device changed state, the device page's header and latest values, and the event on every list."""
    endpoint_id = saved.endpoint_id
    dashboard, device = groups.DASHBOARD, groups.endpoint(endpoint_id)
    if saved.created:
        row = partial(partials.render_endpoint_row, endpoint_id, insert=True)
        publish(dashboard, LiveEvent(EventType.STATUS, f"endpoint-new-{endpoint_id}", row))
    else:
        row = partial(partials.render_endpoint_row, endpoint_id)
        publish(dashboard, LiveEvent(EventType.STATUS, f"endpoint-row-{endpoint_id}", row))
    fields = post.endpoint_fields
    if saved.created or saved.previous != (fields["online"], fields["sleeping"]):
        publish(dashboard, LiveEvent(EventType.FLEET, "fleet-counts", partials.render_fleet_counts))
    status = partial(partials.render_endpoint_status, endpoint_id)
    publish(device, LiveEvent(EventType.STATUS, "endpoint-status", status))
    latest = partial(partials.render_latest_values, endpoint_id)
    publish(device, LiveEvent(EventType.READING, "latest-values", latest))
    if post.event is not None and saved.event_id is not None:
        summary = presenters.event_summary_of_post(
            event_id=saved.event_id, endpoint_id=endpoint_id, endpoint_name=post.endpoint_name, post=post
        )
        html = partials.render_event(summary)
        for group in (dashboard, device, groups.EVENTS):
            publish(group, LiveEvent(EventType.EVENT, "events", html=html, keep=presenters.EVENTS_SHOWN))


def endpoint_changed(endpoint_id: int, *, status_changed: bool) -> None:
    """A device's state changed outside an ingest (Leshan said it sleeps or left): its row, header, counts."""
    dashboard, device = groups.DASHBOARD, groups.endpoint(endpoint_id)
    row = partial(partials.render_endpoint_row, endpoint_id)
    publish(dashboard, LiveEvent(EventType.STATUS, f"endpoint-row-{endpoint_id}", row))
    status = partial(partials.render_endpoint_status, endpoint_id)
    publish(device, LiveEvent(EventType.STATUS, "endpoint-status", status))
    if status_changed:
        publish(dashboard, LiveEvent(EventType.FLEET, "fleet-counts", partials.render_fleet_counts))


def operation_changed(operation: EndpointOperation, *, created: bool = False) -> None:
    """An operation was queued or changed state: its row on the device's page and on the operations page."""
    key = f"operation-{operation.pk}" + ("-new" if created else "")
    for group, page in ((groups.endpoint(operation.endpoint_id), "endpoint"), (groups.OPERATIONS, "operations")):
        renderer = partial(partials.render_operation, operation.pk, insert=created, page=page)
        publish(group, LiveEvent(EventType.OPERATION, key, renderer))


BULK_ROWS_PUSHED = 20  # new rows a bulk enqueue puts on top of the operations page
BULK_DEVICES_PUSHED = 100  # device pages a bulk enqueue pushes its new row to


def operations_queued(operations: Sequence[Queued]) -> None:
    """Many operations were queued at once (a rollout's wave): one push to the operations page with the
    newest ``BULK_ROWS_PUSHED`` of them on top, and each row to its device's page for the first
    ``BULK_DEVICES_PUSHED`` (a larger wave's devices show theirs when their pages load)."""
    if not operations:
        return
    newest = sorted(operation.pk for operation in operations)[-BULK_ROWS_PUSHED:]
    rows = partial(partials.render_operations_inserted, newest)
    publish(groups.OPERATIONS, LiveEvent(EventType.OPERATION, f"operations-bulk-{newest[-1]}", rows))
    for operation in operations[:BULK_DEVICES_PUSHED]:
        row = partial(partials.render_operation, operation.pk, insert=True, page="endpoint")
        key = f"operation-{operation.pk}-new"
        publish(groups.endpoint(operation.endpoint_id), LiveEvent(EventType.OPERATION, key, row))
