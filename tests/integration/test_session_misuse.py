"""Misuse (a second event loop, closing while calls wait, a malformed request) never poisons a session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiodynamo_patterns import (
    BreakerState,
    CachedRepository,
    DynamoError,
    DynamoSession,
    ProductRepository,
    Repository,
    ServiceUnavailable,
    SessionClosed,
    ValidationError,
    WrongEventLoop,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.testing import ManualClock


def in_another_loop(call: Callable[[], Awaitable[Any]]) -> BaseException | None:
    """Run ``call()`` in a fresh event loop (as a thread with its own asyncio.run does)."""

    async def main() -> BaseException | None:
        try:
            await call()
        except BaseException as exc:  # returned to the test's loop for its assertions
            return exc
        return None

    return asyncio.run(main())


async def test_a_call_from_another_loop_is_refused_and_the_session_keeps_serving(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """A call from a second loop raises WrongEventLoop; 200 calls on the own loop then succeed."""
    async with DynamoSession(
        endpoint_url=ddb_endpoint,
        max_concurrency=4,
        acquire_timeout=2.0,
        mode=ddb_session_mode,
        **DUMMY_CREDENTIALS,
    ) as s:
        repo = Repository(s, table)
        # every slot busy, so a call that got as far as the slots would have to wait for one
        for _ in range(4):
            await s._slots.occupy()
        error = await asyncio.to_thread(
            in_another_loop, lambda: repo.get_item({"PK": "a", "SK": "b"})
        )
        for _ in range(4):
            s._slots.vacate()

        results = await asyncio.gather(
            *(repo.get_item({"PK": f"k{i}", "SK": "A"}) for i in range(200))
        )
        stats = s.stats()

    assert isinstance(error, WrongEventLoop)
    assert error.operation == "GetItem"
    assert "MainThread" in error.message  # names the loop the session belongs to
    assert results == [None] * 200
    assert stats.total_requests == 200
    assert stats.peak_in_flight == 4
    assert s.retry_stats().calls == 200  # type: ignore[union-attr]  # retry is on by default


async def test_a_cached_read_from_another_loop_leaves_no_flight_behind(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """A cached read from a second loop is refused before the cache starts a fetch in it."""
    created = await products.create_product(
        {"name": "Widget", "price": 1, "stock": 2, "category": "loops"}
    )
    pid = str(created["product_id"])
    async with CachedRepository(products) as cached:
        error = await asyncio.to_thread(in_another_loop, lambda: cached.get_product(pid))

        assert isinstance(error, WrongEventLoop)
        assert not cached.cache._tasks
        readers = await asyncio.gather(*(cached.get_product(pid) for _ in range(20)))
        assert all(r is not None and r["product_id"] == pid for r in readers)
        assert cached.stats().misses == 1


async def test_closing_from_another_loop_is_refused(ddb_session: DynamoSession) -> None:
    """aclose() from a second loop raises WrongEventLoop and leaves the session open."""
    error = await asyncio.to_thread(in_another_loop, ddb_session.aclose)

    assert isinstance(error, WrongEventLoop)
    assert ddb_session.is_open
    assert "TableNames" in await ddb_session.call("ListTables", {})


@pytest.mark.parametrize("operation", ["put", "get"])
async def test_calls_waiting_for_a_slot_get_session_closed_and_are_never_sent(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode, operation: str
) -> None:
    """Writes and reads queued for a slot when the session closes get SessionClosed, unsent."""
    s = DynamoSession(
        endpoint_url=ddb_endpoint, max_concurrency=2, mode=ddb_session_mode, **DUMMY_CREDENTIALS
    )
    await s.__aenter__()
    repo = Repository(s, table)
    for _ in range(2):  # two requests stuck in flight
        await s._slots.occupy()
    if operation == "put":
        calls = [repo.put_item({"PK": f"w{i}", "SK": "A"}) for i in range(10)]
    else:
        calls = [repo.get_item({"PK": f"w{i}", "SK": "A"}) for i in range(10)]
    waiting = [asyncio.create_task(c) for c in calls]
    for _ in range(100):  # a few turns of the loop: every task reaches its wait
        if s.stats().waiting == 10:
            break
        await asyncio.sleep(0)

    await s.aclose()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(o) for o in outcomes] == [SessionClosed] * 10
    assert s.stats().total_requests == 0  # none reached the client
    retry = s.retry_stats()
    assert retry is not None and retry.outcome_unknown == 0
    async with DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS) as fresh:
        scanned = await Repository(fresh, table).scan()
    assert scanned.items == []


async def test_a_call_after_close_touches_no_layer(ddb_endpoint: str) -> None:
    """A call on a closed session raises SessionClosed before the breaker or retry see it."""
    async with DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS) as s:
        pass
    with pytest.raises(SessionClosed):
        await s.call("GetItem", {"TableName": "t", "Key": {"PK": {"S": "a"}}})

    retry = s.retry_stats()
    assert retry is not None and retry.calls == 0
    assert s.breaker is not None and s.breaker.state().window_calls == 0


async def test_one_malformed_request_repeated_50_times_never_opens_the_breaker(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """A start key the server refuses (moto: a 500 every time) fails its caller only."""
    bad_start = {"PK": {"N": "1"}, "SK": {"S": "b"}}  # the table's PK is a string
    async with DynamoSession(
        endpoint_url=ddb_endpoint, clock=ManualClock(), mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as s:
        await Repository(s, table).put_item({"PK": "a", "SK": "b"})  # moto fails comparing to it
        errors = []
        for _ in range(50):
            with pytest.raises(DynamoError) as info:
                await s.call("Scan", {"TableName": table, "ExclusiveStartKey": bad_start})
            errors.append(info.value)
        others = await asyncio.gather(
            *(Repository(s, table).get_item({"PK": f"k{i}", "SK": "A"}) for i in range(20))
        )
        assert s.breaker is not None
        snap = s.breaker.state()

    # moto answers 500, dynalite 400: either way it is this request's failure alone
    assert {type(e) for e in errors} <= {ServiceUnavailable, ValidationError}
    assert others == [None] * 20
    assert (snap.state, snap.times_opened, snap.rejected) == (BreakerState.CLOSED, 0, 0)


async def test_a_write_whose_client_closes_before_it_is_written_gets_session_closed(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """The client refusing a request because the session closed under it is not OutcomeUnknown."""
    s = DynamoSession(endpoint_url=ddb_endpoint, mode=ddb_session_mode, **DUMMY_CREDENTIALS)
    await s.__aenter__()

    async def closed_under_it(params: dict[str, Any]) -> dict[str, Any]:
        await s.aclose()
        raise RuntimeError("Session is closed")  # what aiohttp raises before writing anything

    s._senders["PutItem"] = closed_under_it
    with pytest.raises(SessionClosed) as info:
        await Repository(s, table).put_item({"PK": "c", "SK": "A"})

    assert info.value.operation == "PutItem"
    retry = s.retry_stats()
    assert retry is not None and retry.outcome_unknown == 0
