"""A stock change costs one UpdateItem in the common case, and the metrics count what callers saw."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aiodynamo_patterns import DynamoSession, ProductRepository
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.pipeline import Call, Request, Result
from aiodynamo_patterns.testing import Fault, FaultProxy

BASE = {"name": "Widget", "price": 3, "category": "requests"}


class WallClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def proxy(ddb_endpoint: str) -> AsyncIterator[FaultProxy]:
    """Counts the UpdateItems that reach the server (and forwards everything)."""
    async with FaultProxy(ddb_endpoint, seed=0, operations={"UpdateItem"}) as proxy:
        yield proxy


@pytest_asyncio.fixture
async def counted(proxy: FaultProxy) -> AsyncIterator[DynamoSession]:
    async with DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session:
        yield session


def update_items(session: DynamoSession) -> tuple[int, int, dict[str, int], int]:
    """(calls, successes, errors by code, protocol resends) of UpdateItem in session.metrics."""
    assert session.metrics is not None
    op = session.metrics.snapshot()["operations"]["UpdateItem"]
    return op["count"], op["successes"], op["errors_by_code"], op["protocol_resends"]


async def test_100_concurrent_decreases_of_a_fresh_product_send_one_request_each(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """100 concurrent decreases of a new product send <= 110 UpdateItems and record no error."""
    products = ProductRepository(counted, table)
    p = await products.create_product({**BASE, "stock": 100})
    created = proxy.counts[Fault.FORWARD]  # the proxy forwards (and counts) the PutItem too
    await asyncio.gather(*(products.update_product_stock(p["product_id"], -1) for _ in range(100)))
    assert proxy.counts[Fault.FORWARD] - created <= 110
    assert update_items(counted) == (100, 100, {}, 0)
    assert (await products.get_product(p["product_id"], consistent=True) or {})["stock"] == 0


async def test_a_steady_stream_across_a_window_rotation_costs_one_request_per_change(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """40 sequential changes with the replay window rotating midway send 40 UpdateItems."""
    clock = WallClock()
    products = ProductRepository(counted, table, wall_clock=clock)
    p = await products.create_product({**BASE, "stock": 40})
    created = proxy.counts[Fault.FORWARD]  # the proxy forwards (and counts) the PutItem too
    for i in range(40):
        if i == 20:
            clock.now += products.replay.window
        await products.update_product_stock(p["product_id"], -1)
    assert proxy.counts[Fault.FORWARD] - created == 40
    assert update_items(counted) == (40, 40, {}, 0)


async def test_a_burst_at_a_window_rotation_moves_the_window_once(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """100 concurrent changes right after the window moved: one rotates, the others wait: 100."""
    clock = WallClock()
    products = ProductRepository(counted, table, wall_clock=clock)
    p = await products.create_product({**BASE, "stock": 100})
    created = proxy.counts[Fault.FORWARD]
    clock.now += products.replay.window
    await asyncio.gather(*(products.update_product_stock(p["product_id"], -1) for _ in range(100)))
    assert proxy.counts[Fault.FORWARD] - created == 100
    assert update_items(counted) == (100, 100, {}, 0)
    assert (await products.get_product(p["product_id"], consistent=True) or {})["stock"] == 0


@pytest.mark.ddb_unsupported(
    "dynalite", reason="ignores ReturnValuesOnConditionCheckFailure: a failure's item is read after"
)
async def test_a_burst_from_a_writer_that_does_not_know_the_item_guesses_once(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """Another writer's 100 concurrent changes: the first learns the window, the rest wait: 101."""
    p = await ProductRepository(counted, table).create_product({**BASE, "stock": 100})
    created = proxy.counts[Fault.FORWARD]
    other = ProductRepository(counted, table)
    await asyncio.gather(*(other.update_product_stock(p["product_id"], -1) for _ in range(100)))
    assert proxy.counts[Fault.FORWARD] - created == 101
    assert other.protocol_resends == 1
    assert update_items(counted) == (100, 100, {}, 1)
    assert (await other.get_product(p["product_id"], consistent=True) or {})["stock"] == 0


async def test_a_writer_learns_the_window_from_a_read(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """A writer that read the product first sends its change right at once: one UpdateItem."""
    p = await ProductRepository(counted, table).create_product({**BASE, "stock": 5})
    other = ProductRepository(counted, table)
    await other.get_product(p["product_id"])
    created = proxy.counts[Fault.FORWARD]
    await other.update_product_stock(p["product_id"], -1)
    assert proxy.counts[Fault.FORWARD] - created == 1
    assert other.protocol_resends == 0


@pytest.mark.ddb_unsupported(
    "dynalite", reason="ignores ReturnValuesOnConditionCheckFailure: a failure's item is read after"
)
async def test_a_writer_that_does_not_know_the_item_resends_once_not_as_an_error(
    counted: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """A second writer guesses the window once: one protocol resend, counted apart from errors."""
    p = await ProductRepository(counted, table).create_product({**BASE, "stock": 5})
    created = proxy.counts[Fault.FORWARD]  # the proxy forwards (and counts) the PutItem too
    other = ProductRepository(counted, table)
    await other.update_product_stock(p["product_id"], -1)
    await other.update_product_stock(p["product_id"], -1)
    assert proxy.counts[Fault.FORWARD] - created == 3
    assert other.protocol_resends == 1
    assert update_items(counted) == (2, 2, {}, 1)


class HoldFirstUpdate:
    """A layer that holds the first UpdateItem until released (or cancelled)."""

    def __init__(self) -> None:
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request: Request, call_next: Call) -> Result:
        if request.operation == "UpdateItem" and not self.held.is_set():
            self.held.set()
            await self.release.wait()
        return await call_next(request)


async def test_a_cancelled_first_change_releases_the_changes_waiting_for_it(
    ddb_endpoint: str, table: str
) -> None:
    """The change that learns the window is cancelled: the waiting ones go on, applied once each."""
    hold = HoldFirstUpdate()
    async with DynamoSession(
        endpoint_url=ddb_endpoint, layers=[hold], **DUMMY_CREDENTIALS
    ) as session:
        p = await ProductRepository(session, table).create_product({**BASE, "stock": 10})
        other = ProductRepository(session, table)  # does not know the item: its first change leads
        first = asyncio.create_task(other.update_product_stock(p["product_id"], -1))
        await hold.held.wait()
        waiting = [
            asyncio.create_task(other.update_product_stock(p["product_id"], -1)) for _ in range(5)
        ]
        await asyncio.sleep(0)  # they reach the wait for the first change's answer
        assert not any(task.done() for task in waiting)
        first.cancel()
        results = await asyncio.gather(*waiting)
        with pytest.raises(asyncio.CancelledError):
            await first
        assert sorted(r["stock"] for r in results) == [5, 6, 7, 8, 9]
        assert (await other.get_product(p["product_id"], consistent=True) or {})["stock"] == 5
