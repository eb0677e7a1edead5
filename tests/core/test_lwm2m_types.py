"""Parsing LwM2M values as Leshan encodes them, and storing them in columns without loss."""

import math
import re

import pytest

from core.lwm2m.types import (
    INT64_MAX,
    INT64_MIN,
    UINT64_MAX,
    DataType,
    ObjectLink,
    coerce,
    from_columns,
    parse_value,
    to_columns,
    to_json,
)


@pytest.mark.parametrize(
    ("data_type", "raw", "expected"),
    [
        (DataType.STRING, "Acme", "Acme"),
        (DataType.STRING, "", ""),
        (DataType.INTEGER, "-5", -5),
        (DataType.INTEGER, 42, 42),
        (DataType.INTEGER, "9223372036854775807", INT64_MAX),
        (DataType.INTEGER, "-9223372036854775808", INT64_MIN),
        (DataType.UNSIGNED_INTEGER, "18446744073709551615", UINT64_MAX),
        (DataType.UNSIGNED_INTEGER, 7, 7),
        (DataType.FLOAT, "21.5", 21.5),
        (DataType.FLOAT, "1.0E10", 1.0e10),
        (DataType.FLOAT, "1.0E-4", 1.0e-4),
        (DataType.FLOAT, 3, 3.0),
        (DataType.FLOAT, -0.25, -0.25),
        (DataType.BOOLEAN, True, True),
        (DataType.BOOLEAN, False, False),
        (DataType.OPAQUE, "0a1bff", b"\x0a\x1b\xff"),
        (DataType.OPAQUE, "0A1BFF", b"\x0a\x1b\xff"),
        (DataType.OPAQUE, "", b""),
        (DataType.TIME, 1764336000000, 1764336000000),
        (DataType.TIME, "1764336000000", 1764336000000),
        (DataType.OBJLNK, {"objectId": 3, "objectInstanceId": 0, "nullLink": False}, ObjectLink(3, 0)),
        (DataType.OBJLNK, "3:0", ObjectLink(3, 0)),
        (DataType.OBJLNK, {"objectId": 65535, "objectInstanceId": 65535, "nullLink": True}, ObjectLink(65535, 65535)),
        (DataType.CORELINK, "</3/0>,</4/0>", "</3/0>,</4/0>"),
        (DataType.NONE, None, None),
    ],
)
def test_it_parses_every_leshan_encoding(data_type: DataType, raw: object, expected: object) -> None:
    assert parse_value(data_type, raw) == expected


@pytest.mark.parametrize(
    ("data_type", "raw", "message"),
    [
        (DataType.STRING, 5, "STRING value must be a JSON string, not a number"),
        (DataType.INTEGER, "abc", 'INTEGER value "abc" is not an integer'),
        (DataType.INTEGER, "1.5", 'INTEGER value "1.5" is not an integer'),
        (DataType.INTEGER, "1_000", 'INTEGER value "1_000" is not an integer'),
        (DataType.INTEGER, True, "INTEGER value must be a number or a string, not a boolean"),
        (DataType.INTEGER, "9223372036854775808", "outside the 64-bit signed range"),
        (DataType.INTEGER, 1.5, "INTEGER value 1.5 is not an integer"),
        (DataType.INTEGER, None, "INTEGER value must be a number or a string, not null"),
        (DataType.UNSIGNED_INTEGER, "-1", 'UNSIGNED_INTEGER value "-1" is not an integer'),
        (DataType.UNSIGNED_INTEGER, -1, "outside 0..18446744073709551615"),
        (DataType.UNSIGNED_INTEGER, "18446744073709551616", "outside 0..18446744073709551615"),
        (DataType.FLOAT, "NaN", 'FLOAT value "NaN" is not a number'),
        (DataType.FLOAT, "Infinity", 'FLOAT value "Infinity" is not a number'),
        (DataType.FLOAT, math.inf, "is not a finite 64-bit float"),
        (DataType.FLOAT, "1e999", "is not a finite 64-bit float"),
        (DataType.FLOAT, 10**400, "too large for a 64-bit float"),
        (DataType.FLOAT, "0x10", 'FLOAT value "0x10" is not a number'),
        (DataType.FLOAT, [], "FLOAT value must be a number or a string, not a list"),
        (DataType.BOOLEAN, "true", "BOOLEAN value must be true or false, not a string"),
        (DataType.BOOLEAN, 1, "BOOLEAN value must be true or false, not a number"),
        (DataType.OPAQUE, "abc", 'OPAQUE value "abc" is not an even-length hex string'),
        (DataType.OPAQUE, "zz", 'OPAQUE value "zz" is not an even-length hex string'),
        (DataType.TIME, "2024-01-01T00:00:00Z", "is not an integer"),
        (DataType.OBJLNK, {"objectId": "3"}, "OBJLNK value needs integer objectId and objectInstanceId"),
        (DataType.OBJLNK, "3-0", 'OBJLNK value "3-0" is not "objectId:instanceId"'),
        (DataType.OBJLNK, "70000:0", "outside 0..65535"),
        (DataType.CORELINK, {}, "CORELINK value must be a JSON string, not an object"),
    ],
)
def test_it_rejects_values_that_do_not_fit_their_type(data_type: DataType, raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_value(data_type, raw)


def test_it_reads_type_names_case_insensitively_and_rejects_unknown_ones() -> None:
    assert DataType.parse("float") is DataType.FLOAT
    assert DataType.parse("unsigned_integer") is DataType.UNSIGNED_INTEGER
    with pytest.raises(ValueError, match='unknown type "DOUBLE"'):
        DataType.parse("DOUBLE")
    with pytest.raises(ValueError, match="type must be a string"):
        DataType.parse(3)


def test_it_reads_ddf_type_names() -> None:
    assert DataType.from_ddf("Unsigned Integer") is DataType.UNSIGNED_INTEGER
    assert DataType.from_ddf("Corelnk") is DataType.CORELINK
    assert DataType.from_ddf("") is DataType.NONE
    assert DataType.from_ddf(None) is DataType.NONE


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (DataType.INTEGER, INT64_MIN),
        (DataType.INTEGER, INT64_MAX),
        (DataType.UNSIGNED_INTEGER, 0),
        (DataType.UNSIGNED_INTEGER, INT64_MAX),
        (DataType.UNSIGNED_INTEGER, INT64_MAX + 1),
        (DataType.UNSIGNED_INTEGER, UINT64_MAX),
        (DataType.FLOAT, 1.0e-300),
        (DataType.BOOLEAN, False),
        (DataType.OPAQUE, bytes(range(256))),
        (DataType.TIME, 1764336000000),
        (DataType.OBJLNK, ObjectLink(3, 0)),
        (DataType.STRING, "Grüße, 世界"),
        (DataType.CORELINK, "</3/0>"),
    ],
)
def test_columns_round_trip(data_type: DataType, value: object) -> None:
    columns = to_columns(data_type, value)
    assert len(columns) == 1
    assert from_columns(data_type, columns) == value


