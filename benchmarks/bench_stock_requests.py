"""UpdateItems sent and errors recorded per stock change (issue 12): bursts, a stream, rotations.

    PYTHONPATH=. python benchmarks/bench_stock_requests.py [--endpoint-url URL]

Without ``--endpoint-url`` it starts the embedded (serialised) moto server; request counts do not
depend on the server's speed. For each scenario it prints the UpdateItem requests that reached the
server (the metrics' attempt probe counts each one), per change, and the errors and protocol
resends recorded in ``session.metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiodynamo_patterns import DynamoSession, EmbeddedDynamo, ProductRepository
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.tables import create_table, delete_table

BURST = 100
STREAM = 200
ROTATE_EVERY = 50


class WallClock:
    """A wall clock the benchmark moves on, to rotate the replay window without waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _update_items(session: DynamoSession, changes: int) -> dict[str, Any]:
    assert session.metrics is not None
    series = [s for s in session.metrics.series() if s.operation == "UpdateItem"]
    sent = sum(s.attempts for s in series)
    return {
        "changes": changes,
        "update_items": sent,
        "per_change": round(sent / changes, 3),
        "errors": sum(sum(s.errors.values()) for s in series),
        "protocol_resends": sum(getattr(s, "protocol_resends", 0) for s in series),
    }


async def _product(products: ProductRepository, stock: int) -> str:
    created = await products.create_product(
        {"name": "bench", "price": 1, "stock": stock, "category": "bench"}
    )
    return str(created["product_id"])


async def _burst(session: DynamoSession, writer: ProductRepository, pid: str) -> dict[str, Any]:
    assert session.metrics is not None
    session.metrics.reset()
    await asyncio.gather(*(writer.update_product_stock(pid, -1) for _ in range(BURST)))
    return _update_items(session, BURST)


async def measure(endpoint: str) -> dict[str, Any]:
    async with DynamoSession(endpoint_url=endpoint, **DUMMY_CREDENTIALS) as session:
        table = "bench-stock"
        await create_table(session, table)
        try:
            clock = WallClock()
            products = ProductRepository(session, table, wall_clock=clock)
            result: dict[str, Any] = {}
            pid = await _product(products, BURST)
            result["burst, the writer created it"] = await _burst(session, products, pid)
            pid = await _product(products, BURST)
            other = ProductRepository(session, table, wall_clock=clock)  # never saw the item
            result["burst, another writer"] = await _burst(session, other, pid)
            pid = await _product(products, BURST)
            clock.now += products.replay.window
            result["burst, at a window rotation"] = await _burst(session, products, pid)

            pid = await _product(products, STREAM)
            assert session.metrics is not None
            session.metrics.reset()
            for i in range(STREAM):
                if i and i % ROTATE_EVERY == 0:
                    clock.now += products.replay.window
                await products.update_product_stock(pid, -1)
            name = f"stream, window rotating every {ROTATE_EVERY} changes"
            result[name] = _update_items(session, STREAM)
            return result
        finally:
            await delete_table(session, table)


def _table(result: dict[str, Any]) -> str:
    lines = ["| scenario | changes | UpdateItems | per change | errors | protocol resends |"]
    lines.append("|---|---|---|---|---|---|")
    for name, r in result.items():
        lines.append(
            f"| {name} | {r['changes']} | {r['update_items']} | {r['per_change']} "
            f"| {r['errors']} | {r['protocol_resends']} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=None, help="default: embedded moto (serialised)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.endpoint_url:
        result = await measure(args.endpoint_url)
    else:
        async with EmbeddedDynamo() as server:
            result = await measure(server.endpoint_url)
    print(json.dumps(result, indent=2) if args.json else _table(result))


if __name__ == "__main__":
    asyncio.run(main())
