"""Websockets from Fieldhub's own pages only: the handshake's Origin must be the server's own origin.

A browser sends the cookie with a websocket handshake whatever page opens it, so a page served from another
origin -- another port on the same host included -- could otherwise read live data with the viewer's
session. The rule is the one Django's CSRF check applies to a POST: the Origin must equal the scheme, host
and port the request came to (``https`` when the connection, or ``SECURE_PROXY_SSL_HEADER``, says so; the
host as ``get_host()`` gives it, so it must be in ``ALLOWED_HOSTS``), or be one of ``CSRF_TRUSTED_ORIGINS``
(exactly, or a ``*.`` pattern for subdomains). A handshake without an Origin is refused too: browsers always
send one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope


class _Handshake(HttpRequest):
    """The websocket handshake as Django's request, for its rules on hosts and schemes."""

    def __init__(self, scope: Mapping[str, Any]) -> None:
        super().__init__()
        self._secure = scope.get("scheme") == "wss"
        server = scope.get("server") or ("unknown", "80")
        self.META = {"SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1])}
        for raw_name, raw_value in scope.get("headers", []):
            name = "HTTP_" + raw_name.decode("latin1").upper().replace("-", "_")
            value = raw_value.decode("latin1")
            self.META[name] = f"{self.META[name]},{value}" if name in self.META else value

    def _get_scheme(self) -> str:
        return "https" if self._secure else "http"


def origin_allowed(scope: Mapping[str, Any]) -> bool:
    """Is this websocket handshake's Origin the server's own, or a trusted one?"""
    request = _Handshake(scope)
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return False
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False
    if origin == own:
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in (pattern for pattern in trusted if "*" not in pattern):
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, pattern_netloc.lstrip("*"))
        for pattern_scheme, pattern_netloc in (
            (urlsplit(pattern).scheme, urlsplit(pattern).netloc) for pattern in trusted if "*" in pattern
        )
        if pattern_scheme == parsed.scheme
    )


class SameOriginValidator:
    """ASGI middleware: a websocket handshake whose Origin is not allowed is refused (HTTP 403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: _ChannelScope, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
