"""DynamoDB's documented limits, checked before anything is sent: numbers, names, nesting, sets.

Every refusal is a ValidationError naming the field; none quotes the value.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aiodynamo_patterns import (
    DynamoError,
    IdempotentParameterMismatch,
    ProductRepository,
    Repository,
    ValidationError,
)
from aiodynamo_patterns.errors import error_for_code
from aiodynamo_patterns.expressions import from_wire, item_to_wire, to_wire

SECRET = "s3cr3t-value-7781"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (
            Decimal("9.9999999999999999999999999999999999999E+125"),
            "9.9999999999999999999999999999999999999E+125",
        ),
        (
            Decimal("-9.9999999999999999999999999999999999999E+125"),
            "-9.9999999999999999999999999999999999999E+125",
        ),
        (Decimal("1E-130"), "1E-130"),
        (Decimal("-1E-130"), "-1E-130"),
        (Decimal("1.2300000000000000000000000000000000000000000"), "1.23"),  # zeros: not digits
        (10**100, "1E+100"),
        (Decimal("0.000"), "0"),
        (12345678901234567890123456789012345678, "12345678901234567890123456789012345678"),
    ],
)
def test_numbers_at_the_limits_are_accepted_and_normalised(value: Any, wire: str) -> None:
    """Values DynamoDB stores are accepted; trailing zeros are dropped, as DynamoDB does."""
    assert to_wire(value) == {"N": wire}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (Decimal("1E+126"), "magnitudes"),
        (Decimal("-1E+126"), "magnitudes"),
        (Decimal("1E-131"), "magnitudes"),
        (Decimal("1." + "1" * 38), "39 significant digits"),
        (10**38 + 1, "39 significant digits"),
        (Decimal("NaN"), "finite"),
        (Decimal("-Infinity"), "finite"),
        (float("inf"), "finite"),
        (1e300, "magnitudes"),
    ],
)
def test_numbers_beyond_the_limits_are_refused_in_a_sentence(value: Any, says: str) -> None:
    """A number DynamoDB cannot store is refused with a sentence naming the field, no value."""
    with pytest.raises(ValidationError) as err:
        to_wire(value, "item.price")
    assert err.value.field == "item.price"
    assert says in err.value.message
    assert "<class" not in err.value.message
    if says != "finite":
        assert str(value) not in err.value.message


@pytest.mark.parametrize(
    "text",
    ["1" + "0" * 100, "99" + "0" * 124, "-" + "9" * 38 + "0" * 80, "1.5000000000", "1E+125"],
)
def test_numbers_read_back_with_all_their_digits_decode_exactly(text: str) -> None:
    """DynamoDB answers 9.9E125 as a 126-digit string: it decodes exactly, no decimal.Rounded."""
    value = from_wire({"N": text})
    assert Decimal(value) == Decimal(text)
    assert from_wire({"NS": [text]}) == {value}
    assert from_wire({"M": {"n": {"L": [{"N": text}]}}}) == {"n": [value]}


def test_a_malformed_number_in_a_response_is_a_library_error() -> None:
    """A number that is not a number in a response is a DynamoError, not decimal's exception."""
    with pytest.raises(DynamoError) as err:
        from_wire({"N": "12abc"})
    assert err.value.code == "ResponseParserError"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "lone \ud800 surrogate"}, "item.name"),
        ({"bad\udc00name": 1}, "item.bad\\udc00name"),
        ({"m": {"inner\ud800": "x"}}, "item.m.inner\\ud800"),
        ({"tags": {"a", "b\udfff"}}, "item.tags"),
        ({"l": ["ok", "no\ud8ff"]}, "item.l[1]"),
    ],
)
def test_lone_surrogates_in_names_and_values_are_refused(item: dict[str, Any], field: str) -> None:
    """A string with a lone surrogate (not Unicode) is refused, the field named and printable."""
    with pytest.raises(ValidationError) as err:
        item_to_wire(item)
    assert err.value.field == field
    str(err.value).encode("utf-8")  # the error itself can be logged


def _nested(levels: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(levels):  # ``levels`` maps or lists around the leaf
        value = {"a": value} if kind == "map" else [value]
    return value


@pytest.mark.parametrize("kind", ["map", "list"])
def test_documents_nest_32_levels_and_no_deeper(kind: str) -> None:
    """32 levels of maps or lists are stored; 33 or 5,000 are a ValidationError, never a
    RecursionError."""
    assert to_wire(_nested(32, kind))
    for levels in (33, 5_000):
        with pytest.raises(ValidationError, match="deeper than the 32 levels") as err:
            to_wire(_nested(levels, kind), "doc")
        assert err.value.field.startswith("doc")


def test_a_mixed_set_names_the_kinds_not_the_values() -> None:
    """A set of strings and numbers is refused naming what it holds, never its members."""
    with pytest.raises(ValidationError) as err:
        to_wire({SECRET, 1}, "item.tags")
    assert err.value.field == "item.tags"
    assert "numbers, strings" in err.value.message
    assert SECRET not in str(err.value) + repr(err.value)


BAD_VALUES: list[Any] = [
    {SECRET, 1},
    {SECRET, b"x"},
    {SECRET, True},
    [SECRET, object()],
    {SECRET: object()},
    {"a": {SECRET}, "b": set()},
    Decimal(f"1.{'1' * 40}"),
    SECRET + "\ud800",
    {SECRET + "\udc00": 1},
    {SECRET: float("nan")},
    (SECRET, lambda: None),
]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_no_refusal_quotes_the_value(bad: Any) -> None:
    """Whatever is wrong with a value, the error's text, repr and notes never contain it."""
    with pytest.raises(ValidationError) as err:
        item_to_wire({"attr": bad})
    text = str(err.value) + repr(err.value) + " ".join(getattr(err.value, "__notes__", []))
    assert SECRET not in text


@pytest.mark.parametrize(
    "name", ["ab", "x" * 256, "has space", "slash/name", "ünïcode", "", "semi;colon"]
)
def test_table_names_follow_dynamodb_rules(name: str) -> None:
    """A table name is 3 to 255 of a-z A-Z 0-9 _ - .; anything else is refused at construction."""
    with pytest.raises(ValidationError) as err:
        Repository(None, name)  # type: ignore[arg-type]  # refused before the session is used
    assert err.value.field == "table_name"
    assert Repository(None, "a.b-c_D9").table_name == "a.b-c_D9"  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ProductRepository(None, name)  # type: ignore[arg-type]


def test_a_reused_transaction_token_is_a_typed_error_with_a_recommendation() -> None:
    """IdempotentParameterMismatchException becomes IdempotentParameterMismatch naming the token."""
    error = error_for_code(
        "IdempotentParameterMismatchException", "reused", operation="TransactWriteItems", status=400
    )
    assert isinstance(error, IdempotentParameterMismatch)
    assert isinstance(error, ValidationError) and not error.retryable
    assert error.field == "client_request_token"
    assert "new client_request_token" in error.recommendation
