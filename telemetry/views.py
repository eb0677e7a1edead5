"""The telemetry pages: the fleet dashboard and a device's page; live over websockets (telemetry.fragments)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core import pages
from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest, back
from core.models import Endpoint
from telemetry import presenters, selectors
from telemetry.downlink import queue
from telemetry.models import EndpointOperation

# The device table's sortable columns: sort key, heading, the order of a first click (newest seen first).
DEVICE_COLUMNS = (
    ("name", "Device", "name"),
    ("state", "State", "state"),
    ("last_seen", "Last seen", "-last_seen"),
    ("firmware", "Firmware", "firmware"),
    ("battery", "Battery", "battery"),
)


@login_required
@require_GET
def dashboard(request: PageRequest) -> HttpResponse:
    """The fleet; ``q``, ``status``, ``site``, ``label``, ``sort`` and ``page`` choose the device table's rows
    (htmx asks for the table alone and pushes the URL, so the same URL works without JavaScript and after a
    reload). A site or label that names nothing known is a 422 with the reason in the table."""
    q, status = pages.text(request, "q"), pages.text(request, "status") or None
    site, label = pages.text(request, "site"), pages.text(request, "label")
    sort = pages.text(request, "sort") or selectors.DEFAULT_SORT
    context = {
        "nav": "dashboard",
        "q": q,
        "status": status or "",
        "site": site,
        "label": label,
        "sort": sort,
        "sort_param": "" if sort == selectors.DEFAULT_SORT else sort,
        **presenters.dashboard_context(
            user=request.user, q=q, status=status, sort=sort, page=pages.page_number(request), site=site, label=label
        ),
    }
    devices = context["devices"]
    labels = ",".join(request.GET.getlist("label"))
    context["send_to_many"] = pages.link(
        "/rollouts/new/", q=q, status=status, site=pages.text(request, "site"), label=labels
    )

    def at(*, sort: str = sort, page: int = 1) -> str:
        shown_sort = None if sort == selectors.DEFAULT_SORT else sort
        filters = {"q": q, "status": status, "site": site, "label": label}
        return pages.link("/", **filters, sort=shown_sort, page=None if page == 1 else page)

    context["columns"] = [
        {
            "label": label,
            "href": at(sort=("" if sort.startswith("-") else "-") + key if sort.lstrip("-") == key else first),
            "order": ("descending" if sort.startswith("-") else "ascending") if sort.lstrip("-") == key else "",
        }
        for key, label, first in DEVICE_COLUMNS
    ]
    number, last = devices.number, devices.pages
    context["pager"] = {
        "summary": f"{devices.start:,}\u2013{devices.end:,} of {devices.total:,}" if devices.total else "",
        "number": number,
        "pages": last,
        "first": at(page=1) if number > 1 else None,
        "previous": at(page=number - 1) if number > 1 else None,
        "next": at(page=number + 1) if number < last else None,
        "last": at(page=last) if number < last else None,
    }
    answer = 422 if context["filter_error"] else 200
    if request.htmx and request.htmx.target == "device-table":
        return TemplateResponse(request, "telemetry/dashboard.html#device-table", context, status=answer)
    return TemplateResponse(request, "telemetry/dashboard.html", context, status=answer)


@login_required
@require_GET
def endpoint(request: PageRequest, name: str) -> HttpResponse:
    """A device; ``path``, ``before`` and ``after`` choose the readings table's resource and page."""
    if request.htmx and request.htmx.target == "readings":
        return render_endpoint_page(request, name, template="telemetry/endpoint.html#readings")
    return render_endpoint_page(request, name)


