"""The login forms: Django's, with the password checked by ``core.services.login_authenticate`` (throttled)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse

from core.errors import LockedOut
from core.services import login_authenticate

LOCKED_OUT = "locked_out"

# What the mixin is mixed into, as mypy sees it (at run time a mixin has no base).
if TYPE_CHECKING:
    _LoginFormBase = AuthenticationForm
else:
    _LoginFormBase = object


class ThrottledLoginMixin(_LoginFormBase):
    """``clean`` as Django's AuthenticationForm has it, with the throttled authentication."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            if self.request is None:
                raise TypeError("a throttled login form is made with the request (the client's address counts)")
            try:
                self.user_cache = login_authenticate(request=self.request, username=username, password=password)
            except LockedOut as exc:
                raise forms.ValidationError(exc.detail, code=LOCKED_OUT) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The login page (/accounts/login/)."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login page (/admin/login/): staff only, throttled like the login page."""


def locked_out_status(response: HttpResponse) -> HttpResponse:
    """A login page's answer (ours or the admin's), 429 when its form was refused because logging in is
    locked (LoginThrottle), so that clients and monitoring see the lockout as such."""
    context = getattr(response, "context_data", None) or {}
    form = context.get("form")
    if isinstance(form, forms.Form) and form.is_bound and form.has_error("__all__", code=LOCKED_OUT):
        response.status_code = 429
    return response
