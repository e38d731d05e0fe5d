"""The shortcut encoder / decoder give exactly what boto3's TypeSerializer / TypeDeserializer give."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from aiodynamo_patterns import ValidationError
from aiodynamo_patterns.expressions import (
    _denormalise,
    _normalise,
    from_wire,
    item_from_wire,
    to_wire,
)

VALUES: list[dict[str, Any]] = [
    {"S": "ü 🚀"},
    {"S": ""},
    {"N": "0"},
    {"N": "-17"},
    {"N": "007"},
    {"N": "1.50"},
    {"N": "1E+2"},
    {"N": "-0.000001"},
    {"N": "12345678901234567890123456789012345678"},
    {"N": "1234567890123456789012345678901234567.8"},
    {"N": "٣"},  # a non-ASCII digit: Decimal refuses it, so must we
    {"BOOL": False},
    {"NULL": True},
    {"B": b"\x00\xff"},
    {"SS": ["a", "b"]},
    {"NS": ["1", "2.5", "-3"]},
    {"BS": [b"x", b"y"]},
    {"L": [{"N": "1"}, {"S": "x"}, {"L": []}, {"M": {}}]},
    {"M": {"a": {"N": "2.0"}, "b": {"M": {"c": {"NS": ["4"]}}}}},
    {"S": "a", "N": "1"},  # not DynamoDB JSON; boto3 takes the first tag, and so do we
]


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", {k: _typed(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, set):
        return ("set", sorted(repr(_typed(v)) for v in value))
    return (type(value).__name__, str(value))


def _reference(value: dict[str, Any]) -> Any:
    return _denormalise(TypeDeserializer().deserialize(value))


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_from_wire_matches_boto3(value: dict[str, Any]) -> None:
    """Value and Python type (int vs Decimal, bytes, set) equal boto3's, or both refuse."""
    try:
        expected = _typed(_reference(value))
    except Exception as exc:
        with pytest.raises(type(exc)):
            from_wire(value)
        return

    assert _typed(from_wire(value)) == expected


def test_integral_numbers_are_int_and_others_decimal() -> None:
    """Numbers read back are int when integral, Decimal otherwise."""
    item = item_from_wire({"a": {"N": "3"}, "b": {"N": "3.0"}, "c": {"N": "3.25"}})

    assert item == {"a": 3, "b": 3, "c": Decimal("3.25")}
    assert [type(v) for v in item.values()] == [int, int, Decimal]


@pytest.mark.parametrize("value", [{}, {"X": 1}], ids=["empty", "unknown"])
def test_malformed_values_are_refused_like_boto3(value: dict[str, Any]) -> None:
    """What boto3 refuses is refused the same way."""
    with pytest.raises(TypeError):
        from_wire(value)


PYTHON_VALUES: list[Any] = [
    "",
    "ü 🚀",
    0,
    -5,
    10**37,
    10**38 - 1,
    True,
    False,
    None,
    b"\x00",
    bytearray(b"x"),
    Decimal("1.50"),
    1.1,
    {"a": [1, "x", {"b": None}]},
    {1, 2},
]


@pytest.mark.parametrize("value", PYTHON_VALUES, ids=[repr(v)[:30] for v in PYTHON_VALUES])
def test_to_wire_matches_boto3(value: Any) -> None:
    """The scalar shortcut of to_wire gives exactly TypeSerializer's DynamoDB JSON."""
    expected = TypeSerializer().serialize(_normalise(value, "v"))

    assert to_wire(value) == expected
    assert _typed(to_wire(value)) == _typed(dict(expected))


def test_too_large_an_int_is_refused() -> None:
    """An int of more than 38 significant digits is refused with ValidationError; a big one
    whose trailing zeros are not significant is stored normalised, as DynamoDB does."""
    with pytest.raises(ValidationError) as err:
        to_wire(10**38 + 1, "n")
    assert err.value.field == "n" and "39 significant digits" in err.value.message
    assert to_wire(10**38) == {"N": "1E+38"}
