"""Leshan's vocabulary: versions, CoAP response codes, the LwM2M operations and the response JSON (§1.3)."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_S = 5
SLEEPING_TEXT = "Invalid request: The destination client is sleeping, request cannot be sent."
TIMEOUT_TEXT = "Request timeout"


class LeshanVersion(enum.StrEnum):
    M15 = "2.0.0-M15"
    MASTER = "master"


COAP_CODES = {
    "CREATED": 201,
    "DELETED": 202,
    "CHANGED": 204,
    "CONTENT": 205,
    "BAD_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "REQUEST_ENTITY_INCOMPLETE": 408,
    "PRECONDITION_FAILED": 412,
    "REQUEST_ENTITY_TOO_LARGE": 413,
    "UNSUPPORTED_CONTENT_FORMAT": 415,
    "INTERNAL_SERVER_ERROR": 500,
}
_CODE_NAMES = {number: name for name, number in COAP_CODES.items()}


def coap_code_number(code: str | int) -> int:
    """``"NOT_FOUND"``, ``"NOT_FOUND(404)"``, ``"4.04"`` or ``404`` -> 404."""
    if isinstance(code, int):
        return code
    if code in COAP_CODES:
        return COAP_CODES[code]
    if match := re.fullmatch(r"[A-Z_]+\((\d{3})\)", code):
        return int(match[1])
    if match := re.fullmatch(r"(\d)\.(\d\d)", code):
        return int(match[1]) * 100 + int(match[2])
    raise ValueError(f"unknown CoAP response code {code!r}")


def status_text(code: str | int) -> str:
    """Leshan's ``ResponseCode.toString()``: ``"NOT_FOUND(404)"``; codes without a name are ``UNKNOWN``."""
    number = coap_code_number(code)
    return f"{_CODE_NAMES.get(number, 'UNKNOWN')}({number})"


@dataclass(frozen=True, slots=True)
class Operation:
    """An LwM2M operation: which codes are a success and which are valid answers (§1.3)."""

    name: str
    success: frozenset[int]
    valid: frozenset[int]


def _operation(name: str, success: set[int], others: set[int]) -> Operation:
    return Operation(name, frozenset(success), frozenset(success | others))


_COMMON_ERRORS = {400, 401, 404, 405, 500}
READ = _operation("read", {205}, _COMMON_ERRORS | {406})
DISCOVER = _operation("discover", {205}, _COMMON_ERRORS)
OBSERVE = _operation("observe", {205, 204}, _COMMON_ERRORS | {406})
WRITE = _operation("write", {204}, _COMMON_ERRORS | {408, 413, 415})
WRITE_ATTRIBUTES = _operation("write-attributes", {204}, _COMMON_ERRORS)
EXECUTE = _operation("execute", {204}, _COMMON_ERRORS)
CREATE = _operation("create", {201}, _COMMON_ERRORS | {415})
DELETE = _operation("delete", {202}, _COMMON_ERRORS)
READ_COMPOSITE = _operation("read-composite", {205}, _COMMON_ERRORS | {406, 415})
WRITE_COMPOSITE = _operation("write-composite", {204}, _COMMON_ERRORS | {406})
OBSERVE_COMPOSITE = _operation("observe-composite", {205}, _COMMON_ERRORS | {415})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a device answered: a CoAP code name and, for a success, its payload."""

    code: str | int
    content: Any = None
    location: str | None = None
    object_links: list[dict[str, Any]] | None = None
    error_message: str | None = None


def response_json(operation: Operation, answer: Answer) -> dict[str, Any]:
    """Leshan's ``JacksonResponseSerializer`` output for a device answer."""
    number = coap_code_number(answer.code)
    success = number in operation.success
    body: dict[str, Any] = {
        "status": status_text(number),
        "valid": number in operation.valid,
        "success": success,
        "failure": not success,
    }
    if not success:
        if answer.error_message:
            body["errormessage"] = answer.error_message
        return body
    if answer.content is not None:
        body["content"] = answer.content
    if answer.object_links is not None:
        body["objectLinks"] = answer.object_links
    if answer.location is not None:
        body["location"] = answer.location
    return body


def content_answer(result: Any, success: str = "CONTENT") -> Answer:
    """A device's result as an answer: a CoAP code (a failure) or the content of a success."""
    if isinstance(result, str | int):
        return Answer(result)
    return Answer(success, content=result)


def discover_answer(result: list[dict[str, Any]] | str) -> Answer:
    if isinstance(result, str):
        return Answer(result)
    return Answer("CONTENT", object_links=result)


class HttpError(Exception):
    """An HTTP error answer of the servlet: plain text, or Jetty's HTML error page."""

    def __init__(self, status: int, text: str, *, jetty_page: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.jetty_page = jetty_page


def bad_structure(message: str) -> HttpError:
    """A body Leshan's node deserializer cannot parse: 400."""
    return HttpError(400, f"Invalid request: unable to parse json to tlv:{message}")


def bad_value(message: str) -> HttpError:
    """A value (or anything else) Leshan fails on after parsing: 500."""
    return HttpError(500, f"Unexpected exception: {message}")


def dumps(data: Any) -> str:
    """Compact JSON as Jackson writes it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
