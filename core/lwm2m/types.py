"""LwM2M data types and their values: parsing what Leshan sends, and the one place that maps them to columns.

Pure Python, no Django: the ingest, the downlink queue, the simulator and the tests share it.

Value encodings follow Leshan's node JSON (../shared/reference/leshan-rest-contract.md §1.5 and §5):
INTEGER, UNSIGNED_INTEGER and FLOAT arrive as strings (or JSON numbers), TIME as epoch milliseconds,
OPAQUE as a hex string, BOOLEAN as a JSON boolean, OBJLNK as ``{"objectId":..,"objectInstanceId":..}``
or ``"3:0"``, CORELINK as a CoRE link-format string.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
# Largest integer a double holds exactly: INTEGER values beyond it are not silently rounded into a FLOAT.
FLOAT_EXACT_INT = 2**53
ID_MAX = 65535

_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_UNSIGNED_RE = re.compile(r"\+?[0-9]+")
# Decimal and Java ``Double.toString`` notation (``1.0E10``); no NaN, Infinity, hex or underscores.
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*")
_OBJLNK_RE = re.compile(r"([0-9]+):([0-9]+)")
# Longest text value accepted (STRING, CORELINK): a guard against a bridge forwarding garbage.
STRING_MAX_CHARS = 65536


class DataType(enum.StrEnum):
    STRING = "STRING"
    INTEGER = "INTEGER"
    UNSIGNED_INTEGER = "UNSIGNED_INTEGER"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    OPAQUE = "OPAQUE"
    TIME = "TIME"
    OBJLNK = "OBJLNK"
    CORELINK = "CORELINK"
    NONE = "NONE"

    @classmethod
    def parse(cls, raw: object) -> DataType:
        """A type name as Leshan writes it (case-insensitive, ``UNSIGNED_INTEGER`` with underscore)."""
        if not isinstance(raw, str):
            raise ValueError(f"type must be a string, not {_describe(raw)}")
        try:
            return cls(raw.strip().upper())
        except ValueError:
            raise ValueError(f'unknown type "{_clip(raw)}"') from None

    @classmethod
    def from_ddf(cls, raw: str | None) -> DataType:
        """A type as the OMA DDF files write it (``Unsigned Integer``, ``Corelnk``, empty for executables)."""
        text = (raw or "").strip().upper().replace(" ", "_")
        if not text:
            return cls.NONE
        return cls({"CORELNK": "CORELINK"}.get(text, text))

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC_TYPES


NUMERIC_TYPES = frozenset({DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.FLOAT, DataType.TIME})


@dataclass(frozen=True, slots=True)
class ObjectLink:
    object_id: int
    object_instance_id: int

    def __str__(self) -> str:
        return f"{self.object_id}:{self.object_instance_id}"

    @classmethod
    def parse(cls, text: str) -> ObjectLink:
        match = _OBJLNK_RE.fullmatch(text)
        if not match:
            raise ValueError(f'OBJLNK value "{_clip(text)}" is not "objectId:instanceId"')
        return cls._checked(int(match[1]), int(match[2]))

    @classmethod
    def _checked(cls, object_id: int, instance_id: int) -> ObjectLink:
        if not (0 <= object_id <= ID_MAX and 0 <= instance_id <= ID_MAX):
            raise ValueError(f"OBJLNK ids {object_id}:{instance_id} are outside 0..{ID_MAX}")
        return cls(object_id, instance_id)


Value = str | int | float | bool | bytes | ObjectLink | None


def parse_value(data_type: DataType, raw: Any) -> Value:
    """Turn a node's JSON ``value`` into the Python value of ``data_type``; ValueError names the problem."""
    parser = _PARSERS[data_type]
    return parser(raw)


def check_text(text: str, what: str) -> str:
    """Text that every database can store: no NUL character, no lone UTF-16 surrogate."""
    if "\x00" in text:
        raise ValueError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (lone surrogate)") from None
    return text


