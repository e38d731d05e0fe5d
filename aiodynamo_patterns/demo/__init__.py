"""The ``demo`` command: the production-patterns exercise, end to end, with a short report."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..errors import InsufficientStock, ItemNotFound
from ..products.repository import ProductRepository
from ..session import DynamoSession
from ..tables import ensure_product_table
from . import cache as demo_cache
from . import monitoring as demo_monitoring
from . import resilience as demo_resilience

SessionFactory = Callable[[str | None, str | None], AbstractAsyncContextManager[DynamoSession]]


def say(text: str = "") -> None:
    print(text, flush=True)


async def run_demo(args: argparse.Namespace, open_session: SessionFactory) -> None:
    started = time.perf_counter()
    async with open_session(args.endpoint_url, args.region) as session:
        where = session.endpoint_url or f"AWS ({session.region_name})"
        say(f"aiodynamo-patterns demo on {where}")
        created = await ensure_product_table(session, args.table)
        say(f"table {args.table}: {'created' if created else 'already there'}, ACTIVE")
        products = ProductRepository(session, args.table)
        await _repository(products)
        await _atomic_stock(products)
        await _pagination(products)
        await demo_cache.run(session, args.table, say)
        await demo_resilience.run(session, args.table, say)
        await _pool(session, products)
        await demo_monitoring.run(session, args.table, say, metrics_json=args.metrics_json)
    say(f"done in {time.perf_counter() - started:.1f}s")


async def _repository(products: ProductRepository) -> None:
    say("\n1. Repository: plain Python values in and out, every name and value a placeholder")
    product = await products.create_product(
        {
            "name": "Mechanical keyboard",
            "price": 89.99,
            "stock": 25,
            "category": "demo-peripherals",
            # reserved words as names and a value that looks like a placeholder: stored literally
            "status": "active",
            "size": "TKL",
            "note": ":v0 #n0 ) OR attribute_exists(PK",
        }
    )
    pid = product["product_id"]
    again = await products.get_product(pid)
    assert again is not None
    say(
        f"   created {pid[:20]}... price={again['price']} stock={again['stock']} "
        f"version={again['version']}"
    )
    say(f"   reserved-word attributes kept: status={again['status']!r} size={again['size']!r}")
    say(f"   placeholder-looking value stored literally: {again['note']!r}")


async def _atomic_stock(products: ProductRepository) -> None:
    say("\n2. Atomic stock: one conditional UpdateItem per change, never a phantom item")
    product = await products.create_product(
        {"name": "Limited edition", "price": 10, "stock": 20, "category": "demo-limited"}
    )
    pid = product["product_id"]
    outcomes = await asyncio.gather(
        *(products.update_product_stock(pid, -1) for _ in range(50)), return_exceptions=True
    )
    ok = sum(1 for o in outcomes if isinstance(o, dict))
    refused = sum(1 for o in outcomes if isinstance(o, InsufficientStock))
    final = await products.get_product(pid, consistent=True)
    assert final is not None
    say(
        f"   50 concurrent decreases on stock 20: {ok} applied, {refused} refused "
        f"(InsufficientStock), final stock {final['stock']}"
    )
    ghost = f"PRODUCT#{uuid.uuid4().hex}"
    try:
        await products.update_product_stock(ghost, -1)
    except ItemNotFound:
        created = await products.get_product(ghost, consistent=True)
        say(f"   decrease of a missing product: ItemNotFound, item created: {created is not None}")


async def _pagination(products: ProductRepository) -> None:
    say("\n3. Category query on GSI1 with pagination")
    category = f"demo-books-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        *(
            products.create_product(
                {"name": f"Book {i}", "price": 5 + i, "stock": i, "category": category}
            )
            for i in range(12)
        )
    )
    sizes: list[int] = []
    start: dict[str, Any] | None = None
    while True:
        page = await products.get_products_by_category(category, limit=5, start_key=start)
        if page.items:
            sizes.append(len(page.items))
        start = page.last_key
        if start is None:
            break
    say(f"   12 products in {category}: pages of {sizes} (limit 5)")


async def _pool(session: DynamoSession, products: ProductRepository) -> None:
    say("\n6. Connection pool: one client, a semaphore bounds the requests in flight")
    product = await products.create_product(
        {"name": "Popular", "price": 1, "stock": 1, "category": "demo-pool"}
    )
    started = time.perf_counter()
    await asyncio.gather(*(products.get_product(product["product_id"]) for _ in range(300)))
    elapsed = time.perf_counter() - started
    stats = session.stats()
    say(
        f"   300 concurrent reads in {elapsed:.2f}s ({300 / elapsed:,.0f}/s): peak "
        f"{stats.peak_in_flight} in flight of {stats.max_concurrency}, the rest queued "
        f"(longest wait {stats.max_wait_seconds:.2f}s, acquire_timeout {session.acquire_timeout:g}s)"
    )
    say(
        f"   session total: {stats.total_requests} requests, {stats.acquire_timeouts} acquire timeouts"
    )
