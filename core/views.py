"""The registry's pages (API tokens) and the operational endpoints of the project itself (/healthz)."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.db import DatabaseError, connection
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found

from core.errors import FieldhubError
from core.forms import LoginForm, locked_out_status
from core.http import PageRequest, is_api
from core.models import Site
from core.permissions import has_role, may_manage_account, stored_role
from core.roles import Role
from core.selectors import api_token_get, api_tokens, user_get
from core.selectors import users as selectors_users
from core.services import (
    token_create,
    token_revoke,
    user_create,
    user_reset_password,
    user_set_active,
    user_set_role,
    user_set_site_role,
)
from core.signals import user_access_changed
from core.sites.selectors import site_get, sites_administered

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database unreachable: %s", exc)
        connection.close_if_unusable_or_obsolete()
        return f"unavailable ({type(exc).__name__})"
    return "ok"


async def _channel_layer_status() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "not configured"
    try:
        new_channel = layer.new_channel("health.")  # type: ignore[call-arg]  # our layers take it, the base class not
        channel = await asyncio.wait_for(new_channel, CHECK_TIMEOUT_SECONDS)
        await asyncio.wait_for(layer.send(channel, {"type": "health.ping"}), CHECK_TIMEOUT_SECONDS)
        message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # redis-py raises its own ConnectionError family, not OSError
        logger.warning("health: channel layer failed: %r", exc)
        return f"unavailable ({type(exc).__name__})"
    return "ok" if message.get("type") == "health.ping" else "unavailable (wrong message)"


async def health_checks() -> dict[str, str]:
    """The checks of /healthz (also /readyz's, and /metrics' fieldhub_health_up): "ok" or what failed."""
    return {
        "database": await sync_to_async(_database_status, thread_sensitive=True)(),
        "channel_layer": await _channel_layer_status(),
    }


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer, else 503; no authentication, no secrets."""
    checks = await health_checks()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: PageRequest) -> HttpResponse:
    """The user's API tokens; a POST creates one, whose secret this one response shows."""
    context: dict[str, object] = {"nav": "tokens"}
    status = 200
    if request.method == "POST":
        try:
            token, secret = token_create(actor=request.user, user=request.user, name=request.POST.get("name", ""))
        except FieldhubError as exc:
            context["error"], status = exc.detail, exc.status
        else:
            context.update(new_token=token, new_secret=secret)
            status = 201
    context["tokens"] = api_tokens(user=request.user)
    return TemplateResponse(request, "core/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_view(request: PageRequest, pk: int) -> HttpResponse:
    token = api_token_get(user=request.user, pk=pk)
    token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token.name!r} revoked: it no longer works.")
    return redirect("tokens")


@login_required
@require_http_methods(["GET", "POST"])
def users(request: PageRequest) -> HttpResponse:
    """Admins create users, set roles (global, and per site), deactivate, reset passwords; a new password is
    shown once. A site admin sees and manages the users of the sites they administer."""
    actor = request.user
    administered = list(sites_administered(user=actor))
    context: dict[str, object] = {
        "nav": "users",
        "roles": [role.value for role in Role],
        "global_admin": has_role(actor, Role.ADMIN),
        "sites": administered,
    }
    status = 200
    if request.method == "POST":
        try:
            status = _user_action(request, context)
        except FieldhubError as exc:
            context["error"], status = str(exc), exc.status
    mine = {site.pk for site in administered}
    context["rows"] = [
        {
            "user": u,
            "role": held.value if (held := stored_role(u)) else None,
            "site_roles": [(held.site, held.role, held.site_id in mine) for held in u.site_roles.all()],
            "manageable": u.pk != actor.pk and may_manage_account(actor, u),
            "self": u.pk == actor.pk,
        }
        for u in selectors_users(user=actor)
    ]
    return TemplateResponse(request, "core/users.html", context, status=status)


USER_ACTIONS = ("create", "role", "site-role", "activate", "deactivate", "password")


def _user_action(request: PageRequest, context: dict[str, object]) -> int:
    action = request.POST.get("action", "")
    if action not in USER_ACTIONS:
        raise FieldhubError(f"unknown action: one of {', '.join(USER_ACTIONS)}", path="action")
    if action == "create":
        where = request.POST.get("site", "")
        created, password = user_create(
            actor=request.user,
            username=request.POST.get("username", ""),
            role=request.POST.get("role", ""),
            site=_site_posted(request) if where else None,
        )
        context.update(new_password=password, password_for=created.get_username())
        return 201
    user_id = request.POST.get("user", "")
    if not user_id.isdecimal() or len(user_id) > 18:
        raise FieldhubError("user must be the id of a user", path="user")
    target = user_get(user=request.user, pk=int(user_id))
    if action == "role":
        user_set_role(actor=request.user, user=target, role=request.POST.get("role", ""))
    elif action == "site-role":
        site, role = _site_posted(request), request.POST.get("role", "")
        user_set_site_role(actor=request.user, user=target, site=site, role=role)
        held = "no longer holds a role" if role == "none" else f"is now {role}"
        context["done"] = f"{target.get_username()} {held} on {site.name}."
    elif action in ("activate", "deactivate"):
        user_set_active(actor=request.user, user=target, active=action == "activate")
    elif action == "password":
        password = user_reset_password(actor=request.user, user=target)
        context.update(new_password=password, password_for=target.get_username())
    return 200


def _site_posted(request: PageRequest) -> Site:
    """The site a users-page form names (its id), one the actor may see, or a 422/404 naming it."""
    site_id = request.POST.get("site", "")
    if not site_id.isdecimal() or len(site_id) > 18:
        raise FieldhubError("site must be the id of a site", path="site")
    return site_get(user=request.user, pk=int(site_id))


class LoginView(auth_views.LoginView):
    """Django's login page with the throttled form; a locked-out login answers 429 with the reason."""

    authentication_form = LoginForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        return locked_out_status(super().form_invalid(form))


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change; the user's other sessions end with it, and so do their open sockets."""

    def form_valid(self, form: Form) -> HttpResponse:
        response = super().form_valid(form)
        user_access_changed.send(sender=type(self.request.user), user_id=self.request.user.pk)
        return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL that matches nothing: JSON under the APIs, whose clients read JSON, and the page elsewhere."""
    if is_api(request):
        return JsonResponse({"detail": f"no such URL: {request.path}"}, status=404)
    return page_not_found(request, exception)