def test_unsigned_values_above_int64_use_the_twos_complement_pattern() -> None:
    assert to_columns(DataType.UNSIGNED_INTEGER, UINT64_MAX) == {"value_int": -1}
    assert to_columns(DataType.UNSIGNED_INTEGER, 2**63) == {"value_int": INT64_MIN}


def test_it_encodes_values_for_leshan() -> None:
    assert to_json(DataType.INTEGER, -5) == "-5"
    assert to_json(DataType.UNSIGNED_INTEGER, UINT64_MAX) == "18446744073709551615"
    assert to_json(DataType.FLOAT, 21.5) == "21.5"
    assert to_json(DataType.OPAQUE, b"\x0a\xff") == "0aff"
    assert to_json(DataType.OBJLNK, ObjectLink(3, 1)) == {"objectId": 3, "objectInstanceId": 1}
    assert to_json(DataType.TIME, 1000) == 1000
    assert to_json(DataType.BOOLEAN, True) is True


@pytest.mark.parametrize(
    ("from_type", "to_type", "value", "expected"),
    [
        (DataType.INTEGER, DataType.TIME, 1, 1),
        (DataType.TIME, DataType.INTEGER, 5, 5),
        (DataType.INTEGER, DataType.UNSIGNED_INTEGER, 5, 5),
        (DataType.UNSIGNED_INTEGER, DataType.INTEGER, 5, 5),
        (DataType.INTEGER, DataType.FLOAT, 3, 3.0),
    ],
)
def test_it_coerces_integers_where_nothing_is_lost(from_type, to_type, value, expected) -> None:
    assert coerce(value, from_type=from_type, to_type=to_type) == expected


@pytest.mark.parametrize(
    ("from_type", "to_type", "value"),
    [
        (DataType.STRING, DataType.FLOAT, "1"),
        (DataType.FLOAT, DataType.INTEGER, 1.0),
        (DataType.INTEGER, DataType.UNSIGNED_INTEGER, -1),
        (DataType.UNSIGNED_INTEGER, DataType.INTEGER, UINT64_MAX),
        (DataType.INTEGER, DataType.FLOAT, 2**60),
        (DataType.BOOLEAN, DataType.INTEGER, True),
    ],
)
def test_it_refuses_lossy_or_meaningless_coercions(from_type, to_type, value) -> None:
    with pytest.raises(ValueError, match=f"{from_type} value conflicts with the registered type {to_type}"):
        coerce(value, from_type=from_type, to_type=to_type)


@pytest.mark.parametrize(
    ("raw", "message"),
    [("a\x00b", "STRING value contains a NUL character"), ("\ud800", "STRING value is not valid Unicode")],
)
def test_it_rejects_text_no_database_can_store(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_value(DataType.STRING, raw)
