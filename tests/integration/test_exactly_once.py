"""Stock changes apply exactly once through lost responses, and other writes never guess."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aiodynamo_patterns import (
    DynamoSession,
    InsufficientStock,
    OutcomeUnknown,
    ProductRepository,
    Repository,
    ValidationError,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.testing import Fault, FaultProxy

BASE = {"name": "Widget", "price": 3, "stock": 300, "category": "resilience"}


@pytest_asyncio.fixture
async def proxy(ddb_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(ddb_endpoint, seed=20, operations={"UpdateItem", "PutItem"}) as proxy:
        yield proxy


@pytest_asyncio.fixture
async def faulty(proxy: FaultProxy) -> AsyncIterator[DynamoSession]:
    """A session with the default retry and breaker, through the fault proxy."""
    async with DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session:
        yield session


class WallClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def stock_of(products: ProductRepository, pid: str) -> int:
    item = await products.get_product(pid, consistent=True)
    assert item is not None
    return int(item["stock"])


@pytest.mark.slow
@pytest.mark.parametrize("stock", [300, 1000], ids=["stock-300", "stock-1000"])
async def test_500_concurrent_decrements_with_20_percent_lost_responses(
    ddb_endpoint: str, products: ProductRepository, table: str, stock: int
) -> None:
    """20% of answers dropped after the write: stock ends at exactly stock - successes.

    On stock 300 (the issue's case) exactly 300 succeed and 200 are refused. On stock 1000 every
    resend reaches the item while stock is left, so a resend applied twice would show.
    """
    pid = (await products.create_product({**BASE, "stock": stock}))["product_id"]
    async with (
        FaultProxy(
            ddb_endpoint, drop_response_rate=0.2, operations={"UpdateItem"}, seed=7
        ) as proxy,
        DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session,
    ):
        faulty = ProductRepository(session, table)
        outcomes = await asyncio.gather(
            *(faulty.update_product_stock(pid, -1) for _ in range(500)), return_exceptions=True
        )
        retry = session.retry_stats()
        breaker = session.breaker.state() if session.breaker else None

    successes = sum(isinstance(o, dict) for o in outcomes)
    refused = sum(isinstance(o, InsufficientStock) for o in outcomes)
    others = [o for o in outcomes if not isinstance(o, dict | InsufficientStock)]
    assert others == []  # in particular no OutcomeUnknown and no give-up
    assert (successes, refused) == (min(stock, 500), 500 - min(stock, 500))
    assert await stock_of(products, pid) == stock - successes >= 0
    assert proxy.counts[Fault.DROP_RESPONSE] >= 100
    # every answer lost after the write was applied was resolved by recognising the replay
    assert proxy.dropped_successes > 0
    assert faulty.replays_recognised == proxy.dropped_successes
    assert retry is not None and (retry.give_ups, retry.outcome_unknown) == (0, 0)
    assert retry.budget_exhausted == 0
    assert breaker is not None and breaker.times_opened == 0


async def test_a_lost_answer_is_resolved_by_recognising_the_replay(
    faulty: DynamoSession, proxy: FaultProxy, products: ProductRepository, table: str
) -> None:
    """The answer of an applied decrease is dropped; the resend reports success, applies nothing."""
    repo = ProductRepository(faulty, table)
    # created by this writer, which so knows the item's window and sends the right variant
    pid = (await repo.create_product({**BASE, "stock": 5}))["product_id"]
    proxy.script([Fault.DROP_RESPONSE])  # the decrease is applied, its answer lost

    result = await repo.update_product_stock(pid, -2)

    assert result["stock"] == 3
    assert await stock_of(products, pid) == 3
    assert repo.replays_recognised == 1
    assert proxy.counts[Fault.DROP_RESPONSE] == 1
    assert proxy.dropped_successes == 1


@pytest.mark.ddb_unsupported(
    "dynalite", reason="ignores ReturnValuesOnConditionCheckFailure: the replay is seen after"
)
async def test_a_recognised_replay_is_counted_as_the_success_the_caller_saw(
    faulty: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """A lost answer then a replay: the metrics show one successful call of two requests."""
    repo = ProductRepository(faulty, table)
    pid = (await repo.create_product({**BASE, "stock": 5}))["product_id"]
    proxy.script([Fault.DROP_RESPONSE])
    await repo.update_product_stock(pid, -2)
    assert faulty.metrics is not None
    update = faulty.metrics.snapshot()["operations"]["UpdateItem"]
    assert (update["count"], update["successes"], update["errors_by_code"]) == (1, 1, {})
    assert repo.replays_recognised == 1


async def test_writers_that_guess_the_window_wrong_still_apply_once(
    ddb_session: DynamoSession, products: ProductRepository, table: str
) -> None:
    """Two writers, one of which has a stale idea of the item's window, each apply once."""
    wall = WallClock(60.0 * 1000)
    one = ProductRepository(ddb_session, table, wall_clock=wall)
    two = ProductRepository(ddb_session, table, wall_clock=wall)
    pid = (await products.create_product(BASE))["product_id"]
    await one.update_product_stock(pid, -1)  # one remembers window 1000
    wall.now += 60
    await two.update_product_stock(pid, -1)  # two rotates to 1001 (it guessed an old record)
    await two.update_product_stock(pid, -1)

    await one.update_product_stock(pid, -1)  # one guesses a shift from 1000: refused, relearns
    assert await stock_of(products, pid) == 296
    assert one.replays_recognised == two.replays_recognised == 0


async def test_throttled_stock_change_is_simply_resent(
    faulty: DynamoSession, proxy: FaultProxy, products: ProductRepository, table: str
) -> None:
    """A throttling answer means nothing was applied: the resend applies it once."""
    pid = (await products.create_product({**BASE, "stock": 5}))["product_id"]
    repo = ProductRepository(faulty, table)
    proxy.script([Fault.THROTTLE, Fault.THROTTLE, Fault.THROTTLE])

    await repo.update_product_stock(pid, -1)
    await repo.update_product_stock(pid, -1)

    assert await stock_of(products, pid) == 3
    assert repo.replays_recognised == 0


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.THROTTLE, "applied"),
        (Fault.DROP_RESPONSE, OutcomeUnknown),
        (Fault.RESET, OutcomeUnknown),
        (Fault.ERROR_500, OutcomeUnknown),
    ],
)
async def test_a_plain_update_is_never_resent_after_it_may_have_executed(
    faulty: DynamoSession,
    proxy: FaultProxy,
    table: str,
    fault: Fault,
    outcome: object,
) -> None:
    """A counter increment without a token raises OutcomeUnknown rather than risk +2."""
    from aiodynamo_patterns import Increment

    repo = Repository(faulty, table)
    key = {"PK": "COUNTER#1", "SK": "C"}
    await repo.put_item({**key, "n": 0})
    proxy.script([fault])

    if outcome == "applied":
        await repo.update_item(key, {"n": Increment(1)})
    else:
        with pytest.raises(OutcomeUnknown) as raised:
            await repo.update_item(key, {"n": Increment(1)})
        assert raised.value.__cause__ is not None
    item = await repo.get_item(key, consistent=True)
    assert item is not None
    # applied exactly once when resent after a throttle; at most once otherwise
    assert item["n"] == 1 if outcome == "applied" else item["n"] in (0, 1)
    if fault is Fault.DROP_RESPONSE:
        assert item["n"] == 1  # the write happened, the client was told it does not know


