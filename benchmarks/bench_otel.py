"""What OpenTelemetryLayer costs per GetItem: a default session with and without it.

    python benchmarks/bench_otel.py                   # stub server, concurrency 16
    python benchmarks/bench_otel.py --server moto --mode compatible

Three sessions with the default built-in layers (metrics, retry, breaker), in interleaved
slices (the median reported): without the layer; with it on OpenTelemetry's no-op API (no SDK
configured: what an application that installs the extra but exports nothing pays); with it on
the SDK (a TracerProvider with a synchronous processor whose exporter drops the spans, and a
MeterProvider with an in-memory reader: span building, attributes, ending and the histogram,
without the network cost of an exporter). Then the layer alone around a scripted innermost call
(no I/O, no other layer), the steadier figure on a busy machine. Needs the ``otel`` extra and
``opentelemetry-sdk``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from _common import CREDS, SERVERS, Result, closed_loop_async, machine, server
from bench_get_item import TABLE, _key, _load
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.otel import OpenTelemetryLayer
from aiodynamo_patterns.pipeline import Layer, Request, compose
from aiodynamo_patterns.testing import ScriptedCall


class _Drop(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def _measure(
    endpoint: str, c: int, mode: str, rounds: int, seconds: float, warmup: float
) -> tuple[dict[str, Result], int]:
    rng = random.Random(2)
    exporter = _Drop()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    variants: dict[str, Callable[[float, float], Awaitable[Result]]] = {}
    async with contextlib.AsyncExitStack() as stack:

        async def reads(layers: list[Any]) -> Callable[[float, float], Awaitable[Result]]:
            session = await stack.enter_async_context(
                DynamoSession(
                    endpoint_url=endpoint, max_concurrency=c, mode=mode, layers=layers, **CREDS
                )
            )
            repo = Repository(session, TABLE)

            async def one() -> object:
                return await repo.get_item(_key(rng))

            return lambda s, w: closed_loop_async(one, c, s, w)

        variants["no otel"] = await reads([])
        variants["otel, no-op API"] = await reads([OpenTelemetryLayer()])
        variants["otel, SDK"] = await reads([OpenTelemetryLayer(tracer_provider, meter_provider)])
        slices: dict[str, list[Result]] = {n: [] for n in variants}
        order = list(variants)
        for round_no in range(rounds):
            random.Random(round_no).shuffle(order)
            for name in order:
                slices[name].append(await variants[name](seconds, warmup))
    tracer_provider.shutdown()
    meter_provider.shutdown()
    results = {
        name: Result(
            ops=round(statistics.median(r.ops_per_s for r in rs)),
            seconds=1.0,
            cpu_seconds=statistics.median(r.cpu_us_per_op for r in rs)
            * round(statistics.median(r.ops_per_s for r in rs))
            / 1e6,
            errors=sum(r.errors for r in rs),
        )
        for name, rs in slices.items()
    }
    return results, exporter.spans


async def _alone(calls: int = 20_000, rounds: int = 5) -> dict[str, float]:
    """CPU microseconds per call the layer adds around a scripted call (median of ``rounds``)."""
    import time

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    answer = {"Item": {"PK": {"S": "p"}}, "ResponseMetadata": {"RequestId": "r"}}
    variants: dict[str, list[Layer]] = {
        "bare": [],
        "no-op API": [OpenTelemetryLayer()],
        "SDK": [OpenTelemetryLayer(tracer_provider, meter_provider)],
    }
    per_call: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, layers in variants.items():
            call = compose(layers, ScriptedCall(default=answer))
            t0 = time.process_time()
            for _ in range(calls):
                params = {"TableName": TABLE, "Key": {"PK": {"S": "p"}, "SK": {"S": "s"}}}
                await call(Request("GetItem", params, True, endpoint="http://127.0.0.1:8000"))
            per_call[name].append((time.process_time() - t0) / calls * 1e6)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    bare = statistics.median(per_call["bare"])
    return {name: statistics.median(v) - bare for name, v in per_call.items() if name != "bare"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", "--backend", dest="server", choices=SERVERS, default="stub")
    parser.add_argument("--mode", choices=("fast", "compatible"), default="fast")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=0.6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.15)
    args = parser.parse_args()
    print(f"# machine: {machine()}; mode={args.mode} concurrency={args.concurrency}")
    with server(args.server) as endpoint:
        asyncio.run(_load(endpoint))
        results, exported = asyncio.run(
            _measure(endpoint, args.concurrency, args.mode, args.rounds, args.seconds, args.warmup)
        )
    base = results["no otel"].cpu_us_per_op
    print(f"{'variant':<18} {'ops/s':>8} {'CPU us/op':>10} {'vs none':>8} {'+us/op':>7}")
    for name, r in results.items():
        print(
            f"{name:<18} {r.ops_per_s:>8,.0f} {r.cpu_us_per_op:>10,.1f} "
            f"{r.cpu_us_per_op / base:>8.3f} {r.cpu_us_per_op - base:>7.1f}"
        )
    print(f"# spans exported (and dropped) by the SDK variant: {exported:,}")
    for name, extra in asyncio.run(_alone()).items():
        print(f"the layer alone, {name}: +{extra:.1f} us CPU per call (scripted call, no I/O)")


if __name__ == "__main__":
    main()
