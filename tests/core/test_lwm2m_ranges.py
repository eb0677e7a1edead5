"""What an object definition's RangeEnumeration allows, as the write checks read it."""

from __future__ import annotations

import pytest

from core.lwm2m.ranges import STRING_WRITE_MAX_BYTES, limit_of
from core.lwm2m.types import DataType


@pytest.mark.parametrize(
    ("data_type", "text", "value", "problem"),
    [
        (DataType.INTEGER, "0..100", 100, None),
        (DataType.INTEGER, "0..100", 101, "is 101; the allowed range is 0 to 100"),
        (DataType.FLOAT, "0.000001..1.0", 0.5, None),
        (DataType.FLOAT, "0.000001..1.0", 0.0, "is 0.0; the allowed range is 1e-06 to 1"),
        (DataType.UNSIGNED_INTEGER, "0: CONFIGURED_ON\n\t\t1: FULL_ON\n\t\t2: RECALL", 1, None),
        (
            DataType.UNSIGNED_INTEGER,
            "0: CONFIGURED_ON\n\t\t1: FULL_ON\n\t\t2: RECALL",
            3,
            "the allowed values are 0, 1, 2",
        ),
        (DataType.STRING, "1..64 Bytes", "a" * 64, None),
        (DataType.STRING, "1..64 bytes", "a" * 65, "is 65 bytes long; at most 64 fit"),
        (DataType.STRING, "1..64 bytes", "", "is 0 bytes long; at least 1 are needed"),
        (DataType.STRING, "0..255", "é" * 128, "is 256 bytes long; at most 255 fit"),
        (DataType.STRING, "", "x" * STRING_WRITE_MAX_BYTES, None),
        (DataType.STRING, "", "x" * (STRING_WRITE_MAX_BYTES + 1), "at most 255 fit"),
        (DataType.STRING, "The possible values are those listed in the Core Specification", "U" * 300, "at most 255"),
    ],
)
def test_a_range_limits_what_may_be_written(data_type: DataType, text: str, value: object, problem: str | None) -> None:
    limit = limit_of(data_type, text)
    assert limit is not None
    found = limit.problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("data_type", "text"),
    [
        (DataType.INTEGER, ""),
        (DataType.INTEGER, "see the specification"),
        (DataType.TIME, "0..100"),
        (DataType.BOOLEAN, "0..65535"),
        (DataType.OPAQUE, "0..255"),
    ],
)
def test_what_cannot_be_read_as_a_limit_limits_nothing(data_type: DataType, text: str) -> None:
    assert limit_of(data_type, text) is None
