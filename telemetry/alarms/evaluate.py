"""Judging a post's readings against the alarm rules, in the ingest's transaction, right after the store:
a reading that is stored raises (or clears) its alarm, or neither happens.

The ingest asks ``watched`` first (in memory: ``cache.rule_cache``) and only a post with a watched reading
takes this path. Per post: the rules in scope are picked in memory (device, site; a device's labels are
read only when a rule names labels), then one query reads their open alarms (and any alarm changed after
the post's oldest reading), one more their watches when a rule has a duration, a count or is "changed".
Nothing else is read or written unless an alarm or a watch changes.

Per rule, the readings are judged oldest first:

- one older than the alarm's last change (device time) changes nothing: late readings do not flap it;
- with a wildcard instance (``/3303/*/5700``), any instance raises the alarm and only the instance that
  raised it clears it;
- a condition with a duration (``duration_seconds``) or a count (``readings``) is kept in an
  ``AlarmWatch`` (since, count) until it is due, and forgotten when a reading does not meet it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from core.lwm2m.nodes import Path, Reading
from core.models import Endpoint, EndpointLabel, Label
from telemetry.alarms import conditions, services
from telemetry.alarms.cache import Key, RuleSet, rule_cache
from telemetry.alarms.models import Alarm, AlarmRule, AlarmWatch
from telemetry.ingest.rows import PostValue
from telemetry.ingest.store import AlsoRead
from telemetry.lifecycle.state import from_ms

Kind = AlarmRule.Kind


def watched(keys: Iterable[Key]) -> bool:
    """Does any enabled rule watch one of these (object id, resource id)? In memory."""
    return rule_cache.rules().watches(keys)


ANY: frozenset[str] = frozenset({"\x00any"})  # rules_for: leave the labels to the caller


def rules_for(
    rules: Iterable[AlarmRule], *, endpoint_id: int, site_id: int | None, labels: frozenset[str] | None = None
) -> list[AlarmRule]:
    """The rules that apply to the device: one device's rule to that device only; else those of its site
    (or of every site) whose labels it has all of. Its labels are read (one query) only if a rule names some."""
    applying = []
    for rule in rules:
        if rule.endpoint_id is not None:
            if rule.endpoint_id == endpoint_id:
                applying.append(rule)
            continue
        if rule.site_id is not None and rule.site_id != site_id:
            continue
        if rule.labels and labels is not ANY:
            if labels is None:
                labels = labels_of(endpoint_id)
            if not set(rule.labels) <= labels:
                continue
        applying.append(rule)
    return applying


def labels_of(endpoint_id: int) -> frozenset[str]:
    return frozenset(EndpointLabel.objects.filter(endpoint_id=endpoint_id).values_list("label__name", flat=True))


@dataclass
class _Watch:
    since: dt.datetime | None = None
    count: int = 0
    last_value: Any = None
    stored: bool = False
    dirty: bool = False


def _candidates(rules: RuleSet, keys: Iterable[tuple[int, int | None, int | None]]) -> dict[int, AlarmRule]:
    """The rules watching any of these (object, resource, instance), before their scope is looked at."""
    found: dict[int, AlarmRule] = {}
    for object_id, resource_id, instance in keys:
        for rule in rules.by_key.get((object_id, resource_id), ()) if resource_id is not None else ():
            if rule.instance_id is None or rule.instance_id == instance:
                found[rule.pk] = rule
    return found


def state_sql(readings: Sequence[Reading], now: dt.datetime) -> AlsoRead | None:
    """``telemetry.hooks``' state read: the SQL the store's statement (PostgreSQL) adds to read what the
    judging needs (``_State``) of the rules that may apply, as one JSON value: no statement of its own."""
    rules = _candidates(
        rule_cache.rules(), {(r.path.object_id, r.path.resource_id, r.path.object_instance_id) for r in readings}
    )
    if not rules:
        return None
    times = [r.timestamp_ms for r in readings]
    oldest = min(from_ms(ms) if ms is not None else now for ms in times)
    ids = sorted(rules)
    watched_ids = [pk for pk in ids if conditions.needs_watch(rules[pk])]
    q = connection.ops.quote_name
    parts = [
        f"'r', %s::bigint[], 'a', (SELECT json_agg(json_build_array({q('id')}, {q('rule_id')}, {q('state')}, "
        f"{q('changed_at')}, {q('path')})) FROM {q(Alarm._meta.db_table)} WHERE {q('endpoint_id')} = {{endpoint}} "
        f"AND {q('rule_id')} = ANY(%s::bigint[]) AND ({q('state')} IN (%s, %s) OR {q('changed_at')} > %s))"
    ]
    params: list[Any] = [ids, ids, *Alarm.OPEN, oldest]
    if watched_ids:
        parts.append(
            f"'w', (SELECT json_agg(json_build_array({q('rule_id')}, {q('since')}, {q('count')}, {q('last_value')})) "
            f"FROM {q(AlarmWatch._meta.db_table)} WHERE {q('endpoint_id')} = {{endpoint}} "
            f"AND {q('rule_id')} = ANY(%s::bigint[]))"
        )
        params.append(watched_ids)
    if any(rule.labels for rule in rules.values()):
        links, labels = q(EndpointLabel._meta.db_table), q(Label._meta.db_table)
        parts.append(
            f"'l', COALESCE((SELECT json_agg({labels}.{q('name')}) FROM {links} JOIN {labels} "
            f"ON {labels}.{q('id')} = {links}.{q('label_id')} WHERE {links}.{q('endpoint_id')} = {{endpoint}}), "
            "'[]'::json)"
        )
    return AlsoRead(sql=f"SELECT json_build_object({', '.join(parts)})", params=params)


def _state_from_json(answer: dict[str, Any], ids: Sequence[int]) -> _State | None:
    """What ``state_sql`` read, as ``_State``; None when it did not read every rule of ``ids`` (the rule
    cache changed between the statement and the judging: the caller reads again)."""
    if not set(ids) <= set(answer.get("r") or ()):
        return None
    labels = answer.get("l")
    state = _State(alarms={}, guards={}, watches={}, labels=None if labels is None else frozenset(labels))
    for pk, rule_id, alarm_state, changed_at, path in answer.get("a") or ():
        at = _datetime(changed_at)
        if alarm_state in Alarm.OPEN:
            state.alarms[rule_id] = _OpenAlarm(pk, at, path)
        if rule_id not in state.guards or at > state.guards[rule_id]:
            state.guards[rule_id] = at
    for rule_id, since, count, last_value in answer.get("w") or ():
        state.watches[rule_id] = _Watch(_datetime(since), count, last_value, stored=True)
    return state


def readings_guard(name: str, values: Sequence[PostValue]) -> AlsoRead | None:
    """``telemetry.hooks``' guard: may this watched post take the one-statement path (PostgreSQL)? Yes when
    no rule that may apply to the device is met by a value of the post or is "changed", and none of them
    has an alarm open or a duration pending on it. A met rule counts as not applying only when this process
    knows the device to be out of its scope (``RuleCache.scopes``: its id, site and labels as of its last
    judged post): the statement then checks that too. The statement checks all it assumed (functions of
    migration 0006, whose plans each connection keeps); if any is false it writes nothing (the guard trips)
    and the post takes the transaction and the judge. None: take the transaction at once."""
    scope = rule_cache.scopes.get(name)
    if scope is None:
        return None
    endpoint_id, site_id, labels = scope
    tests_by_key = rule_cache.rules().tests
    ids: set[int] = set()
    check_id = check_site = check_labels = False
    for value in values:
        rt = value.resource_type
        watching = tests_by_key.get((rt.object_id, rt.resource_id))
        if not watching:
            continue
        instance = Path.parse(value.path).object_instance_id
        for rule, met in watching:
            if rule.instance_id is not None and rule.instance_id != instance:
                continue
            if met is None:
                return None  # "changed": judged against the value before
            if not met(value.value):
                ids.add(rule.pk)  # not met: only its open alarm or pending duration could change
                continue
            # Met: fine only if the device is out of the rule's scope, as far as this process knows it.
            if rule.endpoint_id is not None:
                if rule.endpoint_id == endpoint_id:
                    return None
                check_id = True
            elif rule.site_id is not None and rule.site_id != site_id:
                check_site = True
            elif rule.labels and labels is not None and not set(rule.labels) <= labels:
                check_labels = True
            else:
                return None
    tests: list[str] = []
    params: list[Any] = []
    if ids:
        tests.append("fieldhub_alarm_pending((SELECT id FROM endpoint), %s::bigint[])")
        params.append(sorted(ids))
    if check_id:
        tests.append("(SELECT id FROM endpoint) <> %s")
        params.append(endpoint_id)
    if check_site:
        tests.append("(SELECT site_id FROM endpoint) IS DISTINCT FROM %s")
        params.append(site_id)
    if check_labels:
        tests.append("fieldhub_endpoint_labels((SELECT id FROM endpoint)) <> %s::text[]")  # both sorted
        params.append(sorted(labels or ()))
    if not tests:
        return AlsoRead(sql="SELECT 1", params=[], guard=True)
    return AlsoRead(sql=f"SELECT 1 / (CASE WHEN {' OR '.join(tests)} THEN 0 ELSE 1 END)", params=params, guard=True)


def readings_judge(
    name: str, endpoint_id: int, site_id: int | None, values: Sequence[PostValue], read: Any = None
) -> None:
    """``telemetry.hooks``' judge: called by the ingest inside its transaction with the post's values, and
    what the store's statement read for it (``state_sql``; None elsewhere than on PostgreSQL)."""
    rule_cache.scope_seen(name, (endpoint_id, site_id, None))  # its labels too below, when a rule names some
    rules = rule_cache.rules()
    if not rules.by_key:
        return
    per_rule: dict[int, tuple[AlarmRule, list[PostValue]]] = {}
    for value in values:
        rt = value.resource_type
        watching = rules.by_key.get((rt.object_id, rt.resource_id))
        if not watching:
            continue
        instance = Path.parse(value.path).object_instance_id
        for rule in watching:
            if rule.instance_id is None or rule.instance_id == instance:
                per_rule.setdefault(rule.pk, (rule, []))[1].append(value)
    if not per_rule:
        return
    # Scope in memory: device and site here; labels with the state read below (one query for all of it).
    applying = rules_for([rule for rule, _ in per_rule.values()], endpoint_id=endpoint_id, site_id=site_id, labels=ANY)
    if not applying:
        return
    oldest = min(v.measured_at for rule in applying for v in per_rule[rule.pk][1])
    watched_ids = [rule.pk for rule in applying if conditions.needs_watch(rule)]
    state = _state_from_json(read, [rule.pk for rule in applying]) if isinstance(read, dict) else None
    if state is None or (state.labels is None and any(rule.labels for rule in applying)):
        state = _state_read(endpoint_id, applying, watched_ids, oldest)
    applying = [r for r in applying if not r.labels or (state.labels is not None and set(r.labels) <= state.labels)]
    if state.labels is not None:
        rule_cache.scope_seen(name, (endpoint_id, site_id, state.labels))
    watches: dict[int, _Watch] = state.watches
    endpoint = _EndpointOnce(endpoint_id)
    for rule in applying:
        readings = sorted(per_rule[rule.pk][1], key=lambda v: v.measured_at)
        watch = watches.setdefault(rule.pk, _Watch()) if rule.pk in watched_ids else None
        alarm, guard = state.alarms.get(rule.pk), state.guards.get(rule.pk)
        if rule.kind == Kind.CHANGED:
            assert watch is not None
            _judge_changed(rule, readings, alarm, guard, watch, endpoint)
        else:
            _judge(rule, readings, alarm, guard, watch, endpoint)
    _save_watches(endpoint_id, watches)


