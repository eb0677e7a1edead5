"""Sites and labels from the telemetry pages: a device page's site and labels form, and the dashboard's
change of every device its filter shows. Both go through ``core.sites.services.endpoints_change``, which
checks the role and every input; a refusal is the form's answer with the reason (422; 403 for a forged
request)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core import pages
from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest
from core.models import Endpoint, Site
from core.sites import selectors as sites
from core.sites import services as site_services
from telemetry import presenters, selectors
from telemetry.views import render_endpoint_page

TAG_ACTIONS = ("site", "add", "remove")


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_tags(request: PageRequest, name: str) -> HttpResponse:
    """GET: the form as it is now (a page told that the device changed loads it again). POST: ``action``
    ``site`` (``site``: a site id, or "none"), ``add`` or ``remove`` (``label``) for this one device."""
    device = selectors.endpoint_get(user=request.user, name=name, tags=True)
    if request.method == "GET":
        context = presenters.tags_context(user=request.user, endpoint=device)
        return TemplateResponse(request, "telemetry/endpoint.html#endpoint-tags", context)
    try:
        done = _tags_change(request, device)
    except PermissionDenied:
        raise  # a forged request (the form is not offered): the 403 page
    except FieldhubError as exc:
        answer: dict[str, Any] = {"tags_error": exc.detail, "tags_open": True}
        if request.POST.get("action") == "add":
            answer["tags_typed"] = request.POST.get("label", "")[:64]  # the field keeps what was refused
        status = exc.status
    else:
        if not request.htmx:
            messages.success(request, done)
            return redirect("endpoint", name=device.name)
        answer, status = {"tags_done": done, "tags_open": True}, 200
    if not request.htmx:
        return render_endpoint_page(request, device.name, extra=answer, status=status)
    device = selectors.endpoint_get(user=request.user, name=name, tags=True)  # as it is now
    context = {**presenters.tags_context(user=request.user, endpoint=device), **answer}
    html = render_to_string("telemetry/endpoint.html#endpoint-tags", context, request)
    html += render_to_string("telemetry/endpoint.html#tags-answer", {**answer, "oob": True}, request)
    # The state the form now shows, so that the push of this very change does not load it again.
    html += render_to_string("telemetry/endpoint.html#endpoint-tags-refresh", {**context, "oob": True}, request)
    # The header too (the push brings it as well, but this user need not wait for it).
    header = {**presenters.status_context(device), "oob": True}
    html += render_to_string("telemetry/endpoint.html#endpoint-status", header, request)
    return HttpResponse(html, status=status)


def _tags_change(request: PageRequest, device: Endpoint) -> str:
    """Apply the form's change; what it did, in words."""
    action = request.POST.get("action", "")
    one = Endpoint.objects.filter(pk=device.pk)
    if action == "site":
        site = sites.site_for_filter(user=request.user, value=request.POST.get("site", "").strip(), path="site")
        site_services.endpoints_change(actor=request.user, endpoints=one, site=site)
        return f"Moved to site {site.name}." if site else "Now in no site."
    if action in ("add", "remove"):
        label = request.POST.get("label", "")
        if action == "add":
            site_services.endpoints_change(actor=request.user, endpoints=one, add=[label])
            return f"Label {label.strip().lower()} added."
        site_services.endpoints_change(actor=request.user, endpoints=one, remove=[label])
        return f"Label {label.strip().lower()} removed."
    raise FieldhubError(f"unknown action: one of {', '.join(TAG_ACTIONS)}", path="action")


FILTERS = ("q", "status", "site", "label")
_LABEL_SEPARATORS = re.compile(r"[\s,]+")


@login_required
@require_POST
def endpoints_bulk(request: PageRequest) -> HttpResponse:
    """The site or labels of every device the dashboard's filter (``q``, ``status``, ``site``, ``label``)
    shows: ``to_site`` ("" keeps it, "none", or a site id), ``add`` and ``remove`` (labels, separated by
    commas or spaces). The first post answers how many devices that is and asks to confirm; the post that
    confirms that count (``confirm``) changes them and goes back to the dashboard. A count that changed
    meanwhile is asked again."""
    filters = {name: request.POST.get(name, "").strip() for name in FILTERS}
    context: dict[str, Any] = {"filters": filters, "to_site": "", "add": "", "remove": ""}
    try:
        change = _bulk_change(request, context)
        chosen = selectors.endpoints_filter(
            selectors.visible_endpoints(request.user),
            user=request.user,
            status=filters["status"] or None,
            name=filters["q"] or None,
            site=filters["site"] or None,
            labels=[filters["label"]] if filters["label"] else None,
        )
        counted = site_services.endpoints_change(actor=request.user, endpoints=chosen, preview=True, **change)
        if counted.matched and request.POST.get("confirm", "") == str(counted.matched):
            done = site_services.endpoints_change(actor=request.user, endpoints=chosen, **change)
            messages.success(request, f"Changed {done.changed} of the {done.matched} devices the filter showed.")
            back = pages.link("/", **filters)
            return HttpResponseClientRedirect(back) if request.htmx else redirect(back)
        context["count"] = counted.matched
        context["recounted"] = bool(request.POST.get("confirm"))
        status = 200
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        context["error"], status = exc.detail, exc.status
    template = "telemetry/bulk.html#bulk-answer" if request.htmx else "telemetry/bulk.html"
    return TemplateResponse(request, template, {"nav": "dashboard", **context}, status=status)


def _bulk_change(request: PageRequest, context: dict[str, Any]) -> dict[str, Any]:
    """What the bulk form asks to change, as ``endpoints_change`` takes it; what it says, in ``context``."""
    to_site = request.POST.get("to_site", "").strip()
    add = request.POST.get("add", "").strip()
    remove = request.POST.get("remove", "").strip()
    context.update(to_site=to_site, add=add, remove=remove)
    change: dict[str, Any] = {
        "add": [name for name in _LABEL_SEPARATORS.split(add) if name],
        "remove": [name for name in _LABEL_SEPARATORS.split(remove) if name],
    }
    if to_site:
        site: Site | None = sites.site_for_filter(user=request.user, value=to_site, path="to_site")
        change["site"] = site
        context["to_site_name"] = site.name if site else None
    if not to_site and not change["add"] and not change["remove"]:
        raise FieldhubError("say what to change: a site, labels to add or labels to remove", path="to_site")
    return change
