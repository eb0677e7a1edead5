"""`manage.py serve` (the embedded server and the Procfile's `web`) ends when asked, even mid-request."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from core.roles import Role
from core.services import token_create
from firmware.services import package_uri
from tests.factories import make_firmware, make_user
from tests.servers import ROOT, _wait_for_sessions_to_end, _wait_until_up, embedded, free_port, server_env

pytestmark = pytest.mark.django_db(transaction=True)

# Only to end the test if the server never exits; the assertion is that it exits, not how fast.
NEVER = 60


def _keep_busy(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
        except OSError:
            pass


@contextlib.contextmanager
def serving(exit_grace: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`manage.py serve` on a free port, its output captured; killed afterwards if it is still running."""
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--exit-grace", exit_grace],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _wait_for_sessions_to_end()


def terminated(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then its output once it has exited."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=NEVER)[0]


def test_sigterm_with_requests_in_flight_ends_the_process() -> None:
    """Requests in flight when daphne stops leave threads blocked in asgiref, which Python's exit would wait
    for forever (plain daphne hangs this way); serve ends regardless, with status 0 and a warning."""
    stop = threading.Event()
    with serving(exit_grace="1") as (process, url):
        clients = [
            threading.Thread(target=_keep_busy, args=(f"{url}{path}", stop), daemon=True)
            for path in ("/healthz", "/accounts/login/", "/static/core/fieldhub.css") * 6
        ]
        try:
            for client in clients:
                client.start()
            # Every client has had a response: requests are flowing when the signal comes.
            for _ in range(3):
                with urllib.request.urlopen(f"{url}/accounts/login/", timeout=10) as response:
                    assert response.status == 200
            output = terminated(process)
        finally:
            stop.set()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_sigterm_when_idle_ends_the_process_without_warning() -> None:
    with serving(exit_grace="30") as (process, _):
        output = terminated(process)
    assert process.returncode == 0, output
    assert "threads still busy" not in output


def _request(url: str, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=NEVER)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _json(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, Any]:
    status, headers, body = answer
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    return status, json.loads(body)


def test_a_multipart_body_gets_the_apis_json_error_from_the_real_server() -> None:
    """Twisted, under daphne, parsed multipart bodies itself and answered one without a boundary with an
    empty 400 before Fieldhub saw it; now Django reads bodies, and the client gets the API's answer."""
    admin = make_user(Role.ADMIN, username="serve-admin")
    token = token_create(actor=admin, user=admin, name="serve")[1]
    with embedded() as url:
        for content_type in ("multipart/form-data", "multipart/form-data; boundary=x"):
            answer = _request(url, "POST", "/leshan_api/resource/single", b"x", **{"Content-Type": content_type})
            assert _json(answer) == (415, {"detail": "Content-Type must be application/json, not multipart/form-data"})
        answer = _request(
            url,
            "POST",
            "/api/v1/firmware",
            b"x",
            Authorization=f"Bearer {token}",
            **{"Content-Type": "multipart/form-data"},
        )
        assert _json(answer) == (
            400,
            {"detail": "the multipart/form-data body cannot be read: Invalid boundary in multipart: None"},
        )


def test_head_on_a_package_from_the_real_server_has_the_length_and_no_body() -> None:
    image = make_firmware(content=b"\x7fELF" + bytes(range(256)) * 4)
    with embedded(MEDIA_ROOT=str(settings.MEDIA_ROOT)) as url:
        status, headers, body = _request(url, "HEAD", package_uri(image))
        got = _request(url, "GET", package_uri(image), Range="bytes=0-1,4-5")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(image.size)
    assert (headers["etag"], headers["x-firmware-version"]) == (f'"{image.sha256}"', image.version)
    assert (got[0], len(got[2])) == (200, image.size)  # several ranges: the whole image
