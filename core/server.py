"""The embedded server's HTTP layer: daphne, refusing a request body over its limit as it arrives.

Daphne hands a request to Django only once its whole body is in, and then all of it at once: Twisted
spools the body to a temporary file and daphne puts every piece of it on the application's queue. One
large POST to any URL, anonymous or not, cost the process the body's size in memory (and as much disk)
before Django could refuse it. ``BoundedServer`` is daphne with one change: each request knows the limit
of its path (``body_limits``) and

- answers 413 as soon as the headers announce a longer body (``Content-Length``), before reading any of it;
- stops reading a chunked body as soon as what arrived passes the limit, and answers 413.

The answer is JSON under the APIs (``{"detail": ...}``, as every API error) and plain text elsewhere.
Then the server reads nothing more: it ends its side of the connection after the answer, so the client
can read it, and drops the connection ``LINGER_SECONDS`` later (whatever the client still sends meanwhile
waits in the kernel's buffers, not in the process). The application never sees a refused request.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings
from django.urls import reverse
from twisted.internet import reactor

from core.http import API_PREFIXES

logger = logging.getLogger(__name__)

# What a firmware upload's form adds to the image: the boundaries, the part headers (with the file's
# name), the version and the CSRF token.
UPLOAD_FORM_BYTES = 64 * 1024
# How long a refused connection stays half-open (the answer sent, nothing more read) before it is dropped.
LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body the server reads: ``default``, or the limit of an exact path."""

    default: int
    paths: Mapping[str, int] = field(default_factory=dict)

    def for_path(self, path: str) -> int:
        return self.paths.get(path, self.default)


def body_limits() -> BodyLimits:
    """A firmware upload (the Firmware page and the API) may carry an image of FIRMWARE_MAX_BYTES and its
    form; any other request no more than Django itself would read (DATA_UPLOAD_MAX_MEMORY_SIZE, at least
    INGEST_MAX_BODY_BYTES)."""
    upload = settings.FIRMWARE_MAX_BYTES + UPLOAD_FORM_BYTES
    return BodyLimits(
        default=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        paths={reverse("firmware"): upload, reverse("api:upload_firmware"): upload},
    )


def _path_of(target: bytes) -> str:
    """The path Django will see for a request target (daphne unquotes it too), without the query string."""
    return unquote(target.split(b"?", 1)[0].decode("latin-1"))


def refusal(path: str, detail: str) -> bytes:
    """A whole 413 response that closes the connection: JSON under the APIs, plain text elsewhere."""
    if path.startswith(API_PREFIXES):
        body, content_type = json.dumps({"detail": detail}).encode(), "application/json"
    else:
        body, content_type = f"{detail}\n".encode(), "text/plain; charset=utf-8"
    head = (
        "HTTP/1.1 413 Content Too Large\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode() + body


class BoundedRequest(WebRequest):
    """daphne's request, refusing a body over the limit of its path while it arrives (Twisted calls
    ``gotLength`` once the headers are in, ``handleContentChunk`` for each piece of the body, and
    ``requestReceived`` when the body is complete: only then does daphne start the application).

    It also turns off Twisted's own parsing of form bodies: Twisted parses a ``multipart/form-data`` or
    urlencoded POST body into ``request.args`` (which nothing reads: Django parses bodies itself), keeping a
    second copy of every upload in memory, and answers a multipart body it cannot parse (no boundary) with an
    empty 400 and a closed connection, so that a client would never get Fieldhub's JSON error."""

    server: BoundedServer
    _path = ""
    _limit = 0
    _received = 0
    _refused = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:
        # The request line is parsed, but Twisted sets this request's own path only with requestReceived.
        self._path = _path_of(getattr(self.channel, "_path", b""))
        self._limit = self.server.body_limits.for_path(self._path)
        if length is not None and length > self._limit:
            self.content = io.BytesIO()  # stays empty
            self._refuse(f"request body of {length} bytes is over the limit of {self._limit} bytes")
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return  # what was read with the last piece before the server stopped reading
        self._received += len(data)
        if self._received > self._limit:
            self._refuse(f"request body is over the limit of {self._limit} bytes")
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:  # a refused request never reaches the application
            super().requestReceived(command, path, version)

    def _refuse(self, detail: str) -> None:
        self._refused = True
        # Twisted answers "Expect: 100-continue" right after gotLength: the client must not be invited to
        # send the body it was just refused.
        self.requestHeaders.removeHeader(b"Expect")
        transport = self.channel.transport
        peer = transport.getPeer()
        logger.warning("413 for %s from %s: %s", self._path, getattr(peer, "host", peer), detail)
        transport.write(refusal(self._path, detail))
        transport.unregisterProducer()  # the channel must not resume reading when the answer is written
        transport.pauseProducing()  # read nothing more
        transport.loseWriteConnection()  # the answer, then the end of the stream: the client reads it
        reactor.callLater(LINGER_SECONDS, _drop, transport)  # type: ignore[arg-type]  # IReactorTime's methods lack self


def _drop(transport: Any) -> None:
    if transport.connected:
        transport.abortConnection()


class BoundedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedRequest
        return protocol


class BoundedServer(Server):
    """daphne's ``Server`` whose HTTP requests bound their bodies (``BoundedRequest``)."""

    def __init__(self, *args: Any, body_limits: BodyLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_limits = body_limits

    # Server.run() makes its HTTPFactory and listens with it at once; this is where it is replaced.
    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = BoundedHTTPFactory(self)