@dataclass
class _OpenAlarm:
    """What the judging needs of an open alarm (the row is read and locked only to clear it)."""

    pk: int
    changed_at: dt.datetime
    path: str


@dataclass
class _State:
    alarms: dict[int, _OpenAlarm]  # by rule: the open ones
    guards: dict[int, dt.datetime]  # by rule: the newest change of its alarm, open or not
    watches: dict[int, _Watch]
    labels: frozenset[str] | None  # the device's, when a rule names labels


def _state_read(
    endpoint_id: int, rules: Sequence[AlarmRule], watched_ids: Sequence[int], oldest: dt.datetime
) -> _State:
    """The rules' open alarms on the device (and those changed after ``oldest``), their watches and the
    device's labels (only when a rule names some), in one hand-written query: this runs for every watched
    post, and the ORM's compiling of three querysets cost more than the database answering them."""
    q = connection.ops.quote_name
    ids = [rule.pk for rule in rules]
    adapt = connection.ops.adapt_datetimefield_value
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT 'a', {q('id')}, {q('rule_id')}, {q('state')}, {q('changed_at')}, {q('path')}, NULL, NULL "
        f"FROM {q(Alarm._meta.db_table)} WHERE {q('endpoint_id')} = %s AND {q('rule_id')} IN ({marks}) "
        f"AND ({q('state')} IN (%s, %s) OR {q('changed_at')} > %s)"
    )
    params: list[Any] = [endpoint_id, *ids, *Alarm.OPEN, adapt(oldest)]
    if watched_ids:
        marks = ", ".join(["%s"] * len(watched_ids))
        sql += (
            f" UNION ALL SELECT 'w', NULL, {q('rule_id')}, NULL, {q('since')}, NULL, {q('count')}, "
            f"CAST({q('last_value')} AS TEXT) FROM {q(AlarmWatch._meta.db_table)} "
            f"WHERE {q('endpoint_id')} = %s AND {q('rule_id')} IN ({marks})"
        )
        params += [endpoint_id, *watched_ids]
    wants_labels = any(rule.labels for rule in rules)
    if wants_labels:
        links, labels = q(EndpointLabel._meta.db_table), q(Label._meta.db_table)
        sql += (
            f" UNION ALL SELECT 'l', NULL, NULL, NULL, NULL, {labels}.{q('name')}, NULL, NULL FROM {links} "
            f"JOIN {labels} ON {labels}.{q('id')} = {links}.{q('label_id')} WHERE {links}.{q('endpoint_id')} = %s"
        )
        params.append(endpoint_id)
    state = _State(alarms={}, guards={}, watches={}, labels=frozenset() if wants_labels else None)
    names = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for kind, pk, rule_id, alarm_state, at, text, count, last_value in rows:
        if kind == "l":
            names.append(text)
            continue
        at = _datetime(at)
        if kind == "w":
            value = None if last_value is None else json.loads(last_value)
            state.watches[rule_id] = _Watch(at, count, value, stored=True)
            continue
        if alarm_state in Alarm.OPEN:
            state.alarms[rule_id] = _OpenAlarm(pk, at, text)
        if rule_id not in state.guards or at > state.guards[rule_id]:
            state.guards[rule_id] = at
    if wants_labels:
        state.labels = frozenset(names)
    return state


