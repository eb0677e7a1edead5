"""The sites pages: /sites/ (every site with its device count; global admins create one) and /sites/<id>/
(the site, its assignment rules in the order they are tried; global admins rename, describe and delete it,
its admins add and delete rules). Plain forms that post and come back (they work without JavaScript); a
refusal is the page again with the reason beside the form (its 4xx status), nothing stored. Viewers get
the same pages without the forms; the services check every role."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import pages
from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest
from core.models import Site, SiteRule
from core.permissions import scope_of
from core.roles import Role
from core.sites import selectors, services


@login_required
@require_http_methods(["GET", "POST"])
def sites(request: PageRequest) -> HttpResponse:
    """Every site the user sees; a POST (``name``, ``description``) creates one and opens its page."""
    context: dict[str, Any] = {"nav": "sites", "new": {"name": "", "description": ""}}
    status = 200
    if request.method == "POST":
        new = {"name": request.POST.get("name", ""), "description": request.POST.get("description", "")}
        try:
            site = services.site_create(actor=request.user, **new)
        except PermissionDenied:
            raise
        except FieldhubError as exc:
            context.update(new=new, create_error=str(exc))
            status = exc.status
        else:
            messages.success(request, f"Site {site.name} created.")
            return redirect("site", pk=site.pk)
    context["sites"] = selectors.site_list(user=request.user)
    context["can_manage"] = services.may_manage_sites(request.user)
    context["sees_unassigned"] = scope_of(request.user, Role.VIEWER).everywhere  # ?site=none is theirs
    return TemplateResponse(request, "core/sites.html", context, status=status)


def _site_page(request: PageRequest, site: Site, status: int = 200, **answer: Any) -> TemplateResponse:
    """The site's page, with the answer of a refused form (``*_error`` and the values it was sent)."""
    rules = list(selectors.site_rules(user=request.user, site=site))
    previews = selectors.rules_preview(user=request.user, rules=[(rule.kind, rule.text) for rule in rules])
    context: dict[str, Any] = {
        "nav": "sites",
        "site": site,
        "rules": [(rule, previews[i] if previews is not None else None) for i, rule in enumerate(rules)],
        "previewed": previews is not None,
        "kinds": SiteRule.Kind.choices,
        "can_manage": services.may_manage_sites(request.user),
        "can_manage_rules": services.may_manage_rules(request.user, site.pk),
        "edit": {"name": site.name, "description": site.description},
        "new_rule": {"kind": SiteRule.Kind.PREFIX.value, "text": "", "position": "0"},
        **answer,
    }
    return TemplateResponse(request, "core/site.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def site(request: PageRequest, pk: int) -> HttpResponse:
    """The site; a POST (``name``, ``description``) renames or describes it."""
    site = selectors.site_get(user=request.user, pk=pk)
    if request.method == "GET":
        return _site_page(request, site)
    edit = {"name": request.POST.get("name", ""), "description": request.POST.get("description", "")}
    try:
        services.site_update(actor=request.user, site=site, **edit)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        site.refresh_from_db(fields=["name", "description"])
        return _site_page(request, site, exc.status, edit=edit, edit_error=str(exc))
    messages.success(request, f"Site {site.name} saved.")
    return redirect("site", pk=site.pk)


@login_required
@require_POST
def site_delete(request: PageRequest, pk: int) -> HttpResponse:
    """Delete the site: only an empty one (409 with the reason, on its page)."""
    site = selectors.site_get(user=request.user, pk=pk)
    try:
        services.site_delete(actor=request.user, site=site)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        return _site_page(request, site, exc.status, delete_error=str(exc))
    messages.success(request, f"Site {site.name} deleted.")
    return redirect("sites")


@login_required
@require_POST
def site_rule_create(request: PageRequest, pk: int) -> HttpResponse:
    """Add a rule (``kind``: prefix or pattern, ``text``, ``position``: a whole number, 0 if empty)."""
    site = selectors.site_get(user=request.user, pk=pk)
    new_rule = {name: request.POST.get(name, "").strip() for name in ("kind", "text", "position")}
    try:
        services.site_rule_create(
            actor=request.user,
            site=site,
            kind=new_rule["kind"],
            text=new_rule["text"],
            position=_position(new_rule["position"]),
        )
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        return _site_page(request, site, exc.status, new_rule=new_rule, rule_error=str(exc))
    messages.success(request, f"Rule added: {new_rule['kind']} {new_rule['text']!r}.")
    return redirect("site", pk=site.pk)


def _position(raw: str) -> int:
    if not raw:
        return 0
    digits = raw[1:] if raw[:1] in "+-" else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        raise FieldhubError("position must be a whole number", path="position")
    return int(raw)


@login_required
@require_POST
def site_rule_delete(request: PageRequest, pk: int, rule_pk: int) -> HttpResponse:
    site = selectors.site_get(user=request.user, pk=pk)
    rule = selectors.site_rule_get(user=request.user, site=site, pk=rule_pk)
    services.site_rule_delete(actor=request.user, rule=rule)
    messages.success(request, f"Rule deleted: {rule.kind} {rule.text!r}.")
    return redirect("site", pk=site.pk)


@login_required
@require_GET
def site_rule_preview(request: PageRequest, pk: int) -> HttpResponse:
    """How many devices the rule being typed (``kind``, ``text``) matches now: the add form's hint (htmx)."""
    site = selectors.site_get(user=request.user, pk=pk)
    kind, text = pages.text(request, "kind"), request.GET.get("text", "")
    known = kind in SiteRule.Kind.values
    counts = selectors.rules_preview(user=request.user, rules=[(kind, text)]) if text and known else []
    context = {"site": site, "text": text, "counts": counts, "kind_known": known}
    return TemplateResponse(request, "core/site.html#rule-preview", context)
