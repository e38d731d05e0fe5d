"""Expressions and values: nothing a caller passes is pasted into an expression."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key

from aiodynamo_patterns import AppendToList, IfNotExists, Increment, Remove, ValidationError
from aiodynamo_patterns.expressions import (
    Placeholders,
    from_wire,
    item_from_wire,
    item_to_wire,
    to_wire,
    update_expression,
)


def test_reserved_words_and_hostile_names_become_placeholders() -> None:
    """Names such as `status` or `a) OR (b` only ever appear in ExpressionAttributeNames."""
    ph = Placeholders()
    expr = update_expression(ph, {"status": "x", "size": 1, "a) OR (b": 2, "data": ":v9"})
    assert "status" not in expr and "OR" not in expr
    assert set(ph.names.values()) == {"status", "size", "a) OR (b", "data"}
    assert {"S": ":v9"} in ph.values.values()


def test_placeholder_reused_for_repeated_name() -> None:
    """A name used in the update and in the condition gets a single placeholder."""
    ph = Placeholders()
    update_expression(ph, {"stock": Increment(-1)})
    cond = ph.condition(Attr("stock").gte(1), "condition")
    assert list(ph.names.values()).count("stock") == 1
    assert ph.name("stock") in cond


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        ({"a": 1}, "SET #n0 = :v0"),
        ({"a": Increment(2)}, "SET #n0 = if_not_exists(#n0, :v0) + :v1"),
        ({"a": IfNotExists(3)}, "SET #n0 = if_not_exists(#n0, :v0)"),
        ({"a": AppendToList([1])}, "SET #n0 = list_append(if_not_exists(#n0, :v0), :v1)"),
        ({"a": Remove()}, "REMOVE #n0"),
        ({"a": 1, "b": Remove()}, "SET #n0 = :v0 REMOVE #n1"),
    ],
)
def test_update_expression_shapes(updates: dict[str, object], expected: str) -> None:
    """Each update action renders to its documented DynamoDB clause."""
    assert update_expression(Placeholders(), updates) == expected


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ({"": 1}, "updates."),
        ({"PK": 1}, "updates.PK"),
        ({"a": Increment("x")}, "updates.a"),  # type: ignore[arg-type]  # wrong on purpose
        ({"a": float("nan")}, "updates.a"),
        ({"a": {"b": float("inf")}}, "updates.a.b"),
        ({"a": set()}, "updates.a"),
        ({"a": object()}, "updates.a"),
    ],
)
def test_bad_updates_name_the_field(updates: dict[str, object], field: str) -> None:
    """Invalid names, key attributes and unstorable values raise ValidationError naming the field."""
    with pytest.raises(ValidationError) as info:
        update_expression(Placeholders(), updates, forbidden=("PK", "SK"))
    assert info.value.field == field


def test_conditions_must_be_condition_objects() -> None:
    """A string condition is refused: it would be pasted into the expression."""
    with pytest.raises(ValidationError) as info:
        Placeholders().condition("attribute_exists(PK)", "condition")
    assert info.value.field == "condition"


def test_condition_with_invalid_path_is_refused() -> None:
    """A condition on a malformed document path is refused before anything is sent."""
    with pytest.raises(ValidationError) as info:
        Placeholders().condition(Attr("a..b").eq(1), "filter")
    assert info.value.field == "filter.a..b"


def test_condition_renders_with_our_placeholders() -> None:
    """boto3's builder output is renumbered into the request's single allocator."""
    ph = Placeholders()
    ph.name("x")
    expr = ph.condition(Key("PK").eq("p") & Key("SK").begins_with("s"), "kc", key=True)
    assert expr == "#n1 = :v0 AND begins_with(#n2, :v1)"
    assert ph.values == {":v0": {"S": "p"}, ":v1": {"S": "s"}}


def test_nested_path_placeholders() -> None:
    """Document paths keep their dots and indices, every segment a placeholder."""
    ph = Placeholders()
    assert ph.path("a.b[2].c", "projection") == "#n0.#n1[2].#n2"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0.1, {"N": "0.1"}),
        (1e20, {"N": "1E+20"}),
        (-2.5, {"N": "-2.5"}),
        (7, {"N": "7"}),
        (Decimal("1.10"), {"N": "1.1"}),  # trailing zeros are not significant: normalised
        (True, {"BOOL": True}),
        (None, {"NULL": True}),
        ({"a": [1, "x"]}, {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}]}}}),
    ],
)
def test_values_serialise_exactly(value: object, wire: dict[str, object]) -> None:
    """Floats are stored as their shortest decimal repr, other values as boto3 does."""
    assert to_wire(value) == wire


def test_numbers_come_back_as_int_or_decimal() -> None:
    """Integral numbers read back as int, others as Decimal, in nested values too."""
    item = item_from_wire(item_to_wire({"i": 3, "f": 0.1, "n": {"l": [2.0, 2.5]}}))
    assert item == {"i": 3, "f": Decimal("0.1"), "n": {"l": [2, Decimal("2.5")]}}
    assert type(item["i"]) is int
    assert from_wire({"NS": ["1", "1.5"]}) == {1, Decimal("1.5")}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), Decimal("NaN")])
def test_non_finite_numbers_rejected(bad: object) -> None:
    """NaN and infinities cannot be stored and are refused with the field named."""
    with pytest.raises(ValidationError) as info:
        item_to_wire({"price": bad})
    assert info.value.field == "item.price"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            Attr("a").eq(1) & Attr("b").eq(2) & Attr("c").eq(3),
            "#n0 = :v0 AND #n1 = :v1 AND #n2 = :v2",
        ),
        (
            (Attr("a").eq(1) | Attr("b").eq(2)) & Attr("c").eq(3),
            "(#n0 = :v0 OR #n1 = :v1) AND #n2 = :v2",
        ),
        (
            Attr("a").eq(1) | (Attr("b").eq(2) & Attr("c").eq(3)),
            "#n0 = :v0 OR (#n1 = :v1 AND #n2 = :v2)",
        ),
        (~(Attr("a").eq(1) & Attr("b").exists()), "NOT (#n0 = :v0 AND attribute_exists(#n1))"),
        (
            ~Attr("a").contains("x") & ~Attr("b").contains("x"),
            "NOT contains(#n0, :v0) AND NOT contains(#n1, :v1)",
        ),
        (Attr("a").is_in([1, 2]), "#n0 IN (:v0, :v1)"),
    ],
)
def test_boolean_chains_render_flat_with_correct_grouping(condition: object, expected: str) -> None:
    """AND/OR chains render as one flat level; mixed operators and NOT keep their grouping."""
    assert Placeholders().condition(condition, "condition") == expected