def _datetime(value: Any) -> dt.datetime:
    """A timestamp as the raw cursor gives it: a datetime (PostgreSQL) or its text (SQLite)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    parsed = parse_datetime(str(value))
    assert parsed is not None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


class _EndpointOnce:
    """The device's row, read when an alarm is raised (its receivers read its name), at most once."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self._row: Endpoint | None = None

    def get(self) -> Endpoint:
        if self._row is None:
            self._row = Endpoint.objects.get(pk=self.pk)
        return self._row


def _judge(
    rule: AlarmRule,
    readings: Sequence[PostValue],
    alarm: _OpenAlarm | Alarm | None,
    guard: dt.datetime | None,
    watch: _Watch | None,
    endpoint: _EndpointOnce,
) -> None:
    for reading in readings:
        at, value = reading.measured_at, reading.value
        if guard is not None and at < guard:
            continue  # older than the alarm's last change
        if alarm is not None:
            if reading.path != alarm.path and rule.instance_id is None and alarm.path:
                continue  # another instance: only the one that raised it clears it
            if conditions.clears(rule, value):
                locked = Alarm.objects.select_for_update().filter(pk=alarm.pk, state__in=Alarm.OPEN).first()
                if locked is not None:
                    locked.rule = rule
                    services.alarm_clear_by_condition(alarm=locked, at=at, value=conditions.jsonable(value))
                alarm, guard = None, at
            continue
        if not conditions.meets(rule, value):
            if watch is not None and watch.since is not None:
                watch.since, watch.count, watch.dirty = None, 0, True
            continue
        if watch is not None:
            if watch.since is None:
                watch.since, watch.count = at, 1
            else:
                watch.count += 1
            watch.dirty = True
            if not conditions.long_enough(rule, since=watch.since, count=watch.count, at=at):
                continue
            watch.since, watch.count = None, 0
        raised = services.alarm_raise(
            rule=rule,
            endpoint=endpoint.get(),
            at=at,
            value=conditions.jsonable(value),
            path=reading.path,
            message=conditions.describe(rule, value, reading.path),
        )
        if raised is None:  # one is open already (a concurrent post raised it): it is judged next time
            return
        alarm, guard = raised, at


