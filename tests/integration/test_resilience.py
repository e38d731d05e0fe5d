"""Retry and circuit breaker against real faults on the wire (fault proxy in front of moto)."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest

from aiodynamo_patterns import (
    Backoff,
    BreakerConfig,
    BreakerState,
    CircuitOpen,
    DynamoSession,
    ItemAlreadyExists,
    ProductRepository,
    RetryPolicy,
    SystemClock,
    TransportError,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.testing import Fault, FaultProxy, ManualClock

DATA_PLANE = {"GetItem", "PutItem", "UpdateItem", "Query"}


@pytest.mark.slow
async def test_2000_mixed_operations_ride_out_30_percent_throttling(
    ddb_endpoint: str, table: str, products: ProductRepository
) -> None:
    """With the default policy every call succeeds and the retry budget is never exhausted."""
    seeds = [
        await products.create_product(
            {"name": f"p{i}", "price": 1, "stock": 1000, "category": "storm"}
        )
        for i in range(10)
    ]
    rng = random.Random(3)
    increments = [0] * len(seeds)
    async with (
        FaultProxy(ddb_endpoint, throttle_rate=0.3, operations=DATA_PLANE, seed=11) as proxy,
        DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session,
    ):
        repo = ProductRepository(session, table)
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> Any:
            async with gate:
                kind = i % 4
                target = rng.randrange(len(seeds))
                pid = seeds[target]["product_id"]
                if kind == 0:
                    return await repo.get_product(pid, consistent=True)
                if kind == 1:
                    increments[target] += 1
                    return await repo.update_product_stock(pid, 1)
                if kind == 2:
                    return await repo.create_product(
                        {"name": f"new{i}", "price": 2, "stock": 3, "category": "storm-new"}
                    )
                return await repo.get_products_by_category("storm", limit=5)

        outcomes = await asyncio.gather(*(one(i) for i in range(2000)), return_exceptions=True)
        stats = session.retry_stats()
        breaker = session.breaker.state() if session.breaker else None

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert failures == []
    assert stats is not None
    assert proxy.counts[Fault.THROTTLE] >= 500  # about 30% of ~2,860 attempts
    assert stats.retries == proxy.counts[Fault.THROTTLE]  # each throttle resent exactly once
    assert (stats.give_ups, stats.budget_exhausted, stats.outcome_unknown) == (0, 0, 0)
    assert 0 < stats.budget_low_water < stats.budget_capacity
    assert breaker is not None and breaker.times_opened == 0
    for target, product in enumerate(seeds):
        after = await products.get_product(product["product_id"], consistent=True)
        assert after is not None and after["stock"] == 1000 + increments[target]


async def test_outage_opens_the_breaker_then_calls_fail_fast_without_traffic_until_recovery(
    ddb_endpoint: str, table: str, products: ProductRepository
) -> None:
    """Refused connections open it within the threshold; 1,000 calls never reach the wire."""
    pid = (await products.create_product({"name": "x", "price": 1, "stock": 1, "category": "c"}))[
        "product_id"
    ]
    clock = ManualClock()
    transitions: list[tuple[BreakerState, BreakerState]] = []
    config = BreakerConfig()
    async with (
        FaultProxy(ddb_endpoint, seed=1) as proxy,
        DynamoSession(endpoint_url=proxy.url, clock=clock, **DUMMY_CREDENTIALS) as session,
    ):
        assert session.breaker is not None
        session.breaker.add_listener(lambda old, new, snap: transitions.append((old, new)))
        repo = ProductRepository(session, table)
        assert await repo.get_product(pid) is not None

        await proxy.go_down()
        sent_before = session.stats().total_requests
        with pytest.raises(TransportError) as raised:
            await repo.get_product(pid)
        assert "gave up after 10 attempt(s)" in raised.value.__notes__[-1]
        assert session.stats().total_requests - sent_before == config.failure_threshold
        assert session.breaker.state().state is BreakerState.OPEN

        await proxy.come_up()  # back, but the breaker does not know until it probes
        seen = (proxy.connections, proxy.requests, session.stats().total_requests)
        fast = 0
        for _ in range(1000):
            try:
                await repo.get_product(pid)
            except CircuitOpen:
                fast += 1
        assert fast == 1000
        assert (proxy.connections, proxy.requests, session.stats().total_requests) == seen
        assert session.breaker.state().rejected == 1000

        clock.advance(config.reset_timeout)
        assert await repo.get_product(pid) is not None
        assert session.breaker.state().state is BreakerState.CLOSED
        assert proxy.requests == seen[1] + 1  # exactly one probe
    assert transitions == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


async def test_100_consecutive_condition_failures_leave_the_breaker_closed(
    ddb_endpoint: str, table: str
) -> None:
    """Refused creates are answers, not outages: even a threshold of 3 stays closed."""
    async with DynamoSession(
        endpoint_url=ddb_endpoint,
        breaker=BreakerConfig(failure_threshold=3, minimum_calls=5),
        **DUMMY_CREDENTIALS,
    ) as session:
        repo = ProductRepository(session, table)
        item = {"PK": f"PRODUCT#{uuid.uuid4().hex}", "SK": "DETAILS", "stock": 1}
        await repo.create_item(item)
        for _ in range(100):
            with pytest.raises(ItemAlreadyExists):
                await repo.create_item(item)
        assert session.breaker is not None
        snap = session.breaker.state()
        stats = session.retry_stats()
    assert snap.state is BreakerState.CLOSED
    assert (snap.consecutive_failures, snap.window_failures, snap.times_opened) == (0, 0, 0)
    assert stats is not None and stats.retries == 0


async def test_dropped_connections_at_20_percent_do_not_open_the_breaker(
    ddb_endpoint: str, table: str, products: ProductRepository
) -> None:
    """Random resets are ridden out by retries of reads; the breaker stays closed."""
    pid = (await products.create_product({"name": "x", "price": 1, "stock": 1, "category": "c"}))[
        "product_id"
    ]
    async with (
        FaultProxy(ddb_endpoint, reset_rate=0.2, operations=DATA_PLANE, seed=5) as proxy,
        DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session,
    ):
        repo = ProductRepository(session, table)
        results = await asyncio.gather(*(repo.get_product(pid) for _ in range(300)))
        assert session.breaker is not None
        snap = session.breaker.state()
    assert all(r is not None for r in results)
    assert proxy.counts[Fault.RESET] >= 40
    assert snap.times_opened == 0


async def test_cancelling_a_call_during_its_backoff_sleep_propagates_promptly(
    ddb_endpoint: str, table: str
) -> None:
    """A call throttled and waiting 30 s to retry is cancelled at once; nothing more is sent."""
    sleeping = asyncio.Event()

    class SignallingClock(SystemClock):
        async def sleep(self, seconds: float) -> None:
            sleeping.set()
            await super().sleep(seconds)

    policy = RetryPolicy(backoff=Backoff(base=30.0, cap=30.0, rng=random.Random(0)), deadline=None)
    async with (
        FaultProxy(ddb_endpoint, throttle_rate=1.0, seed=2) as proxy,
        DynamoSession(
            endpoint_url=proxy.url, retry=policy, clock=SignallingClock(), **DUMMY_CREDENTIALS
        ) as session,
    ):
        key = {"PK": {"S": "a"}, "SK": {"S": "b"}}
        task = asyncio.create_task(session.call("GetItem", {"TableName": table, "Key": key}))
        async with asyncio.timeout(10):  # guards a hang, not a timing assertion
            await sleeping.wait()
        task.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert proxy.requests == 1
        stats = session.retry_stats()
    assert stats is not None and stats.retries == 1 and stats.attempts == 1
