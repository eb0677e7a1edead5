"""Who may call the APIs: the Leshan bridge (token or trusted network) and users (API token or session).

Authentication says who is calling; what they may do is decided by roles in the services and selectors
(``core.permissions``)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer

from core.http import client_address, in_networks

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

BRIDGE_PRINCIPAL = "bridge"


class BridgeAuth(HttpBearer):
    """A Leshan bridge: ``Authorization: Bearer <BRIDGE_TOKEN>``, or no header from a trusted network.

    A wrong token is refused even from a trusted network: it means a misconfigured client.
    """

    def __call__(self, request: HttpRequest) -> str:
        header = request.headers.get("Authorization")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError(401, "Authorization must be 'Bearer <bridge token>'")
            return self.authenticate(request, token.strip())
        if in_networks(client_address(request), settings.BRIDGE_TRUSTED_NETWORKS):
            return BRIDGE_PRINCIPAL
        raise AuthenticationError(
            401, "a bridge token (Authorization: Bearer ...) is required from outside the trusted networks"
        )

    def authenticate(self, request: HttpRequest, token: str) -> str:
        expected = settings.BRIDGE_TOKEN
        if expected and secrets.compare_digest(token.encode(), expected.encode()):
            return BRIDGE_PRINCIPAL
        raise AuthenticationError(401, "the bridge token is not valid")


class TokenAuth(HttpBearer):
    """A user's personal API token: ``Authorization: Bearer fh_...``."""

    def __call__(self, request: HttpRequest) -> User | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(401, "Authorization must be 'Bearer <API token>'")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> User:
        from core.services import token_authenticate

        user = token_authenticate(token)
        if user is None:
            raise AuthenticationError(401, "the API token is not valid, or was revoked")
        return user


class SessionAuth(APIKeyCookie):
    """The browser's Django session; unsafe methods need the CSRF token (``X-CSRFToken`` header)."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user: User | AnonymousUser | None = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


def user_auth() -> list[TokenAuth | SessionAuth]:
    """The authentication of the user-facing APIs: an API token, else the session."""
    return [TokenAuth(), SessionAuth()]
