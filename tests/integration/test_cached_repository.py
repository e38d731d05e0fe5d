"""CachedRepository against moto over HTTP: single-flight, never stale after a write, honest stats."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiodynamo_patterns import (
    CachedRepository,
    CacheInvalidationLayer,
    DynamoSession,
    ProductRepository,
    Repository,
    ServiceUnavailable,
    SessionClosed,
    TransactPut,
    TransactUpdate,
    ValidationError,
)
from aiodynamo_patterns.pipeline import Call, Request, Result
from aiodynamo_patterns.testing import CountingLayer, ManualClock


class HoldLayer:
    """Sends the first ``operation`` request, then holds its response until ``release`` is set.

    With ``fail``, the held request raises ``ServiceUnavailable`` instead of answering.
    """

    def __init__(self, operation: str = "GetItem", *, fail: bool = False) -> None:
        self.operation = operation
        self.fail = fail
        self.armed = True
        self.answered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request: Request, call_next: Call) -> Result:
        if request.operation != self.operation or not self.armed:
            return await call_next(request)
        self.armed = False
        response = await call_next(request)
        self.answered.set()
        await self.release.wait()
        if self.fail:
            raise ServiceUnavailable("injected", operation=request.operation)
        return response


@pytest.fixture
def counting(ddb_session: DynamoSession) -> CountingLayer:
    layer = CountingLayer()
    ddb_session.add_layer(layer)
    return layer


async def _product(products: ProductRepository, stock: int = 5) -> str:
    created = await products.create_product(
        {"name": "Widget", "price": 9.5, "stock": stock, "category": "cache-tests"}
    )
    return str(created["product_id"])


def _key(pid: str) -> dict[str, str]:
    return {"PK": pid, "SK": "DETAILS"}


async def test_thousand_concurrent_gets_of_one_uncached_key_make_one_getitem(
    products: ProductRepository, counting: CountingLayer
) -> None:
    """1,000 concurrent reads of an uncached product share exactly one GetItem."""
    pid = await _product(products)
    async with CachedRepository(products, ttl=60) as cached:
        counting.calls.clear()

        results = await asyncio.gather(*(cached.get_product(pid) for _ in range(1000)))

        assert counting.calls["GetItem"] == 1
        assert all(r is not None and r["stock"] == 5 for r in results)
        stats = cached.stats()
        assert (stats.misses, stats.coalesced, stats.hits) == (1, 999, 0)
        # the waiters got equal but separate objects
        assert results[0] is not results[1]


async def test_read_in_flight_during_a_write_never_leaves_the_old_value_cached(
    ddb_session: DynamoSession, products: ProductRepository, counting: CountingLayer
) -> None:
    """A GetItem answered before a write but delivered after it is not stored in the cache."""
    pid = await _product(products, stock=5)
    hold = HoldLayer("GetItem")
    ddb_session.add_layer(hold)
    async with CachedRepository(products, ttl=3600) as cached:
        reader = asyncio.create_task(cached.get_product(pid))
        await hold.answered.wait()  # the server has answered stock=5; the answer is held

        await cached.update_product_stock(pid, +10)  # the write completes meanwhile
        # must not join the read sent before the write (which stays held: joining would hang)
        late = await asyncio.wait_for(cached.get_product(pid), timeout=10)
        hold.release.set()
        old = await reader
        after = await cached.get_product(pid)

        assert old is not None and old["stock"] == 5  # the racing reader may see the old value
        assert late is not None and late["stock"] == 15
        assert after is not None and after["stock"] == 15  # ...but it was never cached
        assert counting.calls["GetItem"] == 2
        assert cached.stats().stale_discarded == 1


async def test_projected_read_is_fresh_after_an_update(
    products: ProductRepository, counting: CountingLayer
) -> None:
    """An update invalidates every cached projection of the key, not only the whole item."""
    pid = await _product(products, stock=5)
    async with CachedRepository(products, ttl=3600) as cached:
        assert await cached.get_item(_key(pid), projection=["stock"]) == {"stock": 5}
        assert await cached.get_item(_key(pid), projection=["name", "stock"]) is not None
        assert (await cached.get_product(pid) or {})["stock"] == 5
        assert cached.stats().size == 3

        await cached.update_item(_key(pid), {"stock": 7})

        assert cached.stats().invalidations == 3
        assert await cached.get_item(_key(pid), projection=["stock"]) == {"stock": 7}
        assert (await cached.get_item(_key(pid), projection=["name", "stock"]) or {})["stock"] == 7
        assert (await cached.get_product(pid) or {})["stock"] == 7


async def _put(c: CachedRepository, pid: str) -> None:
    await c.put_item({**_key(pid), "stock": 99, "name": "n"})


async def _update(c: CachedRepository, pid: str) -> None:
    await c.update_item(_key(pid), {"stock": 99})


async def _stock(c: CachedRepository, pid: str) -> None:
    await c.update_product_stock(pid, 94)


async def _delete(c: CachedRepository, pid: str) -> None:
    await c.delete_item(_key(pid))


async def _overwrite(c: CachedRepository, pid: str) -> None:
    await c.create_item({**_key(pid), "stock": 99}, overwrite=True)


async def _batch_put(c: CachedRepository, pid: str) -> None:
    await c.batch_write(puts=[{**_key(pid), "stock": 99}])


async def _batch_delete(c: CachedRepository, pid: str) -> None:
    await c.batch_write(deletes=[_key(pid)])


async def _transact_update(c: CachedRepository, pid: str) -> None:
    await c.transact_write([TransactUpdate(_key(pid), {"stock": 99})])


async def _transact_put(c: CachedRepository, pid: str) -> None:
    await c.transact_write([TransactPut({**_key(pid), "stock": 99})])


_NO_TRANSACTIONS_ON_DYNALITE = pytest.mark.ddb_unsupported(
    "dynalite", reason="dynalite has no TransactWriteItems"
)


@pytest.mark.parametrize(
    ("write", "expected_stock"),
    [
        (_put, 99),
        (_update, 99),
        (_stock, 99),
        (_delete, None),
        (_overwrite, 99),
        (_batch_put, 99),
        (_batch_delete, None),
        pytest.param(_transact_update, 99, marks=_NO_TRANSACTIONS_ON_DYNALITE),
        pytest.param(_transact_put, 99, marks=_NO_TRANSACTIONS_ON_DYNALITE),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)).strip("_"),
)
async def test_every_write_through_the_cached_repository_invalidates(
    products: ProductRepository,
    write: Callable[[CachedRepository, str], Awaitable[None]],
    expected_stock: int | None,
) -> None:
    """After any kind of write, cached reads (whole item and projected) return the new state."""
    pid = await _product(products, stock=5)
    async with CachedRepository(products, ttl=3600) as cached:
        await cached.get_item(_key(pid))
        await cached.get_item(_key(pid), projection=["stock"])

        await write(cached, pid)

        whole = await cached.get_item(_key(pid))
        projected = await cached.get_item(_key(pid), projection=["stock"])
        if expected_stock is None:
            assert whole is None and projected is None
        else:
            assert whole is not None and whole["stock"] == expected_stock
            assert projected == {"stock": expected_stock}


async def test_one_write_invalidates_its_keys_once(
    products: ProductRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write through the cached repository invalidates its keys exactly once (one place)."""
    pid = await _product(products, stock=5)
    async with CachedRepository(products, ttl=3600) as cached:
        await cached.get_item(_key(pid))
        calls: list[int] = []
        original = cached.cache.invalidate_many

        def counting(keys: Any) -> int:
            calls.append(1)
            return original(keys)

        monkeypatch.setattr(cached.cache, "invalidate_many", counting)
        await cached.update_product_stock(pid, -1)
        assert len(calls) == 1
        assert cached.stats().invalidations == 1
        fresh = await cached.get_item(_key(pid))
        assert fresh is not None and fresh["stock"] == 4


