"""CSRF tokens in pushed fragments.

A live fragment is rendered once for every socket of its group, without a request, so it cannot hold any
one user's CSRF token; a form in it would post without one and get 403. So fragments are rendered with
``PLACEHOLDER`` as the token (``realtime.render``), and each socket puts a token of its own user in its
place as it sends (``fill``), made from the CSRF cookie its page set: a form pushed into a page posts like
the same form rendered with the page. Tokens are masked afresh for every message, as Django masks them
for every response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.template.loader import render_to_string

PLACEHOLDER = "fieldhub-csrf-token-placeholder"


def render(template_name: str, context: Mapping[str, Any]) -> str:
    """A fragment for a push: the template, with the placeholder wherever ``{% csrf_token %}`` stands."""
    return render_to_string(template_name, {**context, "csrf_token": PLACEHOLDER})


def socket_secret(scope: Mapping[str, Any]) -> str:
    """The CSRF secret of the browser behind a socket (its CSRF cookie), or "" if it sent none that is valid."""
    secret: str = (scope.get("cookies") or {}).get(settings.CSRF_COOKIE_NAME, "")
    if len(secret) != CSRF_SECRET_LENGTH or any(char not in CSRF_ALLOWED_CHARS for char in secret):
        return ""
    return secret


def fill(html: str, secret: str) -> str:
    """``html`` with this socket's token in place of the placeholder (none without a secret: the form then
    fails as any form without a token does)."""
    if PLACEHOLDER not in html:
        return html
    if not secret:
        return html.replace(PLACEHOLDER, "")
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return html.replace(PLACEHOLDER, get_token(request))
