"""Paging rows of any list: limits, time ranges, offset windows with their total (the APIs' ``items``,
``count``, ``limit``, ``offset`` answers), and cursor pages that stay stable while rows arrive."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Model, QuerySet

from core.errors import FieldhubError

MAX_PAGE = 1000

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    """``limit`` rows from ``offset`` on, and how many rows the whole list has: what the APIs' paged lists
    answer (``items``, ``count``, ``limit``, ``offset``)."""

    items: Sequence[T]
    count: int
    limit: int
    offset: int

    def with_items(self, items: Sequence[U]) -> OffsetPage[U]:
        """The same window with each row turned into what the answer shows of it."""
        return OffsetPage(items=items, count=self.count, limit=self.limit, offset=self.offset)


def offset_window(rows: QuerySet[M], *, limit: int, offset: int) -> list[M]:
    """``limit`` rows from ``offset`` on, in the order of ``rows`` (one query)."""
    return list(rows[offset : offset + limit])


def offset_page(rows: QuerySet[M], *, limit: int, offset: int) -> OffsetPage[M]:
    """The window of ``rows`` and their count: two queries."""
    items = offset_window(rows, limit=limit, offset=offset)
    return OffsetPage(items=items, count=rows.count(), limit=limit, offset=offset)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def encode_key(time: dt.datetime | None, pk: int) -> str:
    """An opaque cursor for a row: its time (to the microsecond, if the order has one) and its id."""
    raw = str(pk) if time is None else f"{(time - EPOCH) // dt.timedelta(microseconds=1)}:{pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_key(cursor: str, *, timed: bool, path: str, problem: str) -> tuple[dt.datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        parts = [int(part) for part in raw.split(":")]
        if len(parts) != (2 if timed else 1) or parts[-1] < 0:
            raise ValueError(raw)
        time = EPOCH + dt.timedelta(microseconds=parts[0]) if timed else None
        return time, parts[-1]
    except (ValueError, binascii.Error, OverflowError, UnicodeDecodeError):
        raise FieldhubError(problem, path=path) from None


PAGE_CURSOR_PROBLEM = "this link's cursor is not one Fieldhub gave out"


@dataclass(frozen=True)
class NewestFirst:
    """A page of rows, newest first. ``older`` continues with the rows after the last one (``?before=``),
    ``newer`` with the rows before the first one (``?after=``); None where there are none. Stable while new
    rows arrive: a cursor names a row's place in the order, not an offset."""

    items: list[Any]
    older: str | None
    newer: str | None


def _beyond(
    rows: QuerySet[Any], time_field: str | None, key: tuple[dt.datetime | None, int], *, newer: bool
) -> QuerySet[Any]:
    time, pk = key
    if time_field is None:
        return rows.filter(id__gt=pk) if newer else rows.filter(id__lt=pk)
    # time >= t (or <= t) keeps the index range scan; the few rows at exactly t are then told apart by id.
    if newer:
        return rows.filter(**{f"{time_field}__gte": time}).exclude(**{time_field: time, "id__lte": pk})
    return rows.filter(**{f"{time_field}__lte": time}).exclude(**{time_field: time, "id__gte": pk})


def newest_first(
    rows: QuerySet[Any], *, time_field: str | None, before: str | None, after: str | None, limit: int
) -> NewestFirst:
    """Page ``rows`` newest first by (``time_field``, id), or by id alone. ``before`` and ``after`` are
    cursors this function gave out (a malformed one is a 422 naming the parameter). A page asked for with
    ``after`` that would be short is the newest page instead, so that a page is always full where it can be."""
    if before and after:
        raise FieldhubError("give before or after, not both", path="after")
    timed = time_field is not None
    descending = (f"-{time_field}", "-id") if timed else ("-id",)
    ascending = (time_field, "id") if timed else ("id",)

    def key_of(row: Any) -> str:
        return encode_key(getattr(row, time_field) if time_field is not None else None, row.pk)

    if after:
        key = decode_key(after, timed=timed, path="after", problem=PAGE_CURSOR_PROBLEM)
        found = list(_beyond(rows, time_field, key, newer=True).order_by(*ascending)[: limit + 1])
        if len(found) > limit:
            items = found[:limit][::-1]
            return NewestFirst(items=items, older=key_of(items[-1]), newer=key_of(items[0]))
        before = None  # fewer than a page is newer: the newest page
    if before:
        key = decode_key(before, timed=timed, path="before", problem=PAGE_CURSOR_PROBLEM)
        rows = _beyond(rows, time_field, key, newer=False)
    found = list(rows.order_by(*descending)[: limit + 1])
    items = found[:limit]
    older = key_of(items[-1]) if len(found) > limit else None
    newer = key_of(items[0]) if before and items else None
    return NewestFirst(items=items, older=older, newer=newer)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise FieldhubError(f"limit must be between 1 and {MAX_PAGE}", path="limit")


def time_range(
    rows: QuerySet[Any], since: dt.datetime | None, until: dt.datetime | None, *, field: str = "measured_at"
) -> QuerySet[Any]:
    if since is not None and until is not None and since >= until:
        raise FieldhubError("since must be before until", path="since")
    if since is not None:
        rows = rows.filter(**{f"{field}__gte": since})
    if until is not None:
        rows = rows.filter(**{f"{field}__lt": until})
    return rows
