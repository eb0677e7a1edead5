"""Reading JSON request bodies strictly, and the one error type every API handler raises.

``read_json_body`` checks, in this order, and stops at the first problem: the body's size (413), its
content type (415), that it is UTF-8 JSON without NaN/Infinity and not nested absurdly deep (400), and that
it matches the schema (422). Each problem is a ``FieldhubError`` with its status.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from ninja.parser import Parser

from core.errors import FieldhubError

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails

SchemaT = TypeVar("SchemaT", bound=pydantic.BaseModel)

JSON_CONTENT_TYPES = frozenset({"application/json"})


# URL prefixes whose clients read JSON (the REST API and the bridge): errors there are JSON, pages get HTML.
API_PREFIXES = ("/api/", "/leshan_api/")


class PageRequest(HttpRequest):
    """What a page view behind ``login_required`` is given: a logged-in user, and django-htmx's details of
    the request (``HtmxMiddleware`` sets them on every request). For type checking only: Django makes the
    request."""

    user: User
    htmx: HtmxDetails


class ApiRequest(HttpRequest):
    """What a REST API handler behind ``core.auth.user_auth`` is given: ninja puts the user its token or
    session authenticated in ``auth``. For type checking only: ninja makes the request."""

    auth: User


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Back to the page a plain form was posted from (its Referer, if it is one of this site's pages), else to
    the URL named ``fallback``."""
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(referer)
    return redirect(fallback)


def parse_ip(text: str) -> IPAddress | None:
    """An IP address (an IPv4-mapped IPv6 address as the IPv4 one), or None for anything else."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def in_networks(ip: IPAddress | None, networks: list[Network]) -> bool:
    return ip is not None and any(ip in network for network in networks)


def client_address(request: HttpRequest) -> IPAddress | None:
    """The address of the client: REMOTE_ADDR, unless that is one of TRUSTED_PROXIES; then the right-most
    address of X-Forwarded-For that is not a trusted proxy (the left part of the header is whatever the
    client wrote, and is never believed). None when there is no usable address."""
    remote = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if not in_networks(remote, settings.TRUSTED_PROXIES):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if not in_networks(ip, settings.TRUSTED_PROXIES):
            return ip  # None if the proxy passed on something that is not an address
    return remote


def _error(status: int, detail: str, *, path: str | None = None) -> FieldhubError:
    return FieldhubError(detail, path=path, status=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(body: bytes) -> Any:
    """Parse a request body as standard JSON; ValueError with a readable message otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer literal of thousands of digits
        raise ValueError(f"malformed JSON: {exc}") from None


class StrictJsonParser(Parser):
    """django-ninja's body parser, made as strict as ``read_json_body``. Ninja answers its ValueError with a
    400 whose cause ``core.api`` shows, so the client learns what is wrong with the body."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = loads_strict(request.body)
        if _holds_nul(data):
            # No text Fieldhub keeps can hold one, and PostgreSQL refuses it even as a lookup value.
            raise ValueError("the body contains a NUL character (\\u0000)")
        return data


def _holds_nul(data: Any) -> bool:
    pending = [data]
    while pending:  # iterative: the body may be nested as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def read_json_body(request: HttpRequest, schema: type[SchemaT], *, max_bytes: int) -> SchemaT:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > max_bytes:
        raise _error(413, f"request body of {declared} bytes is over the limit of {max_bytes} bytes")
    content_type = request.content_type or ""
    if content_type.lower() not in JSON_CONTENT_TYPES:
        shown = content_type or "none"
        raise _error(415, f"Content-Type must be application/json, not {shown}")
    try:
        body = request.body
    except RequestDataTooBig:
        raise _error(413, f"request body is over the limit of {max_bytes} bytes") from None
    if len(body) > max_bytes:
        raise _error(413, f"request body of {len(body)} bytes is over the limit of {max_bytes} bytes")
    if not body:
        raise _error(400, "the request body is empty; a JSON object is expected")
    try:
        data = loads_strict(body)
    except ValueError as exc:
        raise _error(400, str(exc)) from None
    if not isinstance(data, dict):
        raise _error(422, "the body must be a JSON object")
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _error(422, describe_validation_error(exc.errors())) from None


_SOURCES = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})


def describe_validation_error(errors: list[Any]) -> str:
    """One line naming each problem: ``ep: Field required; val: Input should be a valid list``."""
    parts = []
    for error in errors[:5]:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in _SOURCES:  # where django-ninja found it: not part of the name the client used
            loc = loc[1:]
        location = ".".join(str(part) for part in loc if part != "payload")
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Query-string times without a zone are UTC; one that UTC cannot hold (0001-01-01T00:00+01:00) is a 422."""
    if value is None:
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    try:
        value.astimezone(dt.UTC)  # what the database is sent
    except OverflowError:
        raise _error(422, f"{value.isoformat()} is outside the years 1 to 9999 in UTC") from None
    return value


def stream(request: HttpRequest, chunks: Iterator[str], *, content_type: str, filename: str) -> StreamingHttpResponse:
    """A download produced piece by piece with constant memory, under WSGI and ASGI alike: Django would
    read a synchronous iterator whole into memory under ASGI, so there the pieces are fetched one by one
    through a thread."""
    if isinstance(request, ASGIRequest):
        source = iter(chunks)

        async def pieces() -> AsyncIterator[str]:
            while (piece := await sync_to_async(_next_piece)(source)) is not None:
                yield piece

        response = StreamingHttpResponse(pieces(), content_type=content_type)
    else:
        response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _next_piece(source: Iterator[str]) -> str | None:
    """The next piece of a download, or None once there is none."""
    return next(source, None)
