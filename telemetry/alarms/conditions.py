"""What a rule's condition says of one value: pure functions (no query), shared by the rule checks, the
evaluation on ingest and the tests.

Thresholds, with hysteresis (``clear_threshold``; None: the threshold itself):

- above: raised when ``value > threshold``, cleared when ``value <= clear_threshold``;
- below (and battery): raised when ``value < threshold``, cleared when ``value >= clear_threshold``;
- outside: raised when ``value < threshold`` or ``value > threshold_high``, cleared when back inside
  ``[clear_threshold, clear_threshold_high]``;
- equal: raised when ``value == rule.value``, cleared when it differs;
- changed: raised when a value differs from the one before; cleared by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from telemetry.alarms.models import AlarmRule

Kind = AlarmRule.Kind

THRESHOLD_KINDS = frozenset({Kind.ABOVE, Kind.BELOW, Kind.OUTSIDE, Kind.BATTERY})
RESOURCE_KINDS = frozenset({Kind.ABOVE, Kind.BELOW, Kind.OUTSIDE, Kind.EQUAL, Kind.CHANGED, Kind.BATTERY})
SWEPT_KINDS = frozenset({Kind.NO_DATA, Kind.OFFLINE})
# Battery: the Device object's 3/0/9 Battery Level, in percent.
BATTERY = (3, 9)
BATTERY_PATH = "/3/0/9"


def number(value: Any) -> float | None:
    """The value as a number for a threshold, None when it is none (a bool, a string, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def meets(rule: AlarmRule, value: Any) -> bool:
    """Whether ``value`` raises ``rule`` (the kinds judged one value at a time: not changed)."""
    if rule.kind == Kind.EQUAL:
        return _equal(value, rule.value)
    x = number(value)
    if x is None:
        return False
    if rule.kind == Kind.ABOVE:
        return x > _f(rule.threshold)
    if rule.kind in (Kind.BELOW, Kind.BATTERY):
        return x < _f(rule.threshold)
    if rule.kind == Kind.OUTSIDE:
        return x < _f(rule.threshold) or x > _f(rule.threshold_high)
    return False


def compiled(rule: AlarmRule) -> Callable[[Any], bool] | None:
    """``meets`` for this rule as a function of the value alone (the ingest's guard calls it for every
    watched value); None for "changed", which no value meets by itself."""
    kind, low, high, expected = rule.kind, _f(rule.threshold), _f(rule.threshold_high), rule.value
    numbers = (int, float)
    if kind == Kind.CHANGED:
        return None
    if kind == Kind.EQUAL:
        return lambda value: _equal(value, expected)
    if kind == Kind.ABOVE:
        return lambda value: type(value) in numbers and value > low
    if kind in (Kind.BELOW, Kind.BATTERY):
        return lambda value: type(value) in numbers and value < low
    if kind == Kind.OUTSIDE:
        return lambda value: type(value) in numbers and (value < low or value > high)
    return lambda value: False


def clears(rule: AlarmRule, value: Any) -> bool:
    """Whether ``value`` clears ``rule``'s open alarm (past the hysteresis threshold). Changed: never."""
    if rule.kind == Kind.EQUAL:
        return not _equal(value, rule.value)
    if rule.kind == Kind.CHANGED:
        return False
    x = number(value)
    if x is None:
        return False
    low = rule.threshold if rule.clear_threshold is None else rule.clear_threshold
    if rule.kind == Kind.ABOVE:
        return x <= _f(low)
    if rule.kind in (Kind.BELOW, Kind.BATTERY):
        return x >= _f(low)
    if rule.kind == Kind.OUTSIDE:
        high = rule.threshold_high if rule.clear_threshold_high is None else rule.clear_threshold_high
        return _f(low) <= x <= _f(high)
    return False


def _f(threshold: float | None) -> float:
    return math.nan if threshold is None else threshold  # every comparison with NaN is false


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    return bool(value == expected)


def needs_watch(rule: AlarmRule) -> bool:
    """Whether the rule keeps state between readings (a duration, a count, or the value before)."""
    return rule.kind == Kind.CHANGED or rule.duration_seconds > 0 or rule.readings > 1


def long_enough(rule: AlarmRule, *, since: dt.datetime, count: int, at: dt.datetime) -> bool:
    """A condition true since ``since`` for ``count`` readings in a row, the latest at ``at``: due?"""
    return (at - since).total_seconds() >= rule.duration_seconds and count >= rule.readings


def jsonable(value: Any) -> Any:
    """A reading's value as the JSON columns hold it (opaque bytes as hex)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, int | float | bool | str) or value is None:
        return value
    return str(value)


def describe(rule: AlarmRule, value: Any, path: str) -> str:
    """The alarm's message: what was seen, against what."""
    shown = jsonable(value)
    if rule.kind == Kind.ABOVE:
        return f"{path} = {shown}, above {rule.threshold:g}"
    if rule.kind in (Kind.BELOW, Kind.BATTERY):
        unit = " %" if rule.kind == Kind.BATTERY else ""
        return f"{path} = {shown}{unit}, below {rule.threshold:g}{unit}"
    if rule.kind == Kind.OUTSIDE:
        return f"{path} = {shown}, outside {rule.threshold:g} .. {rule.threshold_high:g}"
    if rule.kind == Kind.EQUAL:
        return f"{path} = {shown}"
    return f"{path} changed to {shown}"
