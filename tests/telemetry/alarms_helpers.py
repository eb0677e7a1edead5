"""Posting readings and making rules in the alarm tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.permissions import SYSTEM
from telemetry.alarms import services
from telemetry.alarms.models import Alarm, AlarmRule
from telemetry.ingest import ingest

EP = "urn:dev:alarm-01"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
TYPES = {float: DataType.FLOAT, int: DataType.INTEGER, str: DataType.STRING, bool: DataType.BOOLEAN}


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def reading(path: str, value: Any, at: dt.datetime | None = None) -> Reading:
    return Reading(Path.parse(path), TYPES[type(value)], value, timestamp_ms=None if at is None else ms(at))


def send(*readings: Reading, ep: str = EP, received_at: dt.datetime | None = None) -> None:
    ingest(endpoint_name=ep, readings=list(readings), received_at=received_at)


def temp(value: float, seconds: float = 0, *, ep: str = EP, instance: int = 0) -> None:
    """One temperature reading of ``ep``, measured ``seconds`` after T0."""
    send(reading(f"/3303/{instance}/5700", float(value), T0 + dt.timedelta(seconds=seconds)), ep=ep)


def rule(actor: Any = SYSTEM, **fields: Any) -> AlarmRule:
    fields.setdefault("name", "hot")
    fields.setdefault("kind", "above")
    if fields["kind"] in ("above", "below", "outside", "equal", "changed"):
        fields.setdefault("path", "/3303/*/5700")
    if fields["kind"] in ("above", "below", "outside"):
        fields.setdefault("threshold", 30.0)
    return services.alarm_rule_create(actor=actor, **fields)


def states(ep: str = EP) -> list[str]:
    """Every alarm of the device, oldest first: its state."""
    return list(Alarm.objects.filter(endpoint__name=ep).order_by("id").values_list("state", flat=True))


def open_alarm(ep: str = EP) -> Alarm | None:
    return Alarm.objects.filter(endpoint__name=ep, state__in=Alarm.OPEN).first()
