"""Who may read /metrics: a bearer token (METRICS_TOKEN) or a client in METRICS_ALLOW (CIDRs, the client
address as core.http.client_address sees it, behind TRUSTED_PROXIES). With neither configured /metrics
does not exist (404): it is never public."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest

from core.http import client_address, in_networks


def metrics_configured() -> bool:
    return bool(settings.METRICS_TOKEN or settings.METRICS_ALLOW)


def metrics_allowed(request: HttpRequest) -> bool:
    """A valid token, or (without an Authorization header) a trusted network; a wrong token is refused
    from a trusted network too, as the bridge does (a misconfigured scraper should be seen)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        expected = settings.METRICS_TOKEN
        given = token.strip().encode()
        return bool(expected) and scheme.lower() == "bearer" and secrets.compare_digest(given, expected.encode())
    return bool(settings.METRICS_ALLOW) and in_networks(client_address(request), settings.METRICS_ALLOW)
