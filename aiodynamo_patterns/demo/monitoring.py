"""Demo section: monitoring. Traffic, then the performance report of every call the demo made."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TableNotFound
from ..products.repository import ProductRepository
from ..session import DynamoSession

__all__ = ["run"]


async def run(
    session: DynamoSession,
    table: str,
    say: Callable[[str], None],
    *,
    metrics_json: str | None = None,
) -> None:
    say("\n7. Monitoring: every call measured once at the session's choke point, bounded memory")
    metrics = session.metrics
    if metrics is None:
        say("   metrics are switched off for this session (metrics=None)")
        return
    products = ProductRepository(session, table)
    created = await asyncio.gather(
        *(
            products.create_product(
                {"name": f"Monitored {i}", "price": 100 + i, "stock": 20, "category": "demo-mon"}
            )
            for i in range(5)
        )
    )
    ids = [p["product_id"] for p in created]
    await asyncio.gather(*(products.get_product(pid) for pid in ids for _ in range(3)))
    await products.batch_get_products(ids)
    with contextlib.suppress(TableNotFound):
        await session.call("GetItem", {"TableName": f"{table}-missing", "Key": {"PK": {"S": "x"}}})
    say("   traffic: 5 products created, each read 3 times, one batch read, one missing table")
    _report(metrics.snapshot(), say)
    if metrics_json:
        text = metrics.export_json() + "\n"
        await asyncio.to_thread(Path(metrics_json).write_text, text, encoding="utf-8")
        say(f"   metrics JSON written to {metrics_json}")


def _report(snap: dict[str, Any], say: Callable[[str], None]) -> None:
    say("\n   PERFORMANCE REPORT (the whole demo)")
    header = f"   {'operation':<20}{'count':>6}{'ok %':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    say(f"{header}{'RCU':>7}{'WCU':>7}")
    for name, op in snap["operations"].items():
        capacity = op["consumed_capacity"]
        say(
            f"   {name:<20}{op['count']:>6}{op['success_rate'] * 100:>7.1f}"
            f"{op['p50_ms']:>9.2f}{op['p95_ms']:>9.2f}{op['p99_ms']:>9.2f}"
            f"{capacity['read_units']:>7.1f}{capacity['write_units']:>7.1f}"
        )
    overall = snap["overall"]
    say(
        f"   overall: {overall['count']} calls, {overall['errors']} errors, "
        f"{overall['retries']} retries, {overall['throttles']} throttles, "
        f"{overall['ops_per_second']:.1f} ops/s over {snap['uptime_seconds']:.1f}s, "
        f"p99 {overall['p99_ms']:.2f} ms (histogram error <= "
        f"{snap['histogram_relative_error'] * 100:.2f} %)"
    )
    breakdown = [
        f"{op_name} {code} x{n}"
        for op_name, op in snap["operations"].items()
        for code, n in op["errors_by_code"].items()
    ]
    say(f"   errors: {', '.join(breakdown) if breakdown else 'none'}")
    for table_name, capacity in snap["capacity"].items():
        indexes = ", ".join(
            f"{index} {units['read_units']:g} RCU / {units['write_units']:g} WCU"
            for index, units in capacity["indexes"].items()
        )
        say(
            f"   consumed capacity on {table_name}: {capacity['read_units']:g} RCU, "
            f"{capacity['write_units']:g} WCU" + (f" (indexes: {indexes})" if indexes else "")
        )
    for table_name, cache in snap["cache"].items():
        say(
            f"   cache on {table_name}: {cache['hits']} hits, {cache['misses']} misses "
            f"(hit rate {cache['hit_rate'] * 100:.1f} %), lookup p50 {cache['p50_ms']:.3f} ms"
        )
    for pool in snap["pools"]:
        say(
            f"   pool: peak {pool['peak_in_flight']} of {pool['max_concurrency']} in flight, "
            f"longest wait for a slot {pool['max_wait_seconds'] * 1000:.1f} ms, "
            f"{pool['acquire_timeouts']} acquire timeouts"
        )
