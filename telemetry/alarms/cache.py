"""The enabled alarm rules, cached per process, so that the ingest asks "does a rule watch this reading?"
without a query per post.

The cache holds every enabled rule, by the (object id, resource id) it watches and by kind. It is checked
against the database at most every ``CHECK_SECONDS``: one small query reads the rules' version (how many
rules there are, the sum of their ids and their newest ``updated_at``: a rule created, changed, enabled,
disabled or deleted changes it), and the rules are loaded again only when it changed. The rule services
also drop this process's copy at once (and again when they commit), so a rule applies in the process that
saved it from the next post on, and in every other process within ``CHECK_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Sum

from telemetry.alarms import conditions
from telemetry.alarms.models import AlarmRule

CHECK_SECONDS = 1.0

Key = tuple[int, int]


@dataclass(frozen=True)
class RuleSet:
    token: tuple[Any, ...]
    by_key: dict[Key, tuple[AlarmRule, ...]] = field(default_factory=dict)
    by_kind: dict[str, tuple[AlarmRule, ...]] = field(default_factory=dict)
    # The ingest guard's view: by key, each rule with its compiled condition (None: "changed").
    tests: dict[Key, tuple[tuple[AlarmRule, Callable[[Any], bool] | None], ...]] = field(default_factory=dict)

    def watches(self, keys: Iterable[Key]) -> bool:
        by_key = self.by_key
        return bool(by_key) and any(key in by_key for key in keys)

    def of_kind(self, kind: str) -> tuple[AlarmRule, ...]:
        return self.by_kind.get(kind, ())


def _token() -> tuple[Any, ...]:
    version = AlarmRule.objects.aggregate(n=Count("id"), ids=Sum("id"), last=Max("updated_at"))
    return (version["n"], version["ids"], version["last"])


def _load(token: tuple[Any, ...]) -> RuleSet:
    by_key: dict[Key, list[AlarmRule]] = {}
    by_kind: dict[str, list[AlarmRule]] = {}
    for rule in AlarmRule.objects.filter(enabled=True).order_by("id"):
        by_kind.setdefault(rule.kind, []).append(rule)
        if rule.object_id is not None and rule.resource_id is not None:
            by_key.setdefault((rule.object_id, rule.resource_id), []).append(rule)
    return RuleSet(
        token=token,
        by_key={key: tuple(rules) for key, rules in by_key.items()},
        by_kind={kind: tuple(rules) for kind, rules in by_kind.items()},
        tests={key: tuple((rule, conditions.compiled(rule)) for rule in rules) for key, rules in by_key.items()},
    )


# What this process last saw of a device: its id, site and (when a rule needed them) labels. Only a hint for
# the ingest's guarded one-statement path: the statement checks it (``evaluate.readings_guard``).
Scope = tuple[int, int | None, frozenset[str] | None]
SCOPES_MAX = 200_000


class RuleCache:
    def __init__(self) -> None:
        self.scopes: dict[str, Scope] = {}
        self._rules: RuleSet | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def rules(self) -> RuleSet:
        """The enabled rules: at most ``CHECK_SECONDS`` old (one query to check, one more to reload)."""
        current = self._rules
        if current is not None and time.monotonic() - self._checked_at < CHECK_SECONDS:
            return current
        with self._lock:
            current = self._rules
            if current is not None and time.monotonic() - self._checked_at < CHECK_SECONDS:
                return current
            token = _token()
            if current is None or current.token != token:
                current = _load(token)
            self._rules, self._checked_at = current, time.monotonic()
            return current

    def clear(self) -> None:
        """Forget the rules: the next use reloads them (the rule services, after a change)."""
        with self._lock:
            self._rules, self._checked_at = None, 0.0
            self.scopes = {}

    def scope_seen(self, name: str, scope: Scope) -> None:
        if len(self.scopes) >= SCOPES_MAX:
            self.scopes = {}
        self.scopes[name] = scope


rule_cache = RuleCache()
