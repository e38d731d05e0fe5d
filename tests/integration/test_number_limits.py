"""Numbers at DynamoDB's limits round-trip through a real server; bad input never reaches it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aiodynamo_patterns import Repository, ValidationError
from aiodynamo_patterns.testing import CountingLayer

EDGES = [
    Decimal("9.9999999999999999999999999999999999999E+125"),
    Decimal("-9.9999999999999999999999999999999999999E+125"),
    Decimal("1E-130"),
    Decimal("-1E-130"),
    10**100,
    Decimal("9.9E125"),
    Decimal("1.5000000000000000000000000000000000000000000000"),
]


async def test_numbers_at_the_limits_round_trip_exactly(repo: Repository) -> None:
    """Every edge value is stored and read back equal (trailing zeros normalised), in a map,
    a list and a number set too."""
    item = {
        "PK": "limits",
        "SK": "A",
        **{f"n{i}": v for i, v in enumerate(EDGES)},
        "doc": {"l": list(EDGES)},
        "ns": set(EDGES),
    }
    await repo.put_item(item)
    got = await repo.get_item({"PK": "limits", "SK": "A"})
    assert got is not None
    for i, v in enumerate(EDGES):
        assert Decimal(got[f"n{i}"]) == Decimal(v)
    assert [Decimal(v) for v in got["doc"]["l"]] == [Decimal(v) for v in EDGES]
    assert {Decimal(v) for v in got["ns"]} == {Decimal(v) for v in EDGES}


@pytest.mark.parametrize(
    "bad",
    [Decimal("1E+126"), Decimal("1E-131"), Decimal("1." + "1" * 38), "x\ud800", {"a", 1}],
    ids=["too-big", "too-small", "39-digits", "surrogate", "mixed-set"],
)
async def test_a_bad_value_is_refused_before_anything_is_sent(
    repo: Repository, counting_layer: CountingLayer, bad: object
) -> None:
    """A value DynamoDB would refuse is a ValidationError naming the attribute; no request."""
    with pytest.raises(ValidationError) as err:
        await repo.put_item({"PK": "bad", "SK": "A", "v": bad})
    assert err.value.field == "item.v"
    assert counting_layer.calls["PutItem"] == 0
    assert await repo.get_item({"PK": "bad", "SK": "A"}) is None


@pytest.fixture
def counting_layer(repo: Repository) -> CountingLayer:
    layer = CountingLayer()
    repo.session.add_layer(layer)
    return layer
