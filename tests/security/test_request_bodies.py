"""`manage.py serve` refuses a request body over its limit as it arrives, on every URL (issue 15, finding 1).

Daphne used to read a whole body before Django saw the request: one anonymous 64 MiB POST to any URL
cost the process 67 MiB of memory before the 403 (bench/bodies.py). These tests talk to a real server
over a raw socket, so that they see what the server reads and when it answers.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest

from core.roles import Role
from core.services import token_create
from firmware.models import Firmware
from tests.factories import make_user
from tests.servers import embedded

# The server shares the test database: the tests that write rows for it need them committed.
pytestmark = pytest.mark.django_db(transaction=True)

# Only to end a test whose server never answers; the assertions are about what is answered.
NEVER = 30

FIRMWARE_MAX_BYTES = 3 * 1024 * 1024  # over the 2.5 MiB other requests may carry
DEFAULT_LIMIT = 2_621_440  # DATA_UPLOAD_MAX_MEMORY_SIZE
UPLOAD_LIMIT = FIRMWARE_MAX_BYTES + 64 * 1024  # core.server.UPLOAD_FORM_BYTES
HUGE = 64 * 1024 * 1024
PIECE = 64 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module's tests."""
    media = tmp_path_factory.mktemp("media")
    running = embedded(FIRMWARE_MAX_BYTES=str(FIRMWARE_MAX_BYTES), MEDIA_ROOT=str(media))
    with django_db_blocker.unblock():
        url = running.__enter__()
    try:
        yield url
    finally:
        with django_db_blocker.unblock():
            running.__exit__(None, None, None)


@dataclass
class Answer:
    head: list[str]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.head[0].split()[1])

    def header(self, name: str) -> str:
        for line in self.head[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        raise KeyError(name)


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    return Answer(head.decode("latin-1").split("\r\n"), body)


class Connection:
    """One raw HTTP connection whose answer is read, until the server closes it, while the client sends."""

    def __init__(self, url: str) -> None:
        address = urlparse(url)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=NEVER)
        self.received = bytearray()
        self.closed = threading.Event()  # the server ended or reset the connection
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                self.received.extend(data)
            self.closed.set()
        except ConnectionResetError:
            self.closed.set()
        except OSError:  # the bound ran out: closed stays unset
            pass

    def send(self, data: bytes) -> bool:
        """False once the server has dropped the connection."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def answer(self) -> Answer:
        assert self.closed.wait(NEVER), f"the server did not answer and close: {bytes(self.received[:200])!r}"
        return parse(bytes(self.received))

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def post_head(path: str, framing: str, content_type: str = "application/json") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode()


def multipart(image: bytes, boundary: str = "fieldhub-test-boundary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.2.3\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="fw.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("path", "content_type", "detail"),
    [
        ("/accounts/login/", "text/plain; charset=utf-8", None),
        ("/api/v1/endpoints", "application/json", "json"),
        ("/leshan_api/resource/single", "application/json", "json"),
    ],
)
def test_it_refuses_a_body_declared_over_the_limit_before_reading_it(
    server: str, path: str, content_type: str, detail: str | None
) -> None:
    """Anonymous, on a page, the REST API and the bridge: 413 as soon as the headers are in."""
    with Connection(server) as connection:
        assert connection.send(post_head(path, f"Content-Length: {HUGE}") + b"x" * PIECE)
        answer = connection.answer()  # with 64 KiB of the 64 MiB sent
        assert answer.status == 413
        assert answer.header("Connection") == "close"
        assert answer.header("Content-Type") == content_type
        message = f"request body of {HUGE} bytes is over the limit of {DEFAULT_LIMIT} bytes"
        if detail == "json":
            assert json.loads(answer.body) == {"detail": message}
        else:
            assert answer.body.decode() == message + "\n"
        # The server reads nothing more: the rest of the body cannot be sent.
        sent = PIECE
        while sent < HUGE and connection.send(b"x" * PIECE):
            sent += PIECE
        assert sent < HUGE


def test_it_stops_reading_a_chunked_body_at_the_limit(server: str) -> None:
    with Connection(server) as connection:
        connection.send(post_head("/accounts/login/", "Transfer-Encoding: chunked"))
        chunk = f"{PIECE:x}\r\n".encode() + b"x" * PIECE + b"\r\n"
        sent = 0
        while sent < HUGE and not connection.closed.is_set() and connection.send(chunk):
            sent += PIECE
        if sent == HUGE:
            connection.send(b"0\r\n\r\n")  # the end of the body
        answer = connection.answer()
        assert answer.status == 413
        assert answer.header("Content-Type") == "text/plain; charset=utf-8"
        assert answer.body.decode() == f"request body is over the limit of {DEFAULT_LIMIT} bytes\n"
        assert sent < HUGE  # the client was stopped long before the end of its body


def test_it_accepts_a_firmware_upload_of_the_largest_image(server: str) -> None:
    """The upload paths allow FIRMWARE_MAX_BYTES and its form, over the limit of every other path."""
    admin = make_user(Role.ADMIN, username="ada")
    _, secret = token_create(actor=admin, user=admin, name="upload")
    image = b"\x7fELF" + b"f" * (FIRMWARE_MAX_BYTES - 4)
    body, content_type = multipart(image)
    assert DEFAULT_LIMIT < len(body) < UPLOAD_LIMIT

    request = urllib.request.Request(
        f"{server}/api/v1/firmware",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=NEVER) as response:
        assert response.status == 201
        assert json.load(response)["size"] == FIRMWARE_MAX_BYTES
    assert Firmware.objects.get().size == FIRMWARE_MAX_BYTES

    # The same body anywhere else is over the limit.
    with Connection(server) as connection:
        connection.send(post_head("/api/v1/endpoints", f"Content-Length: {len(body)}", content_type))
        answer = connection.answer()
        assert answer.status == 413
        assert json.loads(answer.body) == {
            "detail": f"request body of {len(body)} bytes is over the limit of {DEFAULT_LIMIT} bytes"
        }


def test_it_refuses_an_upload_over_the_image_and_its_form(server: str) -> None:
    admin = make_user(Role.ADMIN, username="ada")
    _, secret = token_create(actor=admin, user=admin, name="upload")
    body, content_type = multipart(b"f" * UPLOAD_LIMIT)
    with Connection(server) as connection:
        head = post_head("/api/v1/firmware", f"Content-Length: {len(body)}", content_type)
        connection.send(head.replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {secret}\r\n\r\n".encode()))
        answer = connection.answer()
        assert answer.status == 413
        assert json.loads(answer.body) == {
            "detail": f"request body of {len(body)} bytes is over the limit of {UPLOAD_LIMIT} bytes"
        }
        assert not Firmware.objects.exists()
