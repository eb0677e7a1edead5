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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from core.lwm2m.nodes import Path
from core.models import Endpoint, EndpointLabel
from telemetry.alarms import conditions, services
from telemetry.alarms.cache import Key, rule_cache
from telemetry.alarms.models import Alarm, AlarmRule, AlarmWatch
from telemetry.ingest.rows import PostValue

Kind = AlarmRule.Kind


def watched(keys: Iterable[Key]) -> bool:
    """Does any enabled rule watch one of these (object id, resource id)? In memory."""
    return rule_cache.rules().watches(keys)


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
        if rule.labels:
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


def readings_judge(endpoint_id: int, site_id: int | None, values: Sequence[PostValue]) -> None:
    """``telemetry.hooks``' judge: called by the ingest inside its transaction with the post's values."""
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
    applying = rules_for([rule for rule, _ in per_rule.values()], endpoint_id=endpoint_id, site_id=site_id)
    if not applying:
        return
    ids = [rule.pk for rule in applying]
    oldest = min(v.measured_at for rule in applying for v in per_rule[rule.pk][1])
    alarms: dict[int, Alarm] = {}  # open ones
    guards: dict[int, dt.datetime] = {}  # the newest change of each rule's alarm, open or not
    found = Alarm.objects.filter(endpoint_id=endpoint_id, rule_id__in=ids).filter(
        Q(state__in=Alarm.OPEN) | Q(changed_at__gt=oldest)
    )
    for alarm in found:
        if alarm.state in Alarm.OPEN:
            alarms[alarm.rule_id] = alarm
        if alarm.rule_id not in guards or alarm.changed_at > guards[alarm.rule_id]:
            guards[alarm.rule_id] = alarm.changed_at
    watched_ids = [rule.pk for rule in applying if conditions.needs_watch(rule)]
    watches: dict[int, _Watch] = {}
    if watched_ids:
        for row in AlarmWatch.objects.filter(endpoint_id=endpoint_id, rule_id__in=watched_ids):
            watches[row.rule_id] = _Watch(row.since, row.count, row.last_value, stored=True)
    endpoint = _EndpointOnce(endpoint_id)
    for rule in applying:
        readings = sorted(per_rule[rule.pk][1], key=lambda v: v.measured_at)
        watch = watches.setdefault(rule.pk, _Watch()) if rule.pk in watched_ids else None
        _judge(rule, readings, alarms.get(rule.pk), guards.get(rule.pk), watch, endpoint)
    _save_watches(endpoint_id, watches)


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
    alarm: Alarm | None,
    guard: dt.datetime | None,
    watch: _Watch | None,
    endpoint: _EndpointOnce,
) -> None:
    for reading in readings:
        at, value = reading.measured_at, reading.value
        if guard is not None and at < guard:
            continue  # older than the alarm's last change
        if rule.kind == Kind.CHANGED:
            assert watch is not None
            before, seen = watch.last_value, watch.since is not None
            now_json = conditions.jsonable(value)
            watch.since, watch.last_value, watch.count, watch.dirty = at, now_json, 1, True
            if alarm is None and seen and before != now_json:
                alarm = services.alarm_raise(
                    rule=rule,
                    endpoint=endpoint.get(),
                    at=at,
                    value=now_json,
                    path=reading.path,
                    message=conditions.describe(rule, value, reading.path),
                )
                if alarm is not None:
                    guard = at
            continue
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


def _save_watches(endpoint_id: int, watches: dict[int, _Watch]) -> None:
    gone = [pk for pk, w in watches.items() if w.dirty and w.since is None and w.stored]
    kept = [
        AlarmWatch(rule_id=pk, endpoint_id=endpoint_id, since=w.since, count=w.count, last_value=w.last_value)
        for pk, w in watches.items()
        if w.dirty and w.since is not None
    ]
    if gone:
        AlarmWatch.objects.filter(endpoint_id=endpoint_id, rule_id__in=gone).delete()
    if kept:
        AlarmWatch.objects.bulk_create(
            kept,
            update_conflicts=True,
            unique_fields=["rule", "endpoint"],
            update_fields=["since", "count", "last_value"],
        )
