"""The fleet kinds of rules, judged away from the readings:

- ``alarms_sweep`` (a periodic task of every dispatcher's sweep, and so of ``make run``): no data
  (``last_seen_at`` older than the rule's duration) and offline (not online, and not heard from for the
  duration: offline or unregistered that long). Raised at the sweep's ``now``; cleared when the device is
  heard from again (no data) or online again (offline). Several dispatchers may sweep at once: a raise is
  refused by the partial unique index "one open per rule and device" (``services.alarm_raise``), and the
  alarms a sweep clears are locked ``select_for_update(skip_locked=True)``, so that two sweeps never raise
  or clear the same alarm twice.
- ``firmware_update_finished`` (``telemetry.hooks``, from the firmware app): a failed update raises the
  firmware_failed rules' alarm on its device; an update that succeeds clears it.
- ``operations_changed`` (``telemetry.hooks``' operation listener): a command that failed raises the
  command_failed rules' alarm on its device; a later command confirmed clears it.

Each reads nothing when no enabled rule of its kind exists (``cache.rule_cache``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.models import Endpoint
from telemetry.alarms import services
from telemetry.alarms.cache import rule_cache
from telemetry.alarms.evaluate import rules_for
from telemetry.alarms.models import Alarm, AlarmRule
from telemetry.models import EndpointOperation

Kind = AlarmRule.Kind
RAISES_PER_SWEEP = 1000  # per rule: a fleet gone quiet at once is raised over a few sweeps


def _scoped(rule: AlarmRule, endpoints: QuerySet[Endpoint]) -> QuerySet[Endpoint]:
    if rule.endpoint_id is not None:
        return endpoints.filter(pk=rule.endpoint_id)
    if rule.site_id is not None:
        endpoints = endpoints.filter(site_id=rule.site_id)
    for label in rule.labels:
        endpoints = endpoints.filter(labels__name=label)
    return endpoints


def _silent(rule: AlarmRule, limit: dt.datetime) -> Q:
    quiet = Q(last_seen_at__lt=limit) | Q(last_seen_at__isnull=True, created_at__lt=limit)
    return quiet & Q(online=False) if rule.kind == Kind.OFFLINE else quiet


def alarms_sweep(*, now: dt.datetime | None = None) -> int:
    """Raise and clear the no_data and offline rules' alarms as of ``now``; how many alarms changed."""
    rules = rule_cache.rules()
    swept = rules.of_kind(Kind.NO_DATA) + rules.of_kind(Kind.OFFLINE)
    if not swept:
        return 0
    now = now or timezone.now()
    changed = 0
    for rule in swept:
        limit = now - dt.timedelta(seconds=rule.duration_seconds)
        with transaction.atomic():
            back: dict[str, object] = (
                {"endpoint__online": True} if rule.kind == Kind.OFFLINE else {"endpoint__last_seen_at__gte": limit}
            )
            recovered = (
                Alarm.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("endpoint")
                .filter(rule=rule, state__in=Alarm.OPEN)
                .filter(**back)
                .order_by("pk")
            )
            for alarm in recovered:
                alarm.rule = rule
                seen = alarm.endpoint.last_seen_at
                services.alarm_clear_by_condition(alarm=alarm, at=now, value=seen.isoformat() if seen else None)
                changed += 1
        with transaction.atomic():
            open_ids = Alarm.objects.filter(rule=rule, state__in=Alarm.OPEN).values("endpoint_id")
            quiet = _scoped(rule, Endpoint.objects.filter(_silent(rule, limit))).exclude(pk__in=open_ids)
            for endpoint in quiet.order_by("pk")[:RAISES_PER_SWEEP]:
                seen = endpoint.last_seen_at
                what = "no data" if rule.kind == Kind.NO_DATA else "offline"
                since = f"since {seen:%Y-%m-%d %H:%M:%S} UTC" if seen else "never heard from"
                minutes = rule.duration_seconds // 60
                raised = services.alarm_raise(
                    rule=rule,
                    endpoint=endpoint,
                    at=now,
                    value=seen.isoformat() if seen else None,
                    message=f"{what} for over {minutes} min ({since})" if minutes else f"{what} ({since})",
                )
                changed += raised is not None
    return changed


def _device_rules(kind: str, endpoint: Endpoint) -> list[AlarmRule]:
    return rules_for(rule_cache.rules().of_kind(kind), endpoint_id=endpoint.pk, site_id=endpoint.site_id)


def _raise_or_clear(kind: str, endpoint: Endpoint, *, failed: bool, path: str, value: str, message: str) -> None:
    rules = _device_rules(kind, endpoint)
    if not rules:
        return
    now = timezone.now()
    if failed:
        for rule in rules:
            services.alarm_raise(rule=rule, endpoint=endpoint, at=now, value=value, path=path, message=message)
        return
    opened = Alarm.objects.select_for_update().filter(
        endpoint=endpoint, rule_id__in=[rule.pk for rule in rules], state__in=Alarm.OPEN
    )
    by_id = {rule.pk: rule for rule in rules}
    for alarm in opened:
        alarm.rule, alarm.endpoint = by_id[alarm.rule_id], endpoint
        services.alarm_clear_by_condition(alarm=alarm, at=now, value=value)


def firmware_update_finished(endpoint_id: int, failed: bool, detail: str) -> None:
    """``telemetry.hooks``' firmware outcome listener, inside the firmware app's transaction."""
    if not rule_cache.rules().of_kind(Kind.FIRMWARE_FAILED):
        return
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    message = f"firmware update failed: {detail}" if detail else "firmware update failed"
    _raise_or_clear(Kind.FIRMWARE_FAILED, endpoint, failed=failed, path="/5/0/5", value=detail[:255], message=message)


def operations_changed(operation_ids: Sequence[int], finished: bool) -> None:
    """``telemetry.hooks``' operation listener, inside the queue's transaction."""
    if not finished or not rule_cache.rules().of_kind(Kind.COMMAND_FAILED):
        return
    Status = EndpointOperation.Status
    operations = EndpointOperation.objects.filter(
        pk__in=list(operation_ids), status__in=[Status.FAILED, Status.CONFIRMED]
    ).select_related("endpoint")
    for operation in operations.order_by("pk"):
        failed = operation.status == Status.FAILED
        what = f"{operation.kind.lower()} {operation.path}"
        _raise_or_clear(
            Kind.COMMAND_FAILED,
            operation.endpoint,
            failed=failed,
            path=operation.path[:32],
            value=(operation.last_error or "")[:255] if failed else operation.status,
            message=f"{what} failed: {operation.last_error}" if failed else "",
        )
