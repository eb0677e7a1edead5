"""Rollouts of other kinds, which other apps run (firmware campaigns): telemetry lists them with its own and
delegates pause, resume and abort to them, without importing them (the firmware app registers its kind
when Django starts, as it registers its listeners in ``telemetry.hooks``).

Ids: a rollout of a command is its number ("12"); another kind's is its prefix and its own number
("fw-7": firmware campaign 7). One id space per kind, never two rows with one id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.errors import NotFound
from core.permissions import Principal

COMMAND = "command"


@dataclass(frozen=True)
class RolloutSummary:
    """A rollout of any kind as the rollout list shows it."""

    id: str
    kind: str  # "command", "firmware"
    name: str
    status: str  # running, paused, halted, completed, aborted
    operation: str  # what it sends, in words: "write /1/0/1", "firmware 1.2.0"
    created_at: dt.datetime
    total: int
    done: int  # confirmed (or updated), for a command: the operation succeeded
    failed: int
    skipped: int
    active: int  # queued, sent (or an update under way)
    waves: list[int]
    current_wave: int
    reason: str
    url: str  # its page
    api_url: str  # its own resource in the API
    cancelled: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.done - self.failed - self.skipped - self.active - self.cancelled)

    @property
    def percent(self) -> int:
        finished = self.done + self.failed + self.skipped + self.cancelled
        return 100 * finished // self.total if self.total else 0


@dataclass(frozen=True)
class Kind:
    """What telemetry asks of another kind: its name and id prefix; the newest ``limit`` of its rollouts
    the user may see, and how many there are; one by its number (None: none); an action on one
    ("pause", "resume", "abort": the kind's own services, with their permission checks)."""

    name: str
    prefix: str
    newest: Callable[[Principal, int], tuple[Sequence[RolloutSummary], int]]
    get: Callable[[Principal, int], RolloutSummary | None]
    act: Callable[[Principal, int, str], RolloutSummary]


_kinds: dict[str, Kind] = {}


def add_kind(kind: Kind) -> None:
    _kinds[kind.prefix] = kind


def kinds() -> list[Kind]:
    return list(_kinds.values())


def parse_id(text: str) -> tuple[Kind | None, int]:
    """A rollout id: "12" (a command's: kind None) or "<prefix>-<number>" ("fw-7"); anything else is a 404."""
    prefix, _, number = text.rpartition("-")
    kind = _kinds.get(prefix)
    if ("-" in text and kind is None) or not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise NotFound(f"no rollout {text[:40]!r}", path="rollout")
    return kind, int(number)
