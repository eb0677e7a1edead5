"""The Django admin's site: Django's, with the login throttled and answered as the login page's (core.forms).

Installed as the default site by ``core.apps.AdminConfig`` (in INSTALLED_APPS in place of
``django.contrib.admin``), so ``admin.site`` and ``@admin.register`` are this site."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from core.forms import AdminLoginForm, locked_out_status


class FieldhubAdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """A locked-out login answers 429, as /accounts/login/ does (Django's own would answer 200)."""
        return locked_out_status(super().login(request, extra_context))
