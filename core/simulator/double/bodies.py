"""What a request to ``/api/clients`` carries, checked as Leshan checks it: paths, node bodies, attributes,
execute arguments and the ``timeout`` parameter. Every problem is an ``HttpError``."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from core.lwm2m.nodes import NodeError, Path
from core.simulator.double.nodes import Node, decode_node, path_ids, placed
from core.simulator.double.protocol import DEFAULT_TIMEOUT_S, HttpError, bad_structure, bad_value

ARGUMENTS_RE = re.compile(r"(?:\d(?:='[^']*')?(?:,\d(?:='[^']*')?)*)?")
_ATTRIBUTES = {"pmin": int, "pmax": int, "epmin": int, "epmax": int, "gt": float, "lt": float, "st": float}


def timeout_seconds(raw: str | None) -> int:
    """``timeout`` is whole seconds; anything unparseable is the 5 s default, as in Leshan."""
    if raw is not None and re.fullmatch(r"[+-]?\d{1,18}", raw):
        return int(raw)
    return DEFAULT_TIMEOUT_S


def lwm2m_path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def parse_path(text: str) -> Path:
    try:
        return Path.parse(text)
    except NodeError as exc:
        raise HttpError(400, f"Invalid request: Invalid path {text}: {exc.problem}") from None


def composite_paths(request: web.Request) -> list[str]:
    raw = request.query.get("paths")
    if raw is None:
        raise bad_value('Cannot invoke "String.split(String)" because "pathParam" is null')
    return [str(parse_path(part.strip())) for part in raw.split(",")]


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise bad_structure(str(exc)) from None


def body_node(request: web.Request, body: str, path: Path) -> Node:
    """The node of a write or create body: JSON node, or ``text/plain`` for a STRING resource."""
    content_type = request.headers.get("Content-Type")
    mime = content_type.split(";")[0].strip().lower() if content_type else None
    if mime == "application/json":
        return decode_node(_parse_json(body))
    if mime == "text/plain":
        return {"id": path_ids(path)[-1], "kind": "singleResource", "type": "STRING", "value": body}
    raise HttpError(400, f"Invalid request: content type {content_type} not supported")


def composite_body(body: str, uri: str, *, master: bool) -> dict[str, Node]:
    """A write-composite body: path to node, each placed at its path."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise _unparseable_composite(str(exc), uri, master) from None
    if not isinstance(raw, dict):
        raise _unparseable_composite("a JSON object of path to node is expected", uri, master)
    nodes = {}
    for key, value in raw.items():
        path = parse_path(key)
        try:
            nodes[str(path)] = placed(decode_node(value), path)
        except HttpError as error:
            if error.status == 400:
                raise _unparseable_composite(error.text, uri, master) from None
            raise
    return nodes


def _unparseable_composite(message: str, uri: str, master: bool) -> HttpError:
    if master:
        return HttpError(500, f"Unexpected error handling PUT - {uri} : {message}")
    return HttpError(500, message, jetty_page=True)


def attributes(query_string: str, *, master: bool) -> dict[str, str | None]:
    """The whole query string as LwM2M attributes (``timeout`` included: it is not one, as in Leshan)."""
    found: dict[str, str | None] = {}
    for part in filter(None, query_string.split("&")):
        name, _, value = part.partition("=")
        kind = _ATTRIBUTES.get(name)
        if kind is None:
            raise _bad_attribute(f"{name} attribute is unknown or not a LWM2M attribute", master)
        if value:
            try:
                kind(value)
            except ValueError:
                raise _bad_attribute(f"{name} attribute value {value} is not valid", master) from None
        found[name] = value or None
    return found


def _bad_attribute(message: str, master: bool) -> HttpError:
    if master:
        return HttpError(400, f"Invalid attributes: {message}")
    return bad_value(message)