async def test_ttl_expiry_and_size_eviction_are_counted_apart(
    products: ProductRepository, counting: CountingLayer
) -> None:
    """Entries past their TTL count as expirations; live entries pushed out count as evictions."""
    clock = ManualClock()
    pids = [await _product(products) for _ in range(3)]
    async with CachedRepository(products, ttl=10, maxsize=2, clock=clock) as cached:
        await cached.get_product(pids[0])
        clock.advance(11)
        await cached.get_product(pids[0])  # expired: fetched again
        stats = cached.stats()
        assert (stats.expirations, stats.evictions, stats.misses) == (1, 0, 2)

        await cached.get_product(pids[1])
        await cached.get_product(pids[2])  # full: the least recently used live entry goes
        stats = cached.stats()
        assert (stats.expirations, stats.evictions, stats.size) == (1, 1, 2)

        clock.advance(10)
        stats = cached.stats()
        assert (stats.expirations, stats.evictions, stats.size) == (3, 1, 0)
        assert counting.calls["GetItem"] == 4


async def test_negative_entry_is_invalidated_by_a_later_create(
    repo: Repository, counting: CountingLayer
) -> None:
    """A cached "no such item" is dropped when the item is created through the cache."""
    key = {"PK": "USER#1", "SK": "PROFILE"}
    async with CachedRepository(repo, ttl=3600, negative_ttl=60) as cached:
        assert await cached.get_item(key) is None
        assert await cached.get_item(key) is None
        assert counting.calls["GetItem"] == 1  # the second miss came from the negative entry

        await cached.create_item({**key, "name": "Ada"})

        item = await cached.get_item(key)
        assert item is not None and item["name"] == "Ada"
        assert cached.stats().invalidations == 1


