"""What the metrics collector costs: CPU per call and memory, measured in one run.

    .venv/bin/python benchmarks/bench_metrics.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_metrics.py --quick    # smaller counts, for a smoke run

1. The layer's own CPU: the same calls through the pipeline with and without the metrics layers,
   against a fake innermost call that returns a response with ConsumedCapacity at once, so the
   difference is the collector's work alone (interleaved rounds, best round kept).
2. End to end against the embedded moto server: sequential GetItem calls from a session with
   ``metrics=None``, the same asking for ReturnConsumedCapacity by hand (the wire cost of reading
   real capacity: a longer response to parse), and a session with the default collector, in
   rounds whose order rotates (client process CPU only; the server is a child process). On a
   shared machine single rounds differ by tens of percent either way, so the headline ratio is
   the layer's own CPU (1) divided by the client CPU of one real call (2), and with it the CPU
   botocore spends parsing the ConsumedCapacity the collector asks for (measured offline).
3. Memory: tracemalloc's traced size after 1,000 recorded calls and after 1,000,000 (8 series,
   latencies spread over five decades), through the real layers on a manual clock.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import random
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from aiodynamo_patterns import DynamoSession, EmbeddedDynamo, MetricsCollector, Request
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.pipeline import Call, compose
from aiodynamo_patterns.tables import ensure_product_table
from aiodynamo_patterns.testing.clock import ManualClock

RESPONSE: dict[str, Any] = {
    "Item": {"PK": {"S": "p"}, "SK": {"S": "s"}},
    "ConsumedCapacity": {"TableName": "bench", "CapacityUnits": 0.5},
}


async def fake_dynamo(request: Request) -> dict[str, Any]:
    return RESPONSE


def request() -> Request:
    return Request("GetItem", {"TableName": "bench", "Key": {"PK": {"S": "p"}}}, True)


async def cpu_per_call(call: Call, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await call(request())
    return (time.process_time() - started) / calls


async def layer_cpu(calls: int, rounds: int) -> tuple[float, float]:
    collector = MetricsCollector()
    outer, probe = collector.layers()
    bare = compose([], fake_dynamo)
    measured = compose([outer, probe], fake_dynamo)
    best_bare = best_measured = math.inf
    for _ in range(rounds):
        best_bare = min(best_bare, await cpu_per_call(bare, calls))
        best_measured = min(best_measured, await cpu_per_call(measured, calls))
    return best_bare, best_measured


def capacity_parse_cpu(calls: int, rounds: int) -> float:
    """botocore's extra CPU to parse a GetItem response carrying ConsumedCapacity (INDEXES)."""
    import json

    import botocore.session
    from botocore import parsers

    operation = botocore.session.get_session().get_service_model("dynamodb")
    shape = operation.operation_model("GetItem").output_shape
    parser = parsers.create_parser("json")
    item = {"Item": {"PK": {"S": "p"}, "SK": {"S": "s"}}}
    consumed = {"TableName": "bench", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.5}}

    def per_call(body: dict[str, Any]) -> float:
        response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
        started = time.process_time()
        for _ in range(calls):
            parser.parse(response, shape)
        return (time.process_time() - started) / calls

    plain = with_capacity = math.inf
    for _ in range(rounds):
        plain = min(plain, per_call(item))
        with_capacity = min(with_capacity, per_call({**item, "ConsumedCapacity": consumed}))
    return with_capacity - plain


async def end_to_end(calls: int, rounds: int) -> dict[str, list[float]]:
    """Client CPU per GetItem for three variants, in rounds whose order rotates (no order bias)."""
    async with EmbeddedDynamo() as server:
        sessions = [
            DynamoSession(endpoint_url=server.endpoint_url, metrics=None, **DUMMY_CREDENTIALS),
            DynamoSession(endpoint_url=server.endpoint_url, **DUMMY_CREDENTIALS),
        ]
        async with sessions[0] as without, sessions[1] as with_metrics:
            await ensure_product_table(without, "bench")
            key = {"PK": {"S": "p"}, "SK": {"S": "s"}}
            await without.call("PutItem", {"TableName": "bench", "Item": key})
            plain = {"TableName": "bench", "Key": key}
            capacity = {**plain, "ReturnConsumedCapacity": "INDEXES"}
            variants = {
                "without": (without, plain),  # metrics=None
                "capacity": (without, capacity),  # metrics=None, capacity asked for by hand
                "with": (with_metrics, plain),  # the default collector (asks for capacity)
            }

            async def run(session: DynamoSession, params: dict[str, Any]) -> float:
                started = time.process_time()
                for _ in range(calls):
                    await session.call("GetItem", dict(params))
                return (time.process_time() - started) / calls

            for session, params in variants.values():  # warm the connection pools
                await run(session, params)
            results: dict[str, list[float]] = {name: [] for name in variants}
            names = list(variants)
            for r in range(rounds):
                for name in names[r % 3 :] + names[: r % 3]:
                    results[name].append(await run(*variants[name]))
    return results