def _text_value(raw: Any, type_name: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"{type_name} value must be a JSON string, not {_describe(raw)}")
    if len(raw) > STRING_MAX_CHARS:
        raise ValueError(f"{type_name} value is longer than {STRING_MAX_CHARS} characters")
    return check_text(raw, f"{type_name} value")


def _parse_string(raw: Any) -> str:
    return _text_value(raw, "STRING")


def _parse_corelink(raw: Any) -> str:
    return _text_value(raw, "CORELINK")


def _integral(raw: Any, type_name: str, pattern: re.Pattern[str]) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{type_name} value must be a number or a string, not a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer() and math.isfinite(raw) and abs(raw) <= FLOAT_EXACT_INT:
            return int(raw)
        raise ValueError(f"{type_name} value {_clip(repr(raw))} is not an integer")
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) <= 25 and pattern.fullmatch(text):
            return int(text)
        raise ValueError(f'{type_name} value "{_clip(raw)}" is not an integer')
    raise ValueError(f"{type_name} value must be a number or a string, not {_describe(raw)}")


def _parse_integer(raw: Any) -> int:
    value = _integral(raw, "INTEGER", _INTEGER_RE)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"INTEGER value {value} is outside the 64-bit signed range")
    return value


def _parse_unsigned(raw: Any) -> int:
    value = _integral(raw, "UNSIGNED_INTEGER", _UNSIGNED_RE)
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"UNSIGNED_INTEGER value {value} is outside 0..{UINT64_MAX}")
    return value


def _parse_time(raw: Any) -> int:
    value = _integral(raw, "TIME", _INTEGER_RE)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"TIME value {value} is outside the 64-bit range of epoch milliseconds")
    return value


def _parse_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("FLOAT value must be a number or a string, not a boolean")
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise ValueError("FLOAT value is too large for a 64-bit float") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if len(text) > 64 or not _FLOAT_RE.fullmatch(text):
            raise ValueError(f'FLOAT value "{_clip(raw)}" is not a number')
        value = float(text)
    else:
        raise ValueError(f"FLOAT value must be a number or a string, not {_describe(raw)}")
    if not math.isfinite(value):
        raise ValueError(f"FLOAT value {_clip(str(raw))} is not a finite 64-bit float")
    return value


def _parse_boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"BOOLEAN value must be true or false, not {_describe(raw)}")
    return raw


