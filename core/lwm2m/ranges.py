"""What an object definition allows a resource to hold (its RangeEnumeration), for checking writes.

The OMA definitions write ranges loosely: ``0..100`` (a number), ``0..255 bytes`` or ``1..64 Bytes`` (the
length of a string), ``1: normal`` / ``2: remote`` lines (an enumeration), or prose. What cannot be read
as one of these limits nothing; a string whose definition sets no length is held to
``STRING_WRITE_MAX_BYTES``, the size devices keep such strings in (the Package URI's own limit), so that a
300-character time zone is refused here instead of being cut or refused by the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.lwm2m.types import NUMERIC_TYPES, DataType, Value

STRING_WRITE_MAX_BYTES = 255

_RANGE_RE = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\.\.\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(bytes?)?\s*", re.IGNORECASE)
_CHOICE_RE = re.compile(r"\s*(-?[0-9]+)\s*[:=]")


@dataclass(frozen=True)
class Limit:
    """Bounds of a number, of a string's length in UTF-8 bytes, or the values of an enumeration."""

    low: float | None = None
    high: float | None = None
    choices: frozenset[int] | None = None
    length: bool = False

    def problem(self, value: Value) -> str | None:
        """Why ``value`` is outside the limit, or None."""
        if self.length and isinstance(value, str):
            size = len(value.encode())
            if self.high is not None and size > self.high:
                return f"is {size} bytes long; at most {self.high:g} fit"
            if self.low is not None and size < self.low:
                return f"is {size} bytes long; at least {self.low:g} are needed"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if self.choices is not None and value not in self.choices:
            return f"is {value}; the allowed values are {', '.join(str(c) for c in sorted(self.choices))}"
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"is {value}; the allowed range is {self.low:g} to {self.high:g}"
        return None


def limit_of(data_type: DataType, range_enumeration: str) -> Limit | None:
    """The limit an object definition's RangeEnumeration sets on values of ``data_type``, if it sets one."""
    text = (range_enumeration or "").strip()
    if data_type in (DataType.STRING, DataType.CORELINK):
        match = _RANGE_RE.fullmatch(text)
        if match and "." not in match[1] + match[2]:
            return Limit(low=float(match[1]), high=float(match[2]), length=True)
        return Limit(high=STRING_WRITE_MAX_BYTES, length=True)
    if data_type not in NUMERIC_TYPES or data_type == DataType.TIME or not text:
        return None
    match = _RANGE_RE.fullmatch(text)
    if match and not match[3]:
        return Limit(low=float(match[1]), high=float(match[2]))
    lines = [line for line in text.splitlines() if line.strip()]
    choices = [_CHOICE_RE.match(line) for line in lines]
    if lines and all(choices):
        return Limit(choices=frozenset(int(choice[1]) for choice in choices if choice))
    return None
