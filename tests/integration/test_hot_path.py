"""The hot path of one GetItem does each piece of work once (counted by probes, not timed)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.clock import SystemClock
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.pipeline import Request
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.wire import codec, fastpath


class CountingClock(SystemClock):
    """The system clock, counting how often it is read."""

    def __init__(self) -> None:
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


async def test_one_get_item_reads_the_clock_three_times_and_derives_its_table_once(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through every default layer, one GetItem reads the clock 3 times (start, end, breaker
    window), looks up its table once and resolves how it is sent once per operation."""
    clock = CountingClock()
    derived: Counter[int] = Counter()
    original = Request.table.fget
    assert original is not None

    def counting_table(request: Request) -> str | None:
        if not request._table_known:
            derived[id(request)] += 1
        return original(request)

    monkeypatch.setattr(Request, "table", property(counting_table))
    async with DynamoSession(
        endpoint_url=ddb_endpoint, clock=clock, mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as session:
        repo = Repository(session, table)
        await repo.get_item({"PK": "warm", "SK": "A"})
        senders = dict(session._senders)
        clock.reads = 0
        derived.clear()
        await repo.get_item({"PK": "probe", "SK": "A"})
        assert clock.reads == 3
        assert list(derived.values()) == [1]
        assert session._senders == senders  # decided at the first call, reused since


async def test_a_response_without_binaries_is_walked_for_none(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the fast path, decoding a response with no B/BS member never walks it; one with a binary does, once."""
    walks: list[Any] = []  # top-level walks only (the walk recurses through the module name)
    original = codec.decode_binaries
    depth = 0

    def counting(node: Any) -> None:
        nonlocal depth
        if depth == 0:
            walks.append(node)
        depth += 1
        try:
            original(node)
        finally:
            depth -= 1

    if ddb_session_mode != "fast":
        pytest.skip("compatible mode: botocore's parser decodes binaries, not the codec")
    monkeypatch.setattr(codec, "decode_binaries", counting)
    async with DynamoSession(
        endpoint_url=ddb_endpoint, mode="fast", **DUMMY_CREDENTIALS
    ) as session:
        assert session.fast_path_active
        repo = Repository(session, table)
        await repo.put_item({"PK": "p", "SK": "A", "n": 1})
        await repo.put_item({"PK": "b", "SK": "A", "blob": b"\x00\x01"})
        walks.clear()
        assert await repo.get_item({"PK": "p", "SK": "A"}) == {"PK": "p", "SK": "A", "n": 1}
        assert walks == []
        item = await repo.get_item({"PK": "b", "SK": "A"})
        assert item is not None and item["blob"] == b"\x00\x01"
        assert len(walks) == 1
    assert fastpath.decode is codec.decode
