"""The telemetry pages: the fleet dashboard and a device's page; live over websockets (telemetry.fragments)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from telemetry import fragments


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {"nav": "dashboard", **fragments.dashboard_context(user=request.user)}
    return TemplateResponse(request, "telemetry/dashboard.html", context)


@login_required
@require_GET
def endpoint(request: HttpRequest, name: str) -> HttpResponse:
    context = {"nav": "dashboard", **fragments.endpoint_context(user=request.user, name=name)}
    return TemplateResponse(request, "telemetry/endpoint.html", context)
