"""The telemetry pages: the fleet dashboard and a device's page; live over websockets (telemetry.fragments)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_POST

from core.errors import FieldhubError, PermissionDenied
from telemetry import fragments, selectors, services
from telemetry.models import EndpointOperation


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The fleet; ``q`` and ``status`` filter the device table (htmx asks for the table alone)."""
    q, status = request.GET.get("q", "").strip(), request.GET.get("status", "").strip() or None
    context = {
        "nav": "dashboard",
        "q": q,
        "status": status or "",
        **fragments.dashboard_context(user=request.user, q=q, status=status),
    }
    if request.htmx and request.htmx.target == "endpoint-rows":
        return TemplateResponse(request, "telemetry/dashboard.html#endpoint-rows", context)
    return TemplateResponse(request, "telemetry/dashboard.html", context)


@login_required
@require_GET
def endpoint(request: HttpRequest, name: str) -> HttpResponse:
    context = {"nav": "dashboard", **fragments.endpoint_context(user=request.user, name=name)}
    return TemplateResponse(request, "telemetry/endpoint.html", context)


OPERATIONS_SHOWN = 200


@login_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "").lower()
    endpoint_name = request.GET.get("endpoint", "").strip()
    device = selectors.endpoint_get(user=request.user, name=endpoint_name) if endpoint_name else None
    rows = selectors.operation_list(user=request.user, endpoint=device, status=status or None)[:OPERATIONS_SHOWN]
    rows = selectors.operations_mark_retryable(rows)
    context = {
        "nav": "operations",
        "operations": rows,
        "status": status,
        "endpoint_name": endpoint_name,
        "statuses": EndpointOperation.Status.choices,
    }
    return TemplateResponse(request, "telemetry/operations.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    """htmx asked: the change arrives over the websocket; a plain form post goes back to where it came from."""
    if request.htmx:
        return HttpResponse(status=204)
    return redirect(request.headers.get("Referer") or "operations")


@login_required
@require_POST
def operation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    services.operation_cancel(actor=request.user, operation=selectors.operation_get(user=request.user, pk=pk))
    return _back(request)


@login_required
@require_POST
def operation_retry(request: HttpRequest, pk: int) -> HttpResponse:
    services.operation_retry(actor=request.user, operation=selectors.operation_get(user=request.user, pk=pk))
    return _back(request)


@login_required
@require_POST
def endpoint_command(request: HttpRequest, name: str) -> HttpResponse:
    """An operator queues a command from the device page; the new row arrives over the websocket."""
    device = selectors.endpoint_get(user=request.user, name=name)
    try:
        operation = services.operation_enqueue(
            actor=request.user,
            endpoint=device,
            kind=request.POST.get("kind", "").upper(),
            path=request.POST.get("path", ""),
            value=request.POST.get("value") or None,
            arguments=request.POST.get("arguments", ""),
        )
    except PermissionDenied:
        raise  # a forged request: the 403 page, not a message
    except FieldhubError as exc:
        if request.htmx:
            return HttpResponse(f'<p class="error" role="alert">{escape(str(exc))}</p>', status=exc.status)
        messages.error(request, str(exc))
    else:
        message = f"Queued: {operation.get_kind_display()} {operation.path}."
        if request.htmx:
            return HttpResponse(f'<p class="ok" role="status">{escape(message)}</p>', status=201)
        messages.success(request, message)
    return redirect("endpoint", name=device.name)


EVENTS_PAGE = 200


@login_required
@require_GET
def events(request: HttpRequest) -> HttpResponse:
    endpoint_name = request.GET.get("endpoint", "").strip()
    event_type = request.GET.get("type", "").strip()
    device = selectors.endpoint_get(user=request.user, name=endpoint_name) if endpoint_name else None
    rows = selectors.event_list(user=request.user, endpoint=device, event_type=event_type or None)[:EVENTS_PAGE]
    context = {
        "nav": "events",
        "events": [fragments.summarize_event(event) for event in rows],
        "endpoint_name": endpoint_name,
        "event_type": event_type,
    }
    return TemplateResponse(request, "telemetry/events.html", context)