async def test_negative_entries_expire_on_their_own_shorter_ttl(
    repo: Repository, counting: CountingLayer
) -> None:
    """A negative entry lives for negative_ttl, not for the item TTL."""
    clock = ManualClock()
    key = {"PK": "USER#2", "SK": "PROFILE"}
    async with CachedRepository(repo, ttl=3600, negative_ttl=5, clock=clock) as cached:
        await cached.get_item(key)
        clock.advance(6)
        await cached.get_item(key)
        assert counting.calls["GetItem"] == 2
        assert cached.stats().expirations == 1


async def test_a_failure_reaches_every_waiter_and_is_not_cached(
    ddb_session: DynamoSession, products: ProductRepository, counting: CountingLayer
) -> None:
    """All readers sharing a failed fetch get its error; the next read fetches again."""
    pid = await _product(products, stock=5)
    hold = HoldLayer("GetItem", fail=True)
    ddb_session.add_layer(hold)
    async with CachedRepository(products, ttl=3600, negative_ttl=60) as cached:
        readers = [asyncio.create_task(cached.get_product(pid)) for _ in range(10)]
        await hold.answered.wait()
        hold.release.set()

        outcomes = await asyncio.gather(*readers, return_exceptions=True)

        assert all(isinstance(o, ServiceUnavailable) for o in outcomes)
        assert cached.stats().size == 0
        again = await cached.get_product(pid)
        assert again is not None and again["stock"] == 5
        assert counting.calls["GetItem"] == 2


async def test_cancelling_one_waiter_leaves_the_others_served(
    ddb_session: DynamoSession, products: ProductRepository, counting: CountingLayer
) -> None:
    """Cancelling the reader that started a fetch neither cancels it nor fails the others."""
    pid = await _product(products, stock=5)
    hold = HoldLayer("GetItem")
    ddb_session.add_layer(hold)
    async with CachedRepository(products, ttl=3600) as cached:
        readers = [asyncio.create_task(cached.get_product(pid)) for _ in range(3)]
        await hold.answered.wait()

        readers[0].cancel()
        hold.release.set()
        first, *others = await asyncio.gather(*readers, return_exceptions=True)

        assert isinstance(first, asyncio.CancelledError)
        assert all(isinstance(o, dict) and o["stock"] == 5 for o in others)
        assert counting.calls["GetItem"] == 1
        assert cached.stats().size == 1  # the fetch completed and was cached


async def test_consistent_reads_bypass_the_cache(
    products: ProductRepository, counting: CountingLayer
) -> None:
    """consistent=True always asks DynamoDB and leaves the cache alone."""
    pid = await _product(products)
    async with CachedRepository(products) as cached:
        await cached.get_product(pid, consistent=True)
        await cached.get_product(pid, consistent=True)
        assert counting.calls["GetItem"] == 2
        stats = cached.stats()
        assert (stats.size, stats.bypassed, stats.lookups) == (0, 2, 0)