async def memory(checkpoints: list[int]) -> tuple[list[int], int]:
    clock = ManualClock()
    collector = MetricsCollector(clock=clock)
    outer, probe = collector.layers()
    rng = random.Random(5)
    latencies = [rng.lognormvariate(math.log(0.005), 1.5) for _ in range(4096)]
    operations = ["GetItem", "PutItem", "Query", "UpdateItem"]
    tables = ["bench-a", "bench-b"]
    position = 0

    async def fake(req: Request) -> dict[str, Any]:
        nonlocal position
        position += 1
        clock.advance(latencies[position % 4096])
        return RESPONSE

    call = compose([outer, probe], fake)

    async def record(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            op = operations[i % 4]
            table = tables[(i >> 2) % 2]
            await call(Request(op, {"TableName": table}, True))

    tracemalloc.start()
    sizes = []
    done = 0
    for checkpoint in checkpoints:
        await record(checkpoint - done, done)
        done = checkpoint
        gc.collect()
        sizes.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    return sizes, sum(s.count for s in collector.series())


def table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


async def main(quick: bool) -> None:
    fake_calls, fake_rounds = (20_000, 3) if quick else (200_000, 5)
    e2e_calls, e2e_rounds = (50, 3) if quick else (100, 30)
    checkpoints = [1_000, 10_000, 100_000] if quick else [1_000, 100_000, 1_000_000]

    print("metrics collector cost (best of interleaved rounds, process CPU time)")
    bare, measured = await layer_cpu(fake_calls, fake_rounds)
    parse = capacity_parse_cpu(fake_calls // 10, fake_rounds)
    own = measured - bare
    print(f"\n1. layer CPU, fake innermost call ({fake_rounds} x {fake_calls:,} calls)")
    table(
        [
            ("pipeline without metrics", f"{bare * 1e6:8.2f} us/call"),
            ("pipeline with metrics", f"{measured * 1e6:8.2f} us/call"),
            ("collector's own CPU", f"{own * 1e6:8.2f} us/call"),
            ("botocore parsing ConsumedCapacity", f"{parse * 1e6:8.2f} us/call  (asked for by it)"),
        ]
    )

    runs = await end_to_end(e2e_calls, e2e_rounds)
    without = statistics.median(runs["without"])

    def cpu(name: str) -> str:
        values = runs[name]
        return (
            f"{statistics.median(values) * 1e6:8.1f} us/call median "
            f"(rounds {min(values) * 1e6:.0f}..{max(values) * 1e6:.0f})"
        )

    def versus(name: str) -> str:
        ratios = [b / a for a, b in zip(runs["without"], runs[name], strict=True)]
        return (
            f"{(statistics.median(ratios) - 1) * 100:+8.2f} %   (single rounds "
            f"{(min(ratios) - 1) * 100:+.0f} .. {(max(ratios) - 1) * 100:+.0f} %)"
        )

    print(
        f"\n2. end to end, GetItem on the embedded moto server "
        f"({e2e_rounds} rotating rounds x {e2e_calls} calls per variant)"
    )
    table(
        [
            ("client CPU, metrics=None", cpu("without")),
            ("  + ReturnConsumedCapacity by hand", cpu("capacity")),
            ("client CPU, default collector", cpu("with")),
            ("capacity vs none, median ratio", versus("capacity")),
            ("collector vs none, median ratio", versus("with")),
            ("collector's own CPU / real call", f"{own / without * 100:8.2f} %   (goal < 3 %)"),
            ("  + capacity parsing / real call", f"{(own + parse) / without * 100:8.2f} %"),
        ]
    )

    sizes, recorded = await memory(checkpoints)
    print(f"\n3. memory (tracemalloc), {recorded:,} calls recorded in 8 series")
    rows = [
        (f"after {n:,} calls", f"{size / 1024:8.1f} KiB")
        for n, size in zip(checkpoints, sizes, strict=True)
    ]
    rows.append(
        (
            f"growth {checkpoints[0]:,} -> {checkpoints[-1]:,}",
            f"{(sizes[-1] - sizes[0]) / 1024:+8.1f} KiB  (goal: flat; counters past 256 become int objects)",
        )
    )
    table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    runner: Callable[[], Awaitable[None]] = lambda: main(parser.parse_args().quick)  # noqa: E731
    asyncio.run(runner())
