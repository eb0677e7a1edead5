"""Reads of the registry's own rows (API tokens, users)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

from core.errors import NotFound
from core.models import ApiToken, SiteRole
from core.permissions import Principal, has_role, require_scope
from core.roles import Role


def api_tokens(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (a token acts with its user's roles, global and per site)."""
    require_scope(user, Role.VIEWER)
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_get(*, user: User, pk: int) -> ApiToken:
    """One token the user may manage: their own, or anyone's for an admin."""
    tokens = ApiToken.objects.all() if has_role(user, Role.ADMIN) else api_tokens(user=user)
    try:
        return tokens.get(pk=pk)
    except ApiToken.DoesNotExist:
        raise NotFound("no such token", path="token") from None


def users(*, user: Principal) -> QuerySet[User]:
    """The users an admin manages, with their groups and site roles (and sites): every user for a global
    admin; for a site admin, the users with a role on a site they administer."""
    scope = require_scope(user, Role.ADMIN)
    everyone = get_user_model().objects.prefetch_related(
        "groups", Prefetch("site_roles", queryset=SiteRole.objects.select_related("site").order_by("site__name"))
    )
    if not scope.everywhere:
        everyone = everyone.filter(pk__in=SiteRole.objects.filter(site__in=sorted(scope.site_ids)).values("user"))
    return everyone.order_by("username")


def user_named(*, user: Principal, username: str) -> User:
    """An active account by its user name, for an admin (global or of a site) to give a role to; a 404 if none."""
    require_scope(user, Role.ADMIN)
    found = get_user_model().objects.filter(username=username, is_active=True).first()
    if found is None:
        raise NotFound(f"no active user named {username!r}", path="username")
    return found


def user_get(*, user: Principal, pk: int) -> User:
    try:
        return users(user=user).get(pk=pk)
    except get_user_model().DoesNotExist:
        raise NotFound(f"no user with id {pk}", path="user") from None
