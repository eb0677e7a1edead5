"""The provisioning pages: /provisioning/ (Leshan's server identity, the last sync and a Sync button, the CSV
upload, recent imports, the credentials of the devices the user operates), an import's page with its
progress (polled while pushes are under way) and its one export, and a device's credentials
(/provisioning/devices/<name>/, also loaded into the device page). Plain forms that work without JavaScript;
operators see modes and push states, admins manage. A key is shown once, on the page that answers the form
that set it (``Cache-Control: no-store``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest
from core.permissions import require_scope, scope_of
from core.provisioning.credentials import MODES
from core.roles import Role
from telemetry.provisioning import imports, selectors, services
from telemetry.provisioning.imports import ImportRefused


def _overview(request: PageRequest, status: int = 200, **answer: Any) -> TemplateResponse:
    require_scope(request.user, Role.OPERATOR)
    identity, identity_error = selectors.server_identity(user=request.user)
    context: dict[str, Any] = {
        "nav": "provisioning",
        "identity": identity,
        "identity_error": identity_error,
        "sync": selectors.sync_latest(user=request.user),
        "batches": [(b, selectors.batch_progress(batch=b)) for b in selectors.batches_list(user=request.user)],
        "credentials": selectors.credentials_list(user=request.user, limit=100),
        "counts": selectors.credential_counts(user=request.user),
        "can_manage": bool(scope_of(request.user, Role.ADMIN)),
        "columns": ", ".join(imports.COLUMNS),
        **answer,
    }
    return TemplateResponse(request, "telemetry/provisioning/overview.html", context, status=status)


@login_required
@require_GET
def overview(request: PageRequest) -> HttpResponse:
    return _overview(request)


@login_required
@require_POST
def sync(request: PageRequest) -> HttpResponse:
    report = services.credentials_sync(actor=request.user)
    if report.ok:
        messages.success(
            request,
            f"Synced: {report.in_leshan} entries in Leshan, {report.missing_count} missing and "
            f"{report.different_count} different pushed again, {report.unknown_count} unknown to Fieldhub.",
        )
    else:
        messages.error(request, f"Not synced: {report.error}")
    return redirect("provisioning")


@login_required
@require_POST
def import_upload(request: PageRequest) -> HttpResponse:
    require_scope(request.user, Role.ADMIN)
    upload = request.FILES.get("file")
    if upload is None:
        return _overview(request, status=422, import_error="Choose a CSV file to upload.")
    try:
        result = imports.fleet_import(actor=request.user, data=upload.read(), filename=upload.name or "")
    except PermissionDenied:
        raise
    except ImportRefused as exc:
        return _overview(request, status=exc.status, import_error=str(exc), import_errors=exc.errors[:200])
    except FieldhubError as exc:
        return _overview(request, status=exc.status, import_error=str(exc))
    messages.success(
        request,
        f"Imported {result.batch.devices} devices ({result.created} new); {result.pushes} pushes to Leshan queued.",
    )
    return redirect("provisioning_batch", pk=result.batch.pk)


@login_required
@require_GET
def batch(request: PageRequest, pk: int) -> HttpResponse:
    found = selectors.batch_get(user=request.user, pk=pk)
    context = {
        "nav": "provisioning",
        "batch": found,
        "progress": selectors.batch_progress(batch=found),
        "failures": selectors.batch_failures(batch=found),
        "credentials": selectors.credentials_list(user=request.user, batch=found, limit=100),
        "can_manage": bool(scope_of(request.user, Role.ADMIN)),
    }
    template = "telemetry/provisioning/batch.html#progress" if request.htmx else "telemetry/provisioning/batch.html"
    return TemplateResponse(request, template, context)


@login_required
@require_POST
def batch_export(request: PageRequest, pk: int) -> HttpResponse:
    found = selectors.batch_get(user=request.user, pk=pk)
    try:
        text = imports.batch_export(actor=request.user, batch=found)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        messages.error(request, str(exc))
        return redirect("provisioning_batch", pk=found.pk)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="credentials-import-{found.pk}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def device(request: PageRequest, name: str) -> HttpResponse:
    """A device's credentials: GET shows them (the section of the device page when htmx asks); POST sets
    them (``mode``, ``identity``, ``key``, ``public_key``, ``certificate``) or, with ``remove``, removes them."""
    endpoint = selectors.endpoint_for(user=request.user, name=name)
    answer: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        form = {
            field: request.POST.get(field, "") for field in ("mode", "identity", "key", "public_key", "certificate")
        }
        try:
            if "remove" in request.POST:
                services.credential_remove(actor=request.user, endpoint=endpoint)
                answer["saved"] = "Credentials removed; their removal from Leshan is queued."
            else:
                done = services.credential_set(actor=request.user, endpoint=endpoint, **form)
                answer["saved"] = "Credentials saved; their push to Leshan is queued."
                answer["shown_key"] = done.key
        except PermissionDenied:
            raise
        except FieldhubError as exc:
            status = exc.status
            answer.update(refused=str(exc), form={**form, "key": ""})
    context = {
        "nav": "dashboard",
        "endpoint": endpoint,
        "credential": selectors.credential_get(user=request.user, endpoint=endpoint),
        "can_manage": selectors.may_manage_credentials(user=request.user, endpoint=endpoint),
        "modes": MODES,
        "form": {"mode": "psk", "identity": "", "key": "generate", "public_key": "", "certificate": ""},
        **answer,
    }
    template = "telemetry/provisioning/device.html"
    if request.htmx and request.method == "GET":
        template += "#section"
    response = TemplateResponse(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response