def _judge_changed(
    rule: AlarmRule,
    readings: Sequence[PostValue],
    alarm: _OpenAlarm | None,
    guard: dt.datetime | None,
    watch: _Watch,
    endpoint: _EndpointOnce,
) -> None:
    """A "changed" rule: the value seen last is kept; a different one raises, unless one is open (it is
    cleared by hand)."""
    closed = alarm is None
    for reading in readings:
        if guard is not None and reading.measured_at < guard:
            continue  # older than the alarm's last change
        before, seen = watch.last_value, watch.since is not None
        now_json = conditions.jsonable(reading.value)
        watch.since, watch.last_value, watch.count, watch.dirty = reading.measured_at, now_json, 1, True
        if closed and seen and before != now_json:
            message = conditions.describe(rule, reading.value, reading.path)
            raised = services.alarm_raise(
                rule=rule,
                endpoint=endpoint.get(),
                at=reading.measured_at,
                value=now_json,
                path=reading.path,
                message=message,
            )
            closed = raised is None


def _save_watches(endpoint_id: int, watches: dict[int, _Watch]) -> None:
    gone = [pk for pk, w in watches.items() if w.dirty and w.since is None and w.stored]
    kept = [
        AlarmWatch(rule_id=pk, endpoint_id=endpoint_id, since=w.since, count=w.count, last_value=w.last_value)
        for pk, w in watches.items()
        if w.dirty and w.since is not None
    ]
    if gone:
        AlarmWatch.objects.filter(endpoint_id=endpoint_id, rule_id__in=gone).delete()
    if not kept:
        return
    # Upserted only for rules that still exist: a rule deleted in the last CHECK_SECONDS (another process's
    # cache still holds it) must not make the post fail on the foreign key.
    q = connection.ops.quote_name
    table, rules = q(AlarmWatch._meta.db_table), q(AlarmRule._meta.db_table)
    value = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for watch in kept:
            cursor.execute(
                f"INSERT INTO {table} ({q('rule_id')}, {q('endpoint_id')}, {q('since')}, {q('count')}, "
                f"{q('last_value')}) SELECT {q('id')}, %s, %s, %s, {value} FROM {rules} WHERE {q('id')} = %s "
                f"ON CONFLICT ({q('rule_id')}, {q('endpoint_id')}) DO UPDATE SET {q('since')} = excluded.{q('since')}, "
                f"{q('count')} = excluded.{q('count')}, {q('last_value')} = excluded.{q('last_value')}",
                [endpoint_id, adapt(watch.since), watch.count, json.dumps(watch.last_value), watch.rule_id],
            )
