"""The alarm pages: the list with its filters, one alarm with its history, and acknowledging or clearing
one (an htmx post answered in place, or a plain form post that goes back). Thin: presenters read,
services write."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import FieldhubError, NotFound, PermissionDenied
from core.http import PageRequest, back
from telemetry.alarms import presenters, selectors, services


@login_required
@require_GET
def alarms(request: PageRequest) -> HttpResponse:
    """Alarms newest first, 50 a page; ``state``, ``severity``, ``site``, ``endpoint``, ``rule`` and ``page``
    choose them. A malformed filter answers 422 with the reason above the list."""
    context, status = presenters.list_context(user=request.user, params=request.GET)
    if request.htmx and request.htmx.target == "alarm-table":
        return TemplateResponse(request, "telemetry/alarms.html#alarm-table", context, status=status)
    return TemplateResponse(request, "telemetry/alarms.html", context, status=status)


@login_required
@require_GET
def alarm(request: PageRequest, pk: int) -> HttpResponse:
    return TemplateResponse(request, "telemetry/alarm.html", presenters.detail_context(user=request.user, pk=pk))


ACTIONS = {"acknowledge": services.alarm_acknowledge, "clear": services.alarm_clear}
DONE = {"acknowledge": "acknowledged", "clear": "cleared"}


@login_required
@require_POST
def alarm_action(request: PageRequest, pk: int, action: str) -> HttpResponse:
    """An operator of the device's site acknowledges or clears an alarm, with an optional ``note``. htmx is
    answered in place (the changed rows arrive over the websocket), a refusal included: 403, 404, 409 or
    422 with the reason (``data-swap-refusal`` swaps it in). A plain post goes back to where it came from,
    with the answer as a message; a forbidden one is the 403 page."""
    if action not in ACTIONS:
        raise Http404
    try:
        found = selectors.alarm_get(user=request.user, pk=pk)
        changed = ACTIONS[action](actor=request.user, alarm=found, note=request.POST.get("note", ""))
    except FieldhubError as exc:
        if request.htmx:
            context = {"refused": f"Not {DONE[action]}: {exc.detail}"}
            return TemplateResponse(request, "telemetry/alarms.html#alarm-answer", context, status=exc.status)
        if isinstance(exc, PermissionDenied | NotFound):
            raise
        messages.error(request, f"Alarm {pk} not {DONE[action]}: {exc.detail}")
        return back(request, reverse("alarm", args=[pk]))
    done = f"Alarm {changed.pk} ({changed.rule.name} on {changed.endpoint.name}) {DONE[action]}."
    if request.htmx:
        return TemplateResponse(request, "telemetry/alarms.html#alarm-answer", {"done": done})
    messages.success(request, done)
    return back(request, reverse("alarm", args=[pk]))