def render_endpoint_page(
    request: PageRequest,
    name: str,
    *,
    template: str = "telemetry/endpoint.html",
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> TemplateResponse:
    context = {
        "nav": "dashboard",
        **presenters.endpoint_context(
            user=request.user,
            name=name,
            path=pages.text(request, "path"),
            before=pages.text(request, "before") or None,
            after=pages.text(request, "after") or None,
        ),
        **(extra or {}),
    }
    if context["readings_page"] is not None:
        paged = bool(request.GET.get("before") or request.GET.get("after"))
        filters = {"path": context["readings_path"]}
        here = reverse("endpoint", args=[name])
        context["readings_pager"] = _cursor_pager(here, filters, context["readings_page"], paged=paged)
    return TemplateResponse(request, template, context, status=status)


def _time_filters(request: PageRequest) -> tuple[dict[str, str], Any, Any]:
    """The time range of a list page: its parameters as given (for the links) and the two times."""
    zone = pages.time_zone(request)
    since, until = pages.moment(request, "since", zone), pages.moment(request, "until", zone)
    raw = {name: pages.text(request, name) for name in ("since", "until")}
    if since or until:
        raw["tz"] = pages.text(request, "tz")
    return raw, since, until


@dataclass(frozen=True)
class _ListQuery:
    """What every newest-first list page takes: a device, a time range (as given, for the links), a cursor."""

    endpoint_name: str
    device: Endpoint | None
    times: dict[str, str]
    since: dt.datetime | None
    until: dt.datetime | None
    before: str | None
    after: str | None

    def window(self) -> dict[str, Any]:
        """The selector's keyword arguments for this page."""
        return {
            "endpoint": self.device,
            "since": self.since,
            "until": self.until,
            "before": self.before,
            "after": self.after,
            "limit": LIST_ROWS,
        }


def _list_query(request: PageRequest) -> _ListQuery:
    endpoint_name = pages.text(request, "endpoint")
    times, since, until = _time_filters(request)
    device = selectors.endpoint_get(user=request.user, name=endpoint_name) if endpoint_name else None
    before, after = pages.text(request, "before") or None, pages.text(request, "after") or None
    return _ListQuery(endpoint_name, device, times, since, until, before, after)


def _cursor_pager(path: str, filters: dict[str, str], page: Any, *, paged: bool) -> dict[str, str | None]:
    """Links of a newest-first list: back to the newest page, to newer ones, to older ones."""
    return {
        "newest": pages.link(path, **filters) if paged and (page.newer or not page.items) else None,
        "newer": pages.link(path, **filters, after=page.newer) if page.newer else None,
        "older": pages.link(path, **filters, before=page.older) if page.older else None,
    }


LIST_ROWS = 50


@login_required
@require_GET
def operations(request: PageRequest) -> HttpResponse:
    """Commands newest first, 50 a page, by cursor (``before``/``after``); filtered by state, device and
    the time they were queued."""
    status = pages.text(request, "status").lower()
    query = _list_query(request)
    endpoint_name, times, before, after = query.endpoint_name, query.times, query.before, query.after
    page = selectors.operation_page(user=request.user, status=status or None, **query.window())
    filters = {"status": status, "endpoint": endpoint_name, **times}
    operations = selectors.operations_mark_retryable(page.items)
    context = {
        "nav": "operations",
        "operations": operations,
        "status": status,
        "endpoint_name": endpoint_name,
        "since": pages.local_input(times["since"]),
        "until": pages.local_input(times["until"]),
        "statuses": EndpointOperation.Status.choices,
        "filtered": any(filters.values()),
        # Pushed new commands go on top of the newest page of the unfiltered list only.
        "takes_new": not any(filters.values()) and not before and page.newer is None,
        "pager": _cursor_pager("/operations/", filters, page, paged=bool(before or after)),
    }
    return TemplateResponse(request, "telemetry/operations.html", context)


def _back(request: PageRequest) -> HttpResponse:
    """htmx asked: the change arrives over the websocket; a plain form post goes back to where it came from."""
    if request.htmx:
        return HttpResponse(status=204)
    return back(request, "operations")


@login_required
@require_POST
def operation_cancel(request: PageRequest, pk: int) -> HttpResponse:
    queue.operation_cancel(actor=request.user, operation=selectors.operation_get(user=request.user, pk=pk))
    return _back(request)


@login_required
@require_POST
def operation_retry(request: PageRequest, pk: int) -> HttpResponse:
    queue.operation_retry(actor=request.user, operation=selectors.operation_get(user=request.user, pk=pk))
    return _back(request)


@login_required
@require_POST
def endpoint_command(request: PageRequest, name: str) -> HttpResponse:
    """An operator queues a command from the device page; the new row arrives over the websocket.

    htmx shows the answer in place, whatever it is: a refused command is the form's answer (200, with the
    reason), not a failed request, which htmx would not swap and the browser would log as an error. The API
    answers the same refusal with 422."""
    device = selectors.endpoint_get(user=request.user, name=name)
    try:
        operation = queue.operation_enqueue(
            actor=request.user,
            endpoint=device,
            kind=request.POST.get("kind", "").upper(),
            path=request.POST.get("path", "").strip(),
            value=request.POST.get("value") or None,
            arguments=request.POST.get("arguments", ""),
        )
    except PermissionDenied:
        raise  # a forged request: the 403 page, not a message
    except FieldhubError as exc:
        if request.htmx:
            return TemplateResponse(request, "telemetry/endpoint.html#command-result", {"refused": exc.detail})
        messages.error(request, f"Not queued: {exc.detail}")
    else:
        queued = f"Queued: {operation.get_kind_display()} {operation.path}."
        if request.htmx:
            return TemplateResponse(request, "telemetry/endpoint.html#command-result", {"queued": queued}, status=201)
        messages.success(request, queued)
    return redirect("endpoint", name=device.name)


@login_required
@require_GET
def events(request: PageRequest) -> HttpResponse:
    """Events newest first, 50 a page, by cursor (``before``/``after``); filtered by device, object ids
    (``type``, see ``selectors.event_type_filter``) and time. Live only unfiltered, on the newest page."""
    event_type = pages.text(request, "type")
    query = _list_query(request)
    endpoint_name, times, before, after = query.endpoint_name, query.times, query.before, query.after
    page = selectors.event_page(user=request.user, event_type=event_type or None, **query.window())
    filters = {"endpoint": endpoint_name, "type": event_type, **times}
    filtered = any(filters.values())
    context = {
        "nav": "events",
        "events": presenters.summarize_events(page.items),
        "endpoint_name": endpoint_name,
        "event_type": event_type,
        "since": pages.local_input(times["since"]),
        "until": pages.local_input(times["until"]),
        "filtered": filtered,
        "live": not filtered and not before and page.newer is None,
        "pager": _cursor_pager("/events/", filters, page, paged=bool(before or after)),
    }
    return TemplateResponse(request, "telemetry/events.html", context)
