"""Hit-path cost of the read cache, against an uncached GetItem, measured in one run.

    .venv/bin/python benchmarks/bench_cache.py                 # embedded moto server (~2 ms/call)
    .venv/bin/python benchmarks/bench_cache.py --server stub   # benchmarks/stub_server.py, if present

Rows (each after a warm-up, sequential awaits on one event loop):

* ``uncached get_product``   ProductRepository.get_product: one GetItem over HTTP per call
* ``cached get_product``     CachedRepository.get_product on a cached key: the whole hit path
  (parameter building, key canonicalisation, cachetools lookup, item_from_wire, _public)
* ``ReadCache.lookup``       the cache core alone, for scale

Wall is ``time.perf_counter``; CPU is ``time.process_time`` of this process only (the server runs
in its own process, so the uncached CPU column is the client's share of a GetItem).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from aiodynamo_patterns import (
    CachedRepository,
    DynamoSession,
    ProductRepository,
    ensure_product_table,
)
from aiodynamo_patterns.keys import canonical as _canonical
from aiodynamo_patterns.local.backends import BACKENDS, local_server
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS

# benchmarks/ itself, for --server stub (stub_server.py sits next to this script)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


async def _measure(n: int, op: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(wall µs, CPU µs) per call of ``op``, over ``n`` sequential calls after a warm-up."""
    for _ in range(min(50, n)):
        await op()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await op()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall / n * 1e6, cpu / n * 1e6


async def _endpoint(stack: AsyncExitStack, server: str) -> str:
    if server != "stub":
        local = await stack.enter_async_context(local_server(server))
        return local.endpoint_url
    try:
        from stub_server import StubServer  # type: ignore[import-not-found]  # loadgen branch
    except ImportError:
        sys.exit("--server stub needs benchmarks/stub_server.py (from the loadgen branch)")
    stub = stack.enter_context(StubServer())
    return str(stub.endpoint_url)


async def main(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        endpoint = await _endpoint(stack, args.server)
        session = await stack.enter_async_context(
            DynamoSession(endpoint_url=endpoint, **DUMMY_CREDENTIALS)
        )
        await ensure_product_table(session, "bench-cache")
        products = ProductRepository(session, "bench-cache")
        product = await products.create_product(
            {"name": "Benchmark item", "price": 12.5, "stock": 7, "category": "bench"}
        )
        pid = product["product_id"]
        cached = await stack.enter_async_context(CachedRepository(products, ttl=3600))
        await cached.get_product(pid)

        uncached = await _measure(args.uncached, lambda: products.get_product(pid))
        hit = await _measure(args.hits, lambda: cached.get_product(pid))
        key = _canonical({"PK": {"S": pid}, "SK": {"S": "DETAILS"}})

        async def lookup() -> Any:
            return cached.cache.lookup("bench-cache", key, "*")

        core = await _measure(args.hits, lookup)
        stats = cached.stats()

    print(f"server: {args.server} ({endpoint}), python {sys.version.split()[0]}")
    print(f"{'path':<24} {'calls':>7} {'wall µs/get':>12} {'CPU µs/get':>11}")
    for name, calls, (wall, cpu) in (
        ("uncached get_product", args.uncached, uncached),
        ("cached get_product", args.hits, hit),
        ("ReadCache.lookup", args.hits, core),
    ):
        print(f"{name:<24} {calls:>7} {wall:>12.1f} {cpu:>11.1f}")
    print(
        f"uncached / cached hit: wall {uncached[0] / hit[0]:.0f}x, "
        f"client CPU {uncached[1] / hit[1]:.1f}x"
    )
    print(
        f"cache: hits {stats.hits}, misses {stats.misses}, "
        f"hit rate {stats.hit_rate_percent:.2f}%, size {stats.size}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", "--backend", dest="server", choices=[*BACKENDS, "stub"], default="moto"
    )
    parser.add_argument("--hits", type=int, default=20_000, help="cached calls measured")
    parser.add_argument("--uncached", type=int, default=500, help="uncached GetItem calls")
    asyncio.run(main(parser.parse_args()))
