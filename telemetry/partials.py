"""The live fragments of the telemetry pages: each renders one named partial of a page's template, from the
context ``telemetry.presenters`` builds for the page itself, with ``oob`` set (the htmx ws extension swaps
fragments in by id). They render for a group, whose members were checked when they joined: they read as
``SYSTEM``. A fragment for something that is gone renders as "" (nothing is pushed).

A fleet page's fragment rendered for one site's group (``site_id``, realtime.groups.on_site) shows that
site only: a device's row renders as "" once the device is no longer in the site (moved meanwhile), the
counts count that site's devices."""

from __future__ import annotations

from collections.abc import Sequence

from core.permissions import SYSTEM
from realtime import render
from telemetry import presenters, selectors


def render_fleet_counts(*, site_id: int | None = None) -> str:
    """The dashboard's counts: of every device, or (``site_id``) of one site's."""
    context = {"counts": selectors.fleet_counts(user=SYSTEM, site_id=site_id), "oob": True}
    return render("telemetry/dashboard.html#fleet-counts", context)


def _in_site(site_id: int | None, endpoint_site_id: int | None) -> bool:
    """May a fragment about a device of ``endpoint_site_id`` go to a group for ``site_id`` (None: global)?"""
    return site_id is None or site_id == endpoint_site_id


def render_endpoint_row(endpoint_id: int, *, insert: bool = False, site_id: int | None = None) -> str:
    endpoint = selectors.endpoint_find(user=SYSTEM, pk=endpoint_id)
    if endpoint is None or not _in_site(site_id, endpoint.site_id):
        return ""
    (row,) = presenters.device_rows([endpoint])
    html = render("telemetry/dashboard.html#endpoint-row", {"row": row, "oob": not insert})
    # A new device goes on top of a table that takes new rows only (data-new-rows: the first page of the
    # default order, unfiltered); a page without it, or without the row, ignores the fragment (fieldhub.js).
    return f'<tbody hx-swap-oob="afterbegin:#endpoint-rows[data-new-rows]">{html}</tbody>' if insert else html


def render_endpoint_row_removed(endpoint_id: int, site_id: int) -> str:
    """Removes a device's row from a dashboard where it is still shown as a device of site ``site_id``."""
    return f"<tr hx-swap-oob=\"delete:#endpoint-row-{endpoint_id}[data-site='{site_id}']\"></tr>"


def render_endpoint_status(endpoint_id: int) -> str:
    endpoint = selectors.endpoint_find(user=SYSTEM, pk=endpoint_id)
    if endpoint is None:
        return ""
    return render("telemetry/endpoint.html#endpoint-status", {**presenters.status_context(endpoint), "oob": True})


def render_latest_values(endpoint_id: int) -> str:
    endpoint = selectors.endpoint_find(user=SYSTEM, pk=endpoint_id)
    if endpoint is None:
        return ""
    readings = selectors.latest_readings(user=SYSTEM, endpoint=endpoint, limit=presenters.LATEST_VALUES_SHOWN + 1)
    context = {**presenters.latest_values_context(endpoint, readings), "oob": True}
    return render("telemetry/endpoint.html#latest-values", context)


def render_event(summary: presenters.EventSummary) -> str:
    html = render("telemetry/dashboard.html#event-row", {"event": summary})
    return f'<ul hx-swap-oob="afterbegin:#events">{html}</ul>'


def render_operations_inserted(operation_ids: Sequence[int], *, site_id: int | None = None) -> str:
    """Operations queued together (a rollout's wave), newest first, on top of the operations page (of the
    group of ``site_id``: those whose device is still in that site)."""
    operations = list(selectors.operation_list(user=SYSTEM).filter(pk__in=list(operation_ids)))
    operations = [op for op in operations if _in_site(site_id, op.endpoint.site_id)]
    selectors.operations_mark_retryable(operations)
    html = "".join(render("telemetry/operations.html#operation-row", {"op": op, "oob": False}) for op in operations)
    return f'<tbody hx-swap-oob="afterbegin:#operations-rows">{html}</tbody>' if html else ""


def render_operation(
    operation_id: int, *, insert: bool = False, page: str = "endpoint", site_id: int | None = None
) -> str:
    """An operation's row, on a device's page or on the operations page; new rows go on top."""
    operation = selectors.operation_find(user=SYSTEM, pk=operation_id)
    if operation is None or not _in_site(site_id, operation.endpoint.site_id):
        return ""
    selectors.operations_mark_retryable([operation])
    html = render(f"telemetry/{page}.html#operation-row", {"op": operation, "oob": not insert})
    return f'<tbody hx-swap-oob="afterbegin:#operations-rows">{html}</tbody>' if insert else html


def render_endpoint_tags_refresh(endpoint_id: int) -> str:
    """Makes the site and labels form of a device page that has one (operators') load itself again: the form
    is the user's own (what they may choose), so it is fetched, not pushed."""
    endpoint = selectors.endpoint_find(user=SYSTEM, pk=endpoint_id)
    if endpoint is None:
        return ""
    state = presenters.tags_state(selectors.endpoint_tags(user=SYSTEM, endpoint=endpoint))
    context = {"endpoint": endpoint, "tags_state": state, "refresh": True}
    return render("telemetry/endpoint.html#endpoint-tags-refresh", context)
