"""The client of Leshan's REST API and event stream (../shared/reference/leshan-rest-contract.md).

Every answer is classified into one ``Outcome``, following the contract's §1.3/§1.4 and §2:

| Leshan answers | outcome | what the downlink queue does |
|---|---|---|
| 200 JSON, ``success: true`` | CONFIRMED | done |
| 200 JSON, ``success: false`` (a CoAP error: ``NOT_FOUND(404)``...) | DEVICE_ERROR | failed: retrying will not help |
| 200 JSON ``{"delayed": true, "requestId": ...}`` (master, >= M17) | DELAYED | wait for ``REQUEST_RESPONSE`` |
| 400 ``... client is sleeping ...`` | SLEEPING | stays queued, no attempt counted |
| 400 ``no registered client with id ...`` | NOT_REGISTERED | stays queued, no attempt counted |
| other 4xx (``Invalid request: ...``, ``Invalid path``) | REJECTED | failed: the request itself is wrong |
| 504 ``Request timeout`` | TIMEOUT | attempt counted, retried with backoff |
| other 5xx | SERVER_ERROR | attempt counted, retried with backoff |
| connection refused (the request never left) | LESHAN_DOWN | stays queued, no attempt counted, tried again later |
| connection reset, no answer | UNREACHABLE | attempt counted, retried with backoff |

The security store (§7, ``/api/security/*``) has answers of its own (``classify_security``): 200 is
CONFIRMED (a DELETE of an entry that was not there too: ``{"message":"not_found"}``), a 400 is REJECTED (a
PSK identity another endpoint uses: ``identity_in_use``), a 5xx SERVER_ERROR, and no connection LESHAN_DOWN.

Requests are never retried by the HTTP client itself (``force_close``: aiohttp would otherwise resend an
idempotent request whose kept-alive connection turned out closed, and a write could reach a device twice).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5
# Beyond Leshan's own timeout for the device: how long the HTTP call itself may take.
HTTP_MARGIN_S = 5


class Outcome(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    DEVICE_ERROR = "DEVICE_ERROR"
    DELAYED = "DELAYED"
    SLEEPING = "SLEEPING"
    NOT_REGISTERED = "NOT_REGISTERED"
    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    SERVER_ERROR = "SERVER_ERROR"
    UNREACHABLE = "UNREACHABLE"
    LESHAN_DOWN = "LESHAN_DOWN"

    @property
    def retryable(self) -> bool:
        """A failure of the path to the device, not of the request: worth another attempt."""
        return self in (Outcome.TIMEOUT, Outcome.SERVER_ERROR, Outcome.UNREACHABLE)

    @property
    def waits_for_device(self) -> bool:
        """The device cannot be reached now; the request waits for it, no attempt spent."""
        return self in (Outcome.SLEEPING, Outcome.NOT_REGISTERED)


@dataclass(frozen=True)
class Response:
    outcome: Outcome
    status: int | None = None  # HTTP status
    coap: str | None = None  # "CHANGED(204)", "NOT_FOUND(404)"
    content: Any = None  # the node of a read or observe
    request_id: str | None = None
    detail: str = ""  # what went wrong, in words

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"outcome": self.outcome.value, "http_status": self.status}
        if self.coap:
            data["coap_status"] = self.coap
        if self.content is not None:
            data["content"] = self.content
        if self.request_id:
            data["request_id"] = self.request_id
        if self.detail:
            data["detail"] = self.detail
        return data


def classify(status: int, body: str, content_type: str = "") -> Response:
    """The outcome of one Leshan answer (see the module's table)."""
    if status == 200:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return Response(Outcome.SERVER_ERROR, status, detail=f"unreadable answer: {body[:200]}")
        if not isinstance(data, dict):
            return Response(Outcome.SERVER_ERROR, status, detail=f"unexpected answer: {body[:200]}")
        if data.get("delayed"):
            return Response(Outcome.DELAYED, status, request_id=str(data.get("requestId", "")))
        coap = data.get("status")
        if data.get("success"):
            return Response(Outcome.CONFIRMED, status, coap=coap, content=data.get("content"))
        detail = coap or "the device refused"
        if data.get("errormessage"):
            detail += f": {data['errormessage']}"
        return Response(Outcome.DEVICE_ERROR, status, coap=coap, detail=detail)
    text = body.strip()[:500]
    lowered = text.lower()
    if status == 400 and "sleeping" in lowered:
        return Response(Outcome.SLEEPING, status, detail=text)
    if status == 400 and "no registered client" in lowered:
        return Response(Outcome.NOT_REGISTERED, status, detail=text)
    if status == 504:
        return Response(Outcome.TIMEOUT, status, detail=text or "Request timeout")
    if 400 <= status < 500:
        return Response(Outcome.REJECTED, status, detail=text or f"HTTP {status}")
    return Response(Outcome.SERVER_ERROR, status, detail=text or f"HTTP {status}")


_IDENTITY_IN_USE = re.compile(r"PSK Identity (.*) is already used", re.DOTALL)
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def classify_security(status: int, body: str, content_type: str = "") -> Response:
    """The outcome of one answer of Leshan's security store (§7)."""
    if status == 200:
        if not body.strip():
            return Response(Outcome.CONFIRMED, status)
        try:
            data = json.loads(body)
        except ValueError:
            return Response(Outcome.SERVER_ERROR, status, detail=f"unreadable answer: {body[:200]}")
        if isinstance(data, dict) and data.get("message") == "not_found":
            return Response(Outcome.CONFIRMED, status, content=data, detail="Leshan had no entry for it")
        return Response(Outcome.CONFIRMED, status, content=data)
    text = body.strip()
    if content_type.startswith("text/html") or text.startswith("<html"):
        title = _TITLE.search(text)  # a container's error page: its title says enough
        text = title[1].strip() if title else ""
    text = text[:500]
    if 400 <= status < 500:
        return Response(Outcome.REJECTED, status, detail=text or f"HTTP {status}")
    return Response(Outcome.SERVER_ERROR, status, detail=text or f"HTTP {status}")


def identity_in_use(response: Response) -> str | None:
    """The PSK identity Leshan refused because another endpoint uses it, if that was the refusal."""
    if response.outcome != Outcome.REJECTED or response.status != 400:
        return None
    match = _IDENTITY_IN_USE.fullmatch(response.detail)
    return match[1] if match else None


def _path(path: str) -> str:
    return "/".join(quote(part, safe="") for part in path.strip("/").split("/"))


class LeshanClient:
    """One Leshan server. Use as ``async with LeshanClient(url) as leshan: ...``."""

    def __init__(self, base_url: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LeshanClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s + HTTP_MARGIN_S),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, endpoint: str, path: str = "", suffix: str = "") -> str:
        url = f"{self.base_url}/api/clients/{quote(endpoint, safe='')}"
        if path.strip("/"):
            url += "/" + _path(path)
        return url + suffix

    async def _call(
        self, method: str, url: str, *, classifier: Callable[[int, str, str], Response] = classify, **kwargs: Any
    ) -> Response:
        assert self._session is not None, "use LeshanClient as an async context manager"
        try:
            async with self._session.request(method, url, **kwargs) as answer:
                body = await answer.text()
                return classifier(answer.status, body, answer.headers.get("Content-Type", ""))
        except aiohttp.ClientConnectorError as exc:  # no connection: the request certainly did not leave
            return Response(Outcome.LESHAN_DOWN, detail=f"Leshan unreachable: {exc!r}"[:500])
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Response(Outcome.UNREACHABLE, detail=f"Leshan unreachable: {exc!r}"[:500])

    def _timeout(self) -> dict[str, str]:
        return {"timeout": str(self.timeout_s)}

    async def read(self, endpoint: str, path: str) -> Response:
        return await self._call("GET", self._url(endpoint, path), params=self._timeout())

    async def write(self, endpoint: str, path: str, node: dict[str, Any], *, replace: bool = True) -> Response:
        params = {**self._timeout(), "replace": "true" if replace else "false"}
        body = json.dumps(node)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return await self._call("PUT", self._url(endpoint, path), params=params, data=body, headers=headers)

    async def execute(self, endpoint: str, path: str, arguments: str = "") -> Response:
        kwargs: dict[str, Any] = {"params": self._timeout()}
        if arguments:
            kwargs.update(data=arguments.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
        return await self._call("POST", self._url(endpoint, path), **kwargs)

    async def observe(self, endpoint: str, path: str) -> Response:
        return await self._call("POST", self._url(endpoint, path, "/observe"), params=self._timeout())

    async def observe_cancel(self, endpoint: str, path: str) -> Response:
        """Cancel actively (the device is told); Leshan answers 404 when nothing was observed."""
        return await self._call("DELETE", self._url(endpoint, path, "/observe"), params={"active": ""})

    async def clients(self) -> list[dict[str, Any]]:
        """Every registration Leshan holds (``GET /api/clients``)."""
        assert self._session is not None
        async with self._session.get(f"{self.base_url}/api/clients") as answer:
            answer.raise_for_status()
            data = await answer.json(content_type=None)
        if not isinstance(data, list):
            raise ValueError("GET /api/clients did not answer a list")
        return data

    # -- the security store (§7)

    async def security_clients(self) -> Response:
        """Every entry of the security store (``GET /api/security/clients``): CONFIRMED with ``content``
        the list of SecurityInfo, or what went wrong."""
        response = await self._call("GET", f"{self.base_url}/api/security/clients", classifier=classify_security)
        if response.outcome == Outcome.CONFIRMED and not isinstance(response.content, list):
            return Response(Outcome.SERVER_ERROR, response.status, detail="GET /api/security/clients: not a list")
        return response

    async def security_put(self, info: dict[str, Any]) -> Response:
        """Add or replace the entry of ``info["endpoint"]`` (``PUT /api/security/clients``)."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        url = f"{self.base_url}/api/security/clients"
        return await self._call("PUT", url, classifier=classify_security, data=json.dumps(info), headers=headers)

    async def security_delete(self, endpoint: str) -> Response:
        """Remove the entry of ``endpoint``; CONFIRMED also when there was none (``detail`` says so)."""
        url = f"{self.base_url}/api/security/clients/{quote(endpoint, safe='')}"
        return await self._call("DELETE", url, classifier=classify_security)

    async def security_server(self) -> Response:
        """The server's own identity (``GET /api/security/server``): ``content`` ``{"pubkey": ...}`` or
        ``{"certificate": {"pubkey": ..., "b64Der": ...}}``."""
        response = await self._call("GET", f"{self.base_url}/api/security/server", classifier=classify_security)
        if response.outcome == Outcome.CONFIRMED and not isinstance(response.content, dict):
            return Response(Outcome.SERVER_ERROR, response.status, detail="GET /api/security/server: not an object")
        return response


@dataclass(frozen=True)
class ServerEvent:
    name: str
    data: Any


async def server_events(
    session: aiohttp.ClientSession, base_url: str, *, endpoint: str | None = None
) -> AsyncIterator[ServerEvent]:
    """Leshan's event stream, ``GET /api/event`` (§4), until it ends. Needs exactly
    ``Accept: text/event-stream``. Frames are ``event: NAME`` then ``data: <one line of JSON>``; bare
    newlines are heartbeats. A frame whose data is not JSON is logged and skipped. The first event is a
    ``CONNECTED`` of Fieldhub's own, once subscribed: the moment to resynchronise what was missed."""
    params = {"ep": endpoint} if endpoint else None
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with session.get(
        f"{base_url.rstrip('/')}/api/event", params=params, headers={"Accept": "text/event-stream"}, timeout=timeout
    ) as response:
        response.raise_for_status()
        yield ServerEvent("CONNECTED", None)  # subscribed: from here on nothing is missed
        name: str | None = None
        data_lines: list[str] = []
        async for raw in response.content:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if name is not None and data_lines:
                    text = "\n".join(data_lines)
                    try:
                        yield ServerEvent(name, json.loads(text))
                    except ValueError:
                        logger.warning("Leshan event %s with unreadable data ignored: %.200s", name, text)
                name, data_lines = None, []
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value.strip()
            elif field == "data":
                data_lines.append(value)
            elif field not in ("id", "retry", ""):
                logger.warning("Leshan event stream: unexpected line ignored: %.200s", line)
