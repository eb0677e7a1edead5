"""The GET parameters of the pages (filters, sort, page, time range), read strictly: a malformed one is a
``FieldhubError`` naming it (the error page, 422), never a 500 and never silently something else."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from urllib.parse import urlencode

from django.http import HttpRequest
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import FieldhubError

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-/]{0,63}")


def text(request: HttpRequest, name: str) -> str:
    return request.GET.get(name, "").strip()


def page_number(request: HttpRequest, name: str = "page") -> int:
    """A page number from 1 (1 when absent)."""
    raw = text(request, name)
    if not raw:
        return 1
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or len(raw) > 9:
        raise FieldhubError(f"{name} must be a whole number, 1 or more", path=name)
    return int(raw)


def time_zone(request: HttpRequest, name: str = "tz") -> dt.tzinfo:
    """The zone that times without an offset are in: the browser's, as fieldhub.js fills it in (an IANA
    name, e.g. Europe/Berlin); UTC without it (a form sent without JavaScript)."""
    raw = text(request, name)
    if not raw or raw == "UTC":
        return dt.UTC
    if _ZONE_NAME.fullmatch(raw):
        try:
            return zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise FieldhubError(f"unknown time zone {raw!r}; give an IANA name such as Europe/Berlin", path=name)


def moment(request: HttpRequest, name: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A date and time (``2026-11-01T10:00``, seconds and an offset optional; a date alone is its
    midnight) in ``zone`` unless it names its own offset; None when absent."""
    raw = text(request, name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None and (day := parse_date(raw)) is not None:
            value = dt.datetime.combine(day, dt.time())
    except ValueError:  # well-formed but impossible: month 13, February 30
        value = None
    if value is None:
        raise FieldhubError(f"{raw!r} is not a date and time, e.g. 2026-11-01T10:00", path=name)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        value.astimezone(dt.UTC)  # what the database is sent
    except OverflowError:
        raise FieldhubError(f"{raw!r} is outside the years 1 to 9999 in UTC", path=name) from None
    return value


def local_input(raw: str) -> str:
    """A time parameter as a ``datetime-local`` input can show it again (it takes no offset), else ""."""
    return raw if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", raw) else ""


def link(url: str, /, **params: object) -> str:
    """``path?a=1&b=2`` with the parameters that have a value, in the order given."""
    kept = {name: value for name, value in params.items() if value not in (None, "")}
    return f"{url}?{urlencode(kept)}" if kept else url