async def test_the_record_is_pruned_by_the_updates_themselves(
    ddb_session: DynamoSession, products: ProductRepository, table: str
) -> None:
    """Tokens of the last one to two windows are kept; older ones go, in the same updates."""
    wall = WallClock(60.0 * 1000)
    repo = ProductRepository(ddb_session, table, wall_clock=wall)
    pid = (await repo.create_product(BASE))["product_id"]  # the record starts in window 1000
    key = {"PK": {"S": pid}, "SK": {"S": "DETAILS"}}

    async def record() -> dict[str, object]:
        raw = await ddb_session.call(
            "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
        )
        return {k: v for k, v in raw["Item"].items() if k.startswith("_rt_")}

    created = set((await record())["_rt_cur"]["SS"])  # type: ignore[index]
    assert len(created) == 1  # the create's own token
    await repo.update_product_stock(pid, -1, request_token="token-a-000")
    await repo.update_product_stock(pid, -1, request_token="token-b-000")
    window_1000 = created | {"token-a-000", "token-b-000"}
    assert set((await record())["_rt_cur"]["SS"]) == window_1000  # type: ignore[index]

    wall.now += 60  # next window: the current set becomes the previous one
    await repo.update_product_stock(pid, -1, request_token="token-c-000")
    rec = await record()
    assert rec["_rt_w"] == {"N": "1001"}
    assert rec["_rt_cur"] == {"SS": ["token-c-000"]}
    assert set(rec["_rt_prev"]["SS"]) == window_1000  # type: ignore[index]

    wall.now += 120  # two windows on: everything older than the previous window is gone
    await repo.update_product_stock(pid, -1, request_token="token-d-000")
    rec = await record()
    assert rec == {"_rt_w": {"N": "1003"}, "_rt_cur": {"SS": ["token-d-000"]}}
    assert await stock_of(products, pid) == 296


async def test_a_token_is_recognised_for_at_least_one_window(
    ddb_session: DynamoSession, products: ProductRepository, table: str
) -> None:
    """Re-sending a change with its token within the replay window never applies it again."""
    wall = WallClock(60.0 * 1000 + 59)  # the last second of a window
    repo = ProductRepository(ddb_session, table, wall_clock=wall)
    pid = (await products.create_product(BASE))["product_id"]

    first = await repo.update_product_stock(pid, -5, request_token="order-42-line-1")
    wall.now += 59  # next window, 59 s later
    again = await repo.update_product_stock(pid, -5, request_token="order-42-line-1")

    assert first["stock"] == again["stock"] == 295
    assert repo.replays_recognised == 1
    assert await stock_of(products, pid) == 295
    assert "_rt_cur" not in again and "_rt_w" not in again


def test_a_replay_window_shorter_than_the_retry_window_is_refused(
    ddb_session: DynamoSession, table: str
) -> None:
    """The repository refuses a window a late resend could outlive."""
    with pytest.raises(ValidationError) as raised:
        ProductRepository(ddb_session, table, replay_window=10.0)
    assert raised.value.field == "replay_window"
