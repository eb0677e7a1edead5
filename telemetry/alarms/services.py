"""Changing alarms: raised and cleared by their rules' conditions (``telemetry.alarms.evaluate``, in the
transaction of the readings judged; ``telemetry.alarms.fleet`` for the fleet kinds), acknowledged and
cleared by operators. Every change is one ``AlarmChange`` and one ``alarm_changed`` signal in the same
transaction (the notification outbox writes its rows there); the pages hear of it after commit.

And the rules (``telemetry.alarms.rules``, re-exported here): ``alarm_rule_create`` / ``alarm_rule_update``
/ ``alarm_rule_delete``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, FieldhubError
from core.models import Endpoint
from core.permissions import Principal, author_of, require_on
from core.roles import Role
from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule
from telemetry.alarms.rules import alarm_rule_create, alarm_rule_delete, alarm_rule_update
from telemetry.alarms.signals import alarm_changed

__all__ = [
    "alarm_acknowledge",
    "alarm_clear",
    "alarm_clear_by_condition",
    "alarm_raise",
    "alarm_rule_create",
    "alarm_rule_delete",
    "alarm_rule_update",
]

NOTE_MAX = 1000


def _record(
    alarm: Alarm, *, at: dt.datetime, value: Any = None, actor: Principal | None = None, note: str = ""
) -> None:
    change = AlarmChange.objects.create(
        alarm=alarm, state=alarm.state, at=at, value=value, user=author_of(actor), note=note
    )
    alarm_changed.send(sender=Alarm, alarm=alarm, change=change)


def alarm_raise(
    *, rule: AlarmRule, endpoint: Endpoint, at: dt.datetime, value: Any = None, path: str = "", message: str = ""
) -> Alarm | None:
    """Raise ``rule``'s alarm on ``endpoint`` (its condition became true at device time ``at``), unless
    one is open already (then None: one open alarm per rule and device, also against a concurrent raise,
    which the partial unique index refuses), or when the rule is gone or disabled since the caller's rule
    cache read it. Call inside a transaction."""
    if Alarm.objects.filter(rule=rule, endpoint=endpoint, state__in=Alarm.OPEN).exists():
        return None
    if not AlarmRule.objects.filter(pk=rule.pk, enabled=True).exists():
        return None
    try:
        with transaction.atomic():  # a savepoint: a concurrent raise that won leaves this transaction usable
            alarm = Alarm.objects.create(
                rule=rule,
                endpoint=endpoint,
                severity=rule.severity,
                path=path,
                message=message[:255],
                raised_at=at,
                raised_value=value,
                changed_at=at,
            )
    except IntegrityError:
        return None
    _record(alarm, at=at, value=value)
    return alarm


def alarm_clear_by_condition(*, alarm: Alarm, at: dt.datetime, value: Any = None) -> Alarm:
    """The condition of an open alarm is gone (at device time ``at``). Call inside a transaction, with the
    alarm's row read ``select_for_update``."""
    alarm.state = Alarm.State.CLEARED
    alarm.cleared_at = at
    alarm.cleared_value = value
    alarm.changed_at = at
    alarm.save(update_fields=["state", "cleared_at", "cleared_value", "changed_at"])
    _record(alarm, at=at, value=value)
    return alarm


def _locked(actor: Principal, alarm: Alarm, what: str) -> Alarm:
    require_on(actor, Role.OPERATOR, alarm.endpoint.site_id, what=what)
    return Alarm.objects.select_for_update().select_related("endpoint", "rule").get(pk=alarm.pk)


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise FieldhubError(f"a note holds at most {NOTE_MAX} characters", path="note")
    return note


@transaction.atomic
def alarm_acknowledge(*, actor: Principal, alarm: Alarm, note: str = "") -> Alarm:
    """An operator (of the device's site) has seen an active alarm: 409 unless it is ACTIVE."""
    note = _note(note)
    alarm = _locked(actor, alarm, "acknowledging this alarm")
    if alarm.state != Alarm.State.ACTIVE:
        raise Conflict(f"the alarm is {alarm.state}, not active", path="state")
    now = timezone.now()
    alarm.state = Alarm.State.ACKNOWLEDGED
    alarm.acknowledged_at = now
    alarm.acknowledged_by = author_of(actor)
    alarm.note = note
    alarm.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "note"])
    _record(alarm, at=now, actor=actor, note=note)
    return alarm


@transaction.atomic
def alarm_clear(*, actor: Principal, alarm: Alarm, note: str = "") -> Alarm:
    """An operator (of the device's site) clears an open alarm by hand: 409 when it is cleared already.
    Its condition may raise a new one with the next reading that meets it."""
    note = _note(note)
    alarm = _locked(actor, alarm, "clearing this alarm")
    if alarm.state == Alarm.State.CLEARED:
        raise Conflict("the alarm is cleared already", path="state")
    now = timezone.now()
    alarm.state = Alarm.State.CLEARED
    alarm.cleared_at = now
    alarm.cleared_by = author_of(actor)
    if note:
        alarm.note = note
    alarm.save(update_fields=["state", "cleared_at", "cleared_by", "note"])
    _record(alarm, at=now, actor=actor, note=note)
    return alarm
