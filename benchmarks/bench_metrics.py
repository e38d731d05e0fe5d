"""What the metrics collector costs: CPU per call and memory, measured in one run.

    .venv/bin/python benchmarks/bench_metrics.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_metrics.py --quick    # smaller counts, for a smoke run

1. The layer's own CPU: the same calls through the pipeline with and without the metrics layers,
   against a fake innermost call that returns a response with ConsumedCapacity at once, so the
   difference is the collector's work alone (interleaved rounds, best round kept).
2. End to end against the embedded moto server: sequential GetItem calls from a session with
   the default collector and from one with ``metrics=None``, in back-to-back paired rounds
   (client process CPU only; the server is a child process). On a shared machine the pairs
   differ by several percent either way, far more than the collector costs, so the headline
   ratio is the layer's own CPU (1) divided by the client CPU of one real call (2).
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
from aiodynamo_patterns.embedded import DUMMY_CREDENTIALS
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


async def end_to_end(calls: int, rounds: int) -> dict[str, list[float]]:
    async with EmbeddedDynamo() as server:
        sessions = [
            DynamoSession(endpoint_url=server.endpoint_url, metrics=None, **DUMMY_CREDENTIALS),
            DynamoSession(endpoint_url=server.endpoint_url, **DUMMY_CREDENTIALS),
        ]
        async with sessions[0] as without, sessions[1] as with_metrics:
            await ensure_product_table(without, "bench")
            params = {"TableName": "bench", "Key": {"PK": {"S": "p"}, "SK": {"S": "s"}}}
            await without.call("PutItem", {"TableName": "bench", "Item": params["Key"]})

            async def run(session: DynamoSession) -> float:
                started = time.process_time()
                for _ in range(calls):
                    await session.call("GetItem", dict(params))
                return (time.process_time() - started) / calls

            await run(without)  # warm both connection pools
            await run(with_metrics)
            results: dict[str, list[float]] = {"without": [], "with": []}
            for _ in range(rounds):
                results["without"].append(await run(without))
                results["with"].append(await run(with_metrics))
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
    e2e_calls, e2e_rounds = (100, 2) if quick else (125, 16)
    checkpoints = [1_000, 10_000, 100_000] if quick else [1_000, 100_000, 1_000_000]

    print("metrics collector cost (best of interleaved rounds, process CPU time)")
    bare, measured = await layer_cpu(fake_calls, fake_rounds)
    own = measured - bare
    print(f"\n1. layer CPU, fake innermost call ({fake_rounds} x {fake_calls:,} calls)")
    table(
        [
            ("pipeline without metrics", f"{bare * 1e6:8.2f} us/call"),
            ("pipeline with metrics", f"{measured * 1e6:8.2f} us/call"),
            ("collector's own CPU", f"{own * 1e6:8.2f} us/call"),
        ]
    )

    runs = await end_to_end(e2e_calls, e2e_rounds)
    without, with_metrics = statistics.median(runs["without"]), statistics.median(runs["with"])
    ratios = [b / a for a, b in zip(runs["without"], runs["with"], strict=True)]

    def spread(values: list[float]) -> str:
        return f"(rounds {min(values) * 1e6:.0f}..{max(values) * 1e6:.0f})"

    print(
        f"\n2. end to end, GetItem on the embedded moto server ({e2e_rounds} x {e2e_calls} calls)"
    )
    table(
        [
            (
                "client CPU, metrics=None",
                f"{without * 1e6:8.1f} us/call median {spread(runs['without'])}",
            ),
            (
                "client CPU, default collector",
                f"{with_metrics * 1e6:8.1f} us/call median {spread(runs['with'])}",
            ),
            (
                "A/B, median of paired rounds",
                f"{(statistics.median(ratios) - 1) * 100:+8.2f} %   "
                f"(pairs {(min(ratios) - 1) * 100:+.1f} .. {(max(ratios) - 1) * 100:+.1f} %: noise)",
            ),
            ("collector CPU / real call CPU", f"{own / without * 100:8.2f} %   (goal < 3 %)"),
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
            f"{(sizes[-1] - sizes[0]) / 1024:+8.1f} KiB  (goal: flat; counters past 256 become int objects once)",
        )
    )
    table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    runner: Callable[[], Awaitable[None]] = lambda: main(parser.parse_args().quick)  # noqa: E731
    asyncio.run(runner())
