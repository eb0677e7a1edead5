"""Kinds of rollout that another app runs (firmware updates): telemetry's wave engine
(``telemetry.rollouts.services``) drives every rollout, and asks the kind, without importing it, for what only
it knows: which devices need nothing (plan), how to start a wave's members (start), how to stop them (abort),
and what the status of a member's item (a firmware update) means. The firmware app registers its kind when
Django starts (``FirmwareConfig.ready``), as it registers its listeners in ``telemetry.hooks``.

Ids: a rollout of a command is its row's id ("12"); a rollout of another kind is its prefix and its own
number ("fw-7": firmware rollout 7, "campaign 7" of the firmware pages). One id space per kind, never two
rows with one id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.permissions import Principal

if TYPE_CHECKING:
    from telemetry.models import Rollout
    from telemetry.rollouts.selectors import Device

COMMAND = "command"
# The statuses a member's item may have, in the rollout's words (RolloutDevice statuses of an operation).
ITEM_STATUSES = ("queued", "sent", "confirmed", "failed", "cancelled")


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

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.done - self.failed - self.skipped - self.active - self.cancelled)

    @property
    def percent(self) -> int:
        finished = self.done + self.failed + self.skipped + self.cancelled
        return 100 * finished // self.total if self.total else 0


@dataclass(frozen=True)
class Kind:
    """What the wave engine asks of a kind another app runs.

    - ``name``: its ``Rollout.Kind`` value; ``label``: in the list ("firmware"); ``prefix``: of its ids;
      ``noun``: what its messages call one ("campaign"); ``done``: the word for a member that succeeded;
    - ``statuses``: each of ``ITEM_STATUSES`` as its items' (``RolloutDevice.update``) statuses;
    - ``target(actor, given)``: the Rollout fields (e.g. ``firmware_id``) from what a client gave, checked
      (a 422 naming the field) before anything is stored;
    - ``plan(fields, devices)``: at creation, the devices that need nothing, with why (endpoint id: reason),
      planned in no wave; a Conflict when none is left;
    - ``start(rollout, members)``: start a wave's members ((member id, endpoint id), in order): link each
      one's item, or say why it was skipped;
    - ``abort(rollout)``: stop what is under way; says what ("2 updates under way cancelled");
    - ``describe(rollout)``: what it sends, in words; ``url``, ``api_url``: its page and its own resource;
    - ``changed(rollout_id, created, steered)``: its own pages' fragments to push (after the engine's);
    - ``site_only``: a user with a role on some sites only sees one of this kind when it belongs to one of
      their sites (``Rollout.site``: all its devices were there), not when it merely reaches one (firmware
      campaigns have always been so)."""

    name: str
    label: str
    prefix: str
    noun: str
    done: str
    statuses: dict[str, tuple[str, ...]]
    target: Callable[[Principal, dict[str, Any]], dict[str, Any]]
    plan: Callable[[dict[str, Any], Sequence[Device]], dict[int, str]]
    start: Callable[[Rollout, Sequence[tuple[int, int]]], None]
    abort: Callable[[Rollout], str]
    describe: Callable[[Rollout], str]
    url: Callable[[Rollout], str]
    api_url: Callable[[Rollout], str]
    changed: Callable[[int, bool, bool], None]
    site_only: bool = False


_kinds: dict[str, Kind] = {}


def add_kind(kind: Kind) -> None:
    _kinds[kind.name] = kind


def kinds() -> list[Kind]:
    return list(_kinds.values())


def of(name: str) -> Kind | None:
    """The kind a rollout's ``kind`` names, or None for a command's."""
    return _kinds.get(name)


def item_statuses(status: str) -> list[str]:
    """The items' statuses (of every kind) that are the member status ``status``."""
    return [value for kind in _kinds.values() for value in kind.statuses.get(status, ())]


def parse_id(text: str) -> tuple[Kind | None, int]:
    """A rollout id: "12" (a command's: kind None) or "<prefix>-<number>" ("fw-7"); anything else is a 404."""
    prefix, _, number = text.rpartition("-")
    kind = next((k for k in _kinds.values() if k.prefix == prefix), None)
    if ("-" in text and kind is None) or not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise NotFound(f"no rollout {text[:40]!r}", path="rollout")
    return kind, int(number)


def id_of(rollout: Rollout) -> str:
    kind = of(rollout.kind)
    return str(rollout.pk) if kind is None else f"{kind.prefix}-{rollout.number}"