async def test_batch_get_serves_hits_and_fetches_only_the_misses(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """A batch read sends only the keys the cache does not hold, and returns them all in order."""
    pids = [await _product(products, stock=i) for i in range(4)]
    sent: list[int] = []

    async def spy(request: Request, call_next: Call) -> Result:
        if request.operation == "BatchGetItem":
            sent.extend(len(t["Keys"]) for t in request.params["RequestItems"].values())
        return await call_next(request)

    ddb_session.add_layer(spy)
    async with CachedRepository(products, ttl=3600) as cached:
        await cached.batch_get_products(pids[:2])
        sent.clear()

        result = await cached.batch_get_products(pids)

        assert [p["stock"] for p in result] == [0, 1, 2, 3]
        assert sent == [2]
        assert cached.stats().hits == 2
        assert [p["stock"] for p in await cached.batch_get_products(pids)] == [0, 1, 2, 3]
        assert sent == [2]  # everything from the cache now


async def test_batch_get_joins_a_single_read_in_flight(
    ddb_session: DynamoSession, products: ProductRepository, counting: CountingLayer
) -> None:
    """A batch read of a key whose GetItem is in flight waits for it instead of asking again."""
    pid = await _product(products, stock=3)
    hold = HoldLayer("GetItem")
    ddb_session.add_layer(hold)
    async with CachedRepository(products, ttl=3600) as cached:
        single = asyncio.create_task(cached.get_item(_key(pid), projection=["PK", "SK", "stock"]))
        await hold.answered.wait()
        batch = asyncio.create_task(cached.batch_get([_key(pid)], projection=["stock"]))
        await asyncio.sleep(0)
        hold.release.set()

        assert (await batch)[0]["stock"] == 3
        assert (await single) == {"PK": pid, "SK": "DETAILS", "stock": 3}
        assert counting.calls["BatchGetItem"] == 0
        assert cached.stats().coalesced == 1


async def test_closing_cancels_fetches_in_flight_and_leaves_no_task(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """aclose() stops the shared fetch; its waiters get SessionClosed and no task is left."""
    pid = await _product(products)
    hold = HoldLayer("GetItem")
    ddb_session.add_layer(hold)
    cached = CachedRepository(products)
    readers = [asyncio.create_task(cached.get_product(pid)) for _ in range(2)]
    await hold.answered.wait()

    await cached.aclose()
    outcomes = await asyncio.gather(*readers, return_exceptions=True)

    assert all(isinstance(o, SessionClosed) for o in outcomes)
    assert not cached.cache._tasks
    assert await cached.get_product(pid) is not None  # a closed cache reads through


async def test_closing_gives_a_batch_get_joined_to_a_read_in_flight_session_closed(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """A batch_get waiting on another reader's fetch gets SessionClosed when the cache closes."""
    pid = await _product(products)
    hold = HoldLayer("GetItem")
    ddb_session.add_layer(hold)
    cached = CachedRepository(products)
    reader = asyncio.create_task(cached.get_product(pid))
    await hold.answered.wait()
    batch = asyncio.create_task(cached.batch_get_products([pid]))
    for _ in range(100):  # a few turns of the loop: every task reaches its wait
        if cached.stats().coalesced:
            break
        await asyncio.sleep(0)

    await cached.aclose()
    outcomes = await asyncio.gather(reader, batch, return_exceptions=True)

    assert [type(o) for o in outcomes] == [SessionClosed, SessionClosed]
    assert not cached.cache._tasks


async def test_metrics_hook_records_hits_and_misses(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """session.metrics.record_cache(table, hit, latency_s) is called once per lookup."""
    pid = await _product(products)
    records: list[tuple[str, bool]] = []

    class Metrics:
        def record_cache(self, table: str, hit: bool, latency_s: float) -> None:
            assert latency_s >= 0
            records.append((table, hit))

    ddb_session.metrics = Metrics()  # type: ignore[attr-defined]  # set by the metrics layer later
    async with CachedRepository(products) as cached:
        await cached.get_product(pid)
        await cached.get_product(pid)
    assert records == [(products.table_name, False), (products.table_name, True)]


async def test_product_methods_need_a_product_repository(repo: Repository) -> None:
    """Wrapping a plain Repository offers its methods only."""
    cached: Any = CachedRepository(repo)
    with pytest.raises(AttributeError, match="get_product"):
        await cached.get_product("PRODUCT#1")


class AuditedProducts(ProductRepository):
    """A user's own repository subclass with a read method the library has never heard of."""

    async def name_of(self, product_id: str) -> str | None:
        product = await self.get_product(product_id)
        return None if product is None else str(product["name"])


async def test_the_cached_copy_is_the_wrapped_class_and_caches_its_own_methods(
    products: ProductRepository, counting: CountingLayer
) -> None:
    """A cached user subclass is an instance of it; its own read methods hit the cache too."""
    audited = AuditedProducts(products.session, products.table_name)
    pid = await _product(products, stock=3)
    async with CachedRepository(audited, ttl=60) as cached:
        assert isinstance(cached, AuditedProducts) and isinstance(cached, CachedRepository)
        assert type(cached).__name__ == "CachedAuditedProducts"
        before = counting.calls.get("GetItem", 0)
        names = [await cached.name_of(pid) for _ in range(5)]
        assert names == [names[0]] * 5 and names[0] is not None
        assert counting.calls.get("GetItem", 0) - before == 1
        assert CachedRepository.of(cached).stats().hits == 4
        assert audited.session is products.session  # the original is left as it was


async def test_wrapping_something_else_or_twice_is_refused(products: ProductRepository) -> None:
    """Only a repository can be cached, once; CachedRepository.of refuses a plain one."""
    with pytest.raises(ValidationError) as err:
        CachedRepository(object())  # type: ignore[type-var]
    assert err.value.field == "repository"
    cached = CachedRepository(products)
    with pytest.raises(ValidationError, match="cached already"):
        CachedRepository(cached)
    with pytest.raises(ValidationError, match="not a CachedRepository"):
        CachedRepository.of(products)
    assert "__getattr__" not in vars(CachedRepository)


async def test_cached_reads_return_independent_objects(products: ProductRepository) -> None:
    """Mutating an item returned from the cache does not change what the cache returns next."""
    pid = await _product(products)
    async with CachedRepository(products) as cached:
        first: Any = await cached.get_product(pid)
        first["stock"] = -1
        second = await cached.get_product(pid)
    assert second is not None and second["stock"] == 5


async def test_a_write_through_another_repository_on_the_session_invalidates(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """A plain repository writing on the same session still makes the cached read fresh."""
    pid = await _product(products, stock=5)
    plain = ProductRepository(ddb_session, products.table_name)
    async with CachedRepository(products, ttl=3600) as cached:
        assert (await cached.get_product(pid) or {})["stock"] == 5

        await plain.update_product_stock(pid, -2)

        assert (await cached.get_product(pid) or {})["stock"] == 3


async def test_one_invalidation_layer_per_session(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """Any number of cached repositories on a session share one invalidation layer."""
    before = len(ddb_session.layers)
    repos = [CachedRepository(products) for _ in range(5)]
    assert len(ddb_session.layers) == before + 1
    assert sum(isinstance(x, CacheInvalidationLayer) for x in ddb_session.layers) == 1
    del repos


async def test_concurrent_reads_and_writes_end_with_the_stored_value(
    products: ProductRepository,
) -> None:
    """Reads racing 20 stock increments never leave the cache behind the table at the end."""
    pid = await _product(products, stock=0)
    async with CachedRepository(products, ttl=3600, maxsize=10) as cached:

        async def reader() -> None:
            for _ in range(5):
                await cached.get_product(pid)

        await asyncio.gather(
            *(cached.update_product_stock(pid, 1) for _ in range(20)),
            *(reader() for _ in range(40)),
        )

        stored = await products.get_product(pid, consistent=True)
        assert stored is not None and stored["stock"] == 20
        assert (await cached.get_product(pid) or {})["stock"] == 20