def _parse_opaque(raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise ValueError(f"OPAQUE value must be a hex string, not {_describe(raw)}")
    if not _HEX_RE.fullmatch(raw):
        raise ValueError(f'OPAQUE value "{_clip(raw)}" is not an even-length hex string')
    return bytes.fromhex(raw)


def _parse_objlnk(raw: Any) -> ObjectLink:
    if isinstance(raw, str):
        return ObjectLink.parse(raw.strip())
    if isinstance(raw, dict):
        object_id = raw.get("objectId")
        instance_id = raw.get("objectInstanceId")
        if type(object_id) is not int or type(instance_id) is not int:
            raise ValueError("OBJLNK value needs integer objectId and objectInstanceId")
        return ObjectLink._checked(object_id, instance_id)
    raise ValueError(f"OBJLNK value must be an object or a string, not {_describe(raw)}")


def _parse_none(raw: Any) -> None:
    return None


_PARSERS: dict[DataType, Callable[[Any], Value]] = {
    DataType.STRING: _parse_string,
    DataType.INTEGER: _parse_integer,
    DataType.UNSIGNED_INTEGER: _parse_unsigned,
    DataType.FLOAT: _parse_float,
    DataType.BOOLEAN: _parse_boolean,
    DataType.OPAQUE: _parse_opaque,
    DataType.TIME: _parse_time,
    DataType.OBJLNK: _parse_objlnk,
    DataType.CORELINK: _parse_corelink,
    DataType.NONE: _parse_none,
}


def coerce(value: Value, *, from_type: DataType, to_type: DataType) -> Value:
    """Convert a parsed value to the registered type of its resource, only where nothing is lost.

    Leshan encodes a value with its own copy of the object model, so a mismatch means the models differ
    (an older DDF, or a type first registered from another payload). Integers move between INTEGER,
    UNSIGNED_INTEGER, TIME and FLOAT when they fit; every other mismatch is a conflict.
    """
    if from_type == to_type:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and from_type in _INTEGRAL:
        if to_type in (DataType.INTEGER, DataType.TIME) and INT64_MIN <= value <= INT64_MAX:
            return value
        if to_type == DataType.UNSIGNED_INTEGER and 0 <= value <= UINT64_MAX:
            return value
        if to_type == DataType.FLOAT and abs(value) <= FLOAT_EXACT_INT:
            return float(value)
    raise ValueError(f"{from_type} value conflicts with the registered type {to_type}")


_INTEGRAL = frozenset({DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.TIME})


# --- storage: the one place that knows which column holds which type --------------------------------

VALUE_COLUMNS = ("value_int", "value_float", "value_bool", "value_str", "value_bytes")


def to_columns(data_type: DataType, value: Value) -> dict[str, Any]:
    """The column values of a Resource row for ``value``.

    UNSIGNED_INTEGER shares the 64-bit ``value_int`` column: values above 2**63-1 are stored as their
    two's-complement bit pattern (negative), and ``from_columns`` adds 2**64 back, so every value
    round-trips exactly on SQLite and PostgreSQL alike. TIME is epoch milliseconds in ``value_int``.
    """
    if value is None or data_type == DataType.NONE:
        return {}
    if data_type in (DataType.INTEGER, DataType.TIME):
        return {"value_int": value}
    if data_type == DataType.UNSIGNED_INTEGER:
        assert isinstance(value, int)
        return {"value_int": value - 2**64 if value > INT64_MAX else value}
    if data_type == DataType.FLOAT:
        return {"value_float": value}
    if data_type == DataType.BOOLEAN:
        return {"value_bool": value}
    if data_type == DataType.OPAQUE:
        return {"value_bytes": value}
    return {"value_str": str(value)}  # STRING, CORELINK, OBJLNK ("3:0")


def from_columns(data_type: DataType, columns: dict[str, Any]) -> Value:
    """The inverse of ``to_columns``: ``columns`` maps column names to what the database returned."""
    if data_type in (DataType.INTEGER, DataType.TIME):
        return columns.get("value_int")
    if data_type == DataType.UNSIGNED_INTEGER:
        raw = columns.get("value_int")
        return None if raw is None else (raw + 2**64 if raw < 0 else raw)
    if data_type == DataType.FLOAT:
        return columns.get("value_float")
    if data_type == DataType.BOOLEAN:
        return columns.get("value_bool")
    if data_type == DataType.OPAQUE:
        raw = columns.get("value_bytes")
        return None if raw is None else bytes(raw)
    if data_type == DataType.OBJLNK:
        raw = columns.get("value_str")
        return None if raw is None else ObjectLink.parse(raw)
    if data_type == DataType.NONE:
        return None
    return columns.get("value_str")


def to_json(data_type: DataType, value: Value) -> Any:
    """A value in Leshan's node JSON encoding (what a write to Leshan sends, and what our API returns)."""
    if value is None:
        return None
    if data_type in (DataType.INTEGER, DataType.UNSIGNED_INTEGER):
        return str(value)
    if data_type == DataType.FLOAT:
        assert isinstance(value, int | float)
        return repr(float(value))
    if data_type == DataType.OPAQUE:
        assert isinstance(value, bytes)
        return value.hex()
    if data_type == DataType.OBJLNK:
        assert isinstance(value, ObjectLink)
        return {"objectId": value.object_id, "objectInstanceId": value.object_instance_id}
    return value  # STRING, CORELINK, BOOLEAN, TIME (epoch ms as a number)


def to_api(data_type: DataType, value: Value) -> str | int | float | bool | None:
    """A value as Fieldhub's own APIs and exports show it: numbers as JSON numbers (INTEGER and
    UNSIGNED_INTEGER exact, TIME in epoch ms), OPAQUE as hex, OBJLNK as ``"3:0"``, text as text."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, ObjectLink):
        return str(value)
    return value


def _describe(raw: object) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    return type(raw).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
