"""ReadCache without a server: TTLs, jitter, size bound, invalidation, the generation guard."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from aiodynamo_patterns import ReadCache, ValidationError
from aiodynamo_patterns.keys import canonical as _canonical
from aiodynamo_patterns.layers.cached_repository import canonical_projection, written_keys
from aiodynamo_patterns.testing import ManualClock

ITEM = {"PK": {"S": "A"}, "stock": {"N": "1"}}


def _fill(cache: ReadCache, key: str, value: dict[str, Any] | None = ITEM, proj: str = "*") -> None:
    state, generation = cache.begin_read(("t", key))
    cache.store(("t", key), proj, value, state, generation)
    cache.end_read(("t", key), state)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"maxsize": 0}, "maxsize"),
        ({"negative_ttl": -1}, "negative_ttl"),
        ({"jitter": 0.9}, "jitter"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], field: str) -> None:
    """Nonsensical settings raise ValidationError naming the setting."""
    with pytest.raises(ValidationError) as info:
        ReadCache(**kwargs)
    assert info.value.field == field


def test_jitter_spreads_expiry_within_the_fraction() -> None:
    """With jitter 0.2, entries filled together expire between 80% and 100% of the TTL."""
    clock = ManualClock()
    cache = ReadCache(ttl=100, maxsize=1000, jitter=0.2, clock=clock, rng=random.Random(7))
    for i in range(200):
        _fill(cache, str(i))
    clock.advance(79.9)
    assert len(cache) == 200
    clock.advance(10)
    assert 0 < len(cache) < 200  # some, not all, expired by 89.9 s
    clock.advance(10.2)
    assert len(cache) == 0
    assert cache.stats().expirations == 200


def test_invalidate_drops_every_projection_and_the_negative_entry() -> None:
    """invalidate(key) forgets all projections of that key and nothing else."""
    cache = ReadCache(ttl=60, negative_ttl=5, clock=ManualClock())
    _fill(cache, "a", proj="*")
    _fill(cache, "a", proj='"stock"')
    _fill(cache, "b")
    _fill(cache, "c", value=None)

    assert cache.invalidate("t", "a") == 2
    assert cache.invalidate("t", "c") == 1
    assert cache.lookup("t", "b", "*") == ITEM
    assert len(cache) == 1
    assert cache.stats().invalidations == 3


def test_a_read_started_before_an_invalidation_is_not_stored() -> None:
    """The generation guard: a value read before a write is discarded when it arrives after it."""
    cache = ReadCache(ttl=60, clock=ManualClock())
    state, generation = cache.begin_read(("t", "a"))
    cache.invalidate("t", "a")

    stored = cache.store(("t", "a"), "*", ITEM, state, generation)

    assert not stored and len(cache) == 0
    assert cache.stats().stale_discarded == 1


def test_key_bookkeeping_is_dropped_when_no_read_runs() -> None:
    """Per-key generation state exists only while reads of that key are in flight."""
    cache = ReadCache(ttl=60, clock=ManualClock())
    _fill(cache, "a")
    cache.invalidate("t", "a")
    assert cache._keys == {} and cache._index == {}


def test_misses_are_not_cached_without_negative_ttl() -> None:
    """Without negative_ttl, "no such item" is never stored."""
    cache = ReadCache(ttl=60, clock=ManualClock())
    _fill(cache, "a", value=None)
    assert len(cache) == 0


async def test_a_fetch_that_outlives_its_waiters_still_fills_the_cache() -> None:
    """When every waiter is cancelled, the shared fetch completes and stores its value."""
    cache = ReadCache(ttl=60, clock=ManualClock())
    gate = asyncio.Event()

    async def fetch() -> dict[str, Any] | None:
        await gate.wait()
        return ITEM

    waiter = asyncio.create_task(cache.get("t", "a", "*", fetch))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert cache.lookup("t", "a", "*") == ITEM
    await cache.aclose()


@pytest.mark.parametrize(
    ("expression", "names", "expected"),
    [
        (None, None, "*"),
        ("#n0, #n1", {"#n0": "b", "#n1": "a"}, '"a","b"'),
        ("#n1,#n0", {"#n0": "b", "#n1": "a"}, '"a","b"'),
        ("#n0.#n1[2]", {"#n0": "m", "#n1": "x"}, '"m"."x"[2]'),
        ("#n0", {"#n0": "m.x"}, '"m.x"'),
    ],
)
def test_projection_key_is_canonical(
    expression: str | None, names: dict[str, str] | None, expected: str
) -> None:
    """Equal projections give equal cache keys whatever the placeholder order; a dotted name
    differs from a nested path."""
    assert canonical_projection(expression, names) == expected


def test_written_keys_cover_every_write_shape() -> None:
    """Puts, updates, deletes, batch writes and transactions each name the keys they change."""
    a, b = {"PK": {"S": "a"}, "SK": {"S": "x"}}, {"PK": {"S": "b"}, "SK": {"S": "x"}}
    keys = written_keys(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {**a, "v": {"N": "1"}}}},
                {"Update": {"TableName": "u", "Key": b}},
                {"ConditionCheck": {"TableName": "t", "Key": b}},
            ]
        },
        ("PK", "SK"),
    )
    assert keys == [("t", _canonical(a)), ("u", _canonical(b))]
    batch = written_keys(
        "BatchWriteItem",
        {"RequestItems": {"t": [{"PutRequest": {"Item": a}}, {"DeleteRequest": {"Key": b}}]}},
        ("PK", "SK"),
    )
    assert batch == [("t", _canonical(a)), ("t", _canonical(b))]
