"""The rollout pages: the list (every kind), one rollout, the new-rollout form with its preview, and the
controls. Thin: presenters read, services write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import pages
from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest
from core.permissions import require_scope
from core.roles import Role
from core.waves import campaign_waves_parse
from telemetry.models import Rollout
from telemetry.rollouts import kinds, presenters, selectors, services


@login_required
@require_GET
def rollouts(request: PageRequest) -> HttpResponse:
    context = presenters.list_context(user=request.user, page=pages.page_number(request))
    return TemplateResponse(request, "telemetry/rollouts.html", context)


def selection_of(form: Any) -> selectors.Selection:
    """The selection a form (the new-rollout form, or the dashboard's filter in its query) describes."""
    if form.get("select") == "names":
        names = [line.strip() for line in form.get("endpoints", "").splitlines() if line.strip()]
        if not names:
            raise FieldhubError("list at least one endpoint name, one per line", path="endpoints")
        return selectors.Selection(endpoints=names)
    labels = [part.strip() for text in form.getlist("label") for part in text.split(",") if part.strip()]
    return selectors.Selection(
        status=form.get("status", "").strip() or None,
        site=form.get("site", "").strip() or None,
        labels=labels,
        firmware=form.get("firmware", "").strip() or None,
        name=form.get("q", "").strip() or None,
    )


def _values(text: str) -> dict[str, str] | None:
    """An instance's values as typed: one "resource id = value" per line."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise FieldhubError(f"line {number} of the values is not 'resource id = value'", path="values")
        found[key.strip()] = value.strip()
    return found or None


def _created(request: PageRequest, form: Any) -> Rollout:
    try:
        rate = float(form.get("max_failure_percent", "10")) / 100
    except ValueError:
        raise FieldhubError("the failure limit is a number of percent, e.g. 10", path="max_failure_percent") from None
    return services.rollout_create(
        actor=request.user,
        name=form.get("name", ""),
        kind=form.get("kind", ""),
        path=form.get("path", "").strip(),
        value=form.get("value") if form.get("value", "") != "" else None,
        values=_values(form.get("instance_values", "")),
        arguments=form.get("arguments", ""),
        selection=selection_of(form),
        waves=campaign_waves_parse(text=form.get("waves", "")),
        unit=form.get("unit", "percent"),
        max_failure_rate=rate,
        firmware=form.get("image", "").strip() or None,
    )


@login_required
@require_http_methods(["GET", "POST"])
def rollout_new(request: PageRequest) -> HttpResponse:
    """The new-rollout form, for operators; opened from the dashboard it carries its filter
    (``?q=&status=&site=&label=``) as the selection."""
    require_scope(request.user, Role.OPERATOR)
    if request.method == "POST":
        try:
            rollout = _created(request, request.POST)
        except PermissionDenied:
            raise
        except FieldhubError as exc:
            context = {**presenters.new_context(user=request.user, form=request.POST), "error": str(exc)}
            return TemplateResponse(request, "telemetry/rollout_new.html", context, status=exc.status)
        messages.success(request, f"Rollout “{rollout.name}” started: wave 1 of {len(rollout.waves)} queued.")
        return redirect(selectors.summary_of(rollout).url)
    form = {"waves": "100", "max_failure_percent": "10", "kind": "WRITE", **request.GET.dict()}
    form["label"] = ", ".join(request.GET.getlist("label"))
    return TemplateResponse(request, "telemetry/rollout_new.html", presenters.new_context(user=request.user, form=form))


@login_required
@require_GET
def rollout_preview(request: PageRequest) -> HttpResponse:
    """How many devices the form's selection reaches (htmx swaps the answer into the form)."""
    require_scope(request.user, Role.OPERATOR)
    try:
        devices, skipped = selectors.selection_count(user=request.user, selection=selection_of(request.GET))
        context: dict[str, Any] = {"devices": devices, "skipped": skipped}
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        context = {"error": str(exc)}
    return TemplateResponse(request, "telemetry/rollout_new.html#preview", context)


@login_required
@require_GET
def rollout(request: PageRequest, rollout_id: str) -> HttpResponse:
    """A command rollout's page; a rollout of another kind has its own (a firmware rollout's is its
    campaign page): this id redirects there."""
    found = _found(request, rollout_id)
    if kinds.of(found.kind) is not None:
        return redirect(selectors.summary_of(found).url)
    status = pages.text(request, "status") or None
    context = presenters.rollout_context(user=request.user, pk=found.pk, status=status, page=pages.page_number(request))
    return TemplateResponse(request, "telemetry/rollout.html", context)


def _found(request: PageRequest, rollout_id: str) -> Rollout:
    try:
        return selectors.rollout_by_id(user=request.user, rollout_id=rollout_id)
    except PermissionDenied:
        raise
    except FieldhubError:
        raise Http404 from None


ACTIONS = {"pause": services.rollout_pause, "resume": services.rollout_resume, "abort": services.rollout_abort}


@login_required
@require_POST
def rollout_action(request: PageRequest, rollout_id: str, action: str) -> HttpResponse:
    """Pause, resume or abort a rollout of any kind, then back to its page."""
    if action not in ACTIONS:
        raise Http404
    found = _found(request, rollout_id)
    try:
        ACTIONS[action](actor=request.user, rollout=found)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        messages.error(request, str(exc))
    return redirect(selectors.summary_of(found).url)
