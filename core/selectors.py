"""Reads of the registry's own rows (API tokens)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from core.models import ApiToken
from core.permissions import has_role, require
from core.roles import Role


def api_tokens(*, user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first."""
    require(user, Role.VIEWER)
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_get(*, user: Any, pk: int) -> ApiToken:
    """One token the user may manage: their own, or anyone's for an admin."""
    tokens = ApiToken.objects.all() if has_role(user, Role.ADMIN) else api_tokens(user=user)
    try:
        return tokens.get(pk=pk)
    except ApiToken.DoesNotExist:
        raise NotFound("no such token", path="token") from None
