"""A websocket handshake is accepted from the server's own origin only -- scheme, host and port -- or from
CSRF_TRUSTED_ORIGINS, as Django's CSRF check decides for a POST (realtime.origin)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from core.roles import Role
from realtime.origin import origin_allowed
from tests.factories import make_user
from tests.realtime.live import connect

pytestmark = pytest.mark.django_db(transaction=True)


def scope(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws", **headers: str) -> dict[str, Any]:
    sent = [(b"host", host.encode())]
    if origin is not None:
        sent.append((b"origin", origin.encode()))
    sent += [(name.encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": sent, "server": ("127.0.0.1", 8000)}


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of the same host: another origin
        "https://127.0.0.1:8000",  # another scheme
        "https://127.0.0.1",
        "http://localhost:8000",  # another host name, allowed as a host but not this request's
        "http://127.0.0.1:8000.evil.example",
        "http://127.0.0.1",
        "null",
        "",
    ],
)
def test_another_origin_is_refused(origin: str) -> None:
    assert not origin_allowed(scope(origin))


def test_a_handshake_without_an_origin_is_refused() -> None:
    assert not origin_allowed(scope(None))


def test_the_server_s_own_origin_is_accepted() -> None:
    assert origin_allowed(scope("http://127.0.0.1:8000"))
    assert origin_allowed(scope("http://localhost", host="localhost"))


def test_a_host_outside_allowed_hosts_is_refused_even_as_its_own_origin() -> None:
    assert not origin_allowed(scope("http://evil.example", host="evil.example"))


def test_https_is_the_scheme_of_a_secure_socket_or_a_trusted_proxy_s_header(settings: Any) -> None:
    assert origin_allowed(scope("https://127.0.0.1:8000", scheme="wss"))
    assert not origin_allowed(scope("http://127.0.0.1:8000", scheme="wss"))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(scope("https://127.0.0.1:8000", **{"x-forwarded-proto": "https"}))
    assert not origin_allowed(scope("http://127.0.0.1:8000", **{"x-forwarded-proto": "https"}))


def test_csrf_trusted_origins_are_accepted_exactly_or_by_subdomain(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:3000", "https://*.example.com"]
    assert origin_allowed(scope("http://localhost:3000"))
    assert not origin_allowed(scope("http://localhost:3001"))
    assert not origin_allowed(scope("https://localhost:3000"))
    assert origin_allowed(scope("https://ops.example.com"))
    assert origin_allowed(scope("https://example.com"))
    assert not origin_allowed(scope("http://ops.example.com"))
    assert not origin_allowed(scope("https://example.com.evil.example"))


@pytest.mark.parametrize("origin", [b"http://localhost:9999", b"https://localhost", b"http://localhost:3000"])
async def test_a_page_of_another_origin_cannot_listen_with_a_viewer_s_cookie(layer: str, origin: bytes) -> None:
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    communicator = await connect("/ws/dashboard/", viewer, origin=origin)
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_trusted_origin_may_listen(layer: str, settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:3000"]
    viewer = await database_sync_to_async(make_user)(Role.VIEWER)
    communicator = await connect("/ws/dashboard/", viewer, origin=b"http://localhost:3000")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
