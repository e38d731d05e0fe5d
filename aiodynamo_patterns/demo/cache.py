"""Demo section: cached versus direct reads of one product, and a write that invalidates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..layers.cached_repository import CachedRepository
from ..products.repository import ProductRepository
from ..session import DynamoSession

__all__ = ["run"]

_READS = 200


async def run(session: DynamoSession, table: str, say: Callable[[str], None]) -> None:
    say("\n4. Read cache: TTL + LRU on cachetools, single-flight misses, invalidated by writes")
    products = ProductRepository(session, table)
    product = await products.create_product(
        {"name": "Hot item", "price": 19.99, "stock": 100, "category": "demo-cache"}
    )
    pid = product["product_id"]
    async with CachedRepository(products, ttl=30, maxsize=1000) as cached:
        controls = CachedRepository.of(cached)  # the same object, typed for its cache controls
        before = session.stats().total_requests
        started = time.perf_counter()
        for _ in range(_READS):
            await products.get_product(pid)
        direct = time.perf_counter() - started
        direct_requests = session.stats().total_requests - before

        before = session.stats().total_requests
        started = time.perf_counter()
        for _ in range(_READS):
            await cached.get_product(pid)
        through_cache = time.perf_counter() - started
        cached_requests = session.stats().total_requests - before
        stats = controls.stats()
        say(
            f"   {_READS} sequential reads of one product: direct {direct * 1e3:.1f} ms "
            f"({direct_requests} GetItem), cached {through_cache * 1e3:.1f} ms "
            f"({cached_requests} GetItem): {direct / through_cache:.0f}x faster, "
            f"hit rate {stats.hit_rate_percent:.1f}%"
        )

        other = await products.create_product(
            {"name": "Flash sale", "price": 5, "stock": 10, "category": "demo-cache"}
        )
        before = session.stats().total_requests
        await asyncio.gather(*(cached.get_product(other["product_id"]) for _ in range(100)))
        say(
            f"   100 concurrent reads of an uncached product: "
            f"{session.stats().total_requests - before} GetItem "
            f"({controls.stats().coalesced} joined the one in flight)"
        )

        await cached.update_product_stock(pid, -1)
        fresh = await cached.get_product(pid)
        assert fresh is not None
        stats = controls.stats()
        say(
            f"   stock change through the cache: next cached read sees stock {fresh['stock']} "
            f"(invalidations {stats.invalidations}, expirations {stats.expirations}, "
            f"evictions {stats.evictions}, size {stats.size})"
        )
