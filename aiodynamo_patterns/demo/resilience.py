"""The demo's resilience section: faults on the wire, ridden out or failed fast, with figures.

A :class:`~aiodynamo_patterns.testing.FaultProxy` goes between a second session and the demo's
endpoint (plain HTTP endpoints only, such as the embedded server): a throttling storm, lost
responses to stock decreases, then an outage and the recovery.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from ..errors import CircuitOpen, DynamoError, InsufficientStock, OutcomeUnknown
from ..layers.breaker import BreakerConfig, BreakerSnapshot, BreakerState
from ..layers.retry import RetryStats
from ..products.repository import ProductRepository
from ..session import DynamoSession
from ..testing.fault_proxy import Fault, FaultProxy

__all__ = ["run"]

Say = Callable[[str], None]
DATA_PLANE = frozenset({"GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem"})


def _delta(after: RetryStats | None, before: RetryStats | None) -> dict[str, float]:
    assert after is not None and before is not None
    a, b = after.as_dict(), before.as_dict()
    return {
        k: a[k] - b[k] for k in ("calls", "attempts", "retries", "give_ups", "budget_exhausted")
    }


async def _credentials(session: DynamoSession) -> dict[str, Any]:
    creds = await session._aio_session.get_credentials()
    if creds is None:
        return {}
    frozen = await creds.get_frozen_credentials()
    return {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
        "aws_session_token": frozen.token,
    }


async def run(session: DynamoSession, table: str, say: Say) -> None:
    say("\n5. Resilience: faults injected on the wire between a session and the endpoint")
    endpoint = session.endpoint_url
    if endpoint is None or not endpoint.startswith("http://"):
        say("   skipped: the fault proxy needs a plain-HTTP endpoint (e.g. the embedded server)")
        return
    started = time.perf_counter()
    transitions: list[str] = []

    def on_transition(old: BreakerState, new: BreakerState, snap: BreakerSnapshot) -> None:
        transitions.append(f"{old.value}->{new.value} at +{time.perf_counter() - started:.2f}s")

    async with (
        FaultProxy(endpoint, operations=DATA_PLANE, seed=2026) as proxy,
        DynamoSession(
            endpoint_url=proxy.url,
            region_name=session.region_name,
            breaker=BreakerConfig(reset_timeout=1.0),
            **await _credentials(session),
        ) as faulty,
    ):
        assert faulty.breaker is not None
        faulty.breaker.add_listener(on_transition)
        products = ProductRepository(faulty, table)
        await _storm(faulty, products, proxy, say)
        await _lost_responses(faulty, products, proxy, say)
        await _outage(faulty, products, proxy, say)
    say(f"   breaker transitions: {', '.join(transitions) or 'none'}")


async def _storm(
    faulty: DynamoSession, products: ProductRepository, proxy: FaultProxy, say: Say
) -> None:
    seeds = [
        await products.create_product(
            {"name": f"Storm {i}", "price": 1, "stock": 100, "category": "demo-storm"}
        )
        for i in range(8)
    ]
    proxy.set_rates(throttle_rate=0.3)
    before = faulty.retry_stats()
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> object:
        async with gate:
            pid = seeds[i % len(seeds)]["product_id"]
            kind = i % 3
            if kind == 0:
                return await products.get_product(pid)
            if kind == 1:
                return await products.update_product_stock(pid, 1)
            return await products.create_product(
                {"name": f"Storm new {i}", "price": 2, "stock": 1, "category": "demo-storm-new"}
            )

    t0 = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(400)), return_exceptions=True)
    elapsed = time.perf_counter() - t0
    proxy.clear()
    after = faulty.retry_stats()
    d = _delta(after, before)
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    assert after is not None and faulty.breaker is not None
    say(
        f"   throttling storm (30% of requests answered ProvisionedThroughputExceeded): "
        f"{len(outcomes) - failed}/{len(outcomes)} mixed operations succeeded in {elapsed:.1f}s"
    )
    say(
        f"   {proxy.counts[Fault.THROTTLE]} throttles injected; {d['attempts']:.0f} attempts, "
        f"{d['retries']:.0f} retries ({100 * d['retries'] / max(1, d['attempts']):.1f}% of "
        f"attempts), {d['give_ups']:.0f} give-ups, budget exhausted {d['budget_exhausted']:.0f} "
        f"times, lowest budget {after.budget_low_water:g}/{after.budget_capacity:g} tokens; "
        f"breaker {faulty.breaker.state().state.value}"
    )


async def _lost_responses(
    faulty: DynamoSession, products: ProductRepository, proxy: FaultProxy, say: Say
) -> None:
    product = await products.create_product(
        {"name": "Lost answers", "price": 1, "stock": 150, "category": "demo-storm"}
    )
    pid = product["product_id"]
    drops = proxy.counts[Fault.DROP_RESPONSE]
    lost_ok, replays = proxy.dropped_successes, products.replays_recognised
    proxy.set_rates(drop_response_rate=0.2)
    outcomes = await asyncio.gather(
        *(products.update_product_stock(pid, -1) for _ in range(200)), return_exceptions=True
    )
    proxy.clear()
    ok = sum(isinstance(o, dict) for o in outcomes)
    refused = sum(isinstance(o, InsufficientStock) for o in outcomes)
    unknown = sum(isinstance(o, OutcomeUnknown) for o in outcomes)
    final = await products.get_product(pid, consistent=True)
    assert final is not None
    say(
        f"   20% of answers dropped after the write: 200 decreases on stock 150 -> {ok} applied, "
        f"{refused} refused, {unknown} OutcomeUnknown, final stock {final['stock']} "
        f"(150 - {ok}); {proxy.counts[Fault.DROP_RESPONSE] - drops} answers lost, "
        f"{proxy.dropped_successes - lost_ok} of them after an applied write, "
        f"{products.replays_recognised - replays} resends recognised as replays, "
        f"none applied twice"
    )


async def _outage(
    faulty: DynamoSession, products: ProductRepository, proxy: FaultProxy, say: Say
) -> None:
    assert faulty.breaker is not None
    pid = (
        await products.create_product(
            {"name": "Outage", "price": 1, "stock": 1, "category": "demo-storm"}
        )
    )["product_id"]
    await proxy.go_down()
    sent = faulty.stats().total_requests
    t0 = time.perf_counter()
    try:
        await products.get_product(pid)
    except DynamoError as exc:
        first = f"{type(exc).__name__} [{exc.code}]"
    else:  # pragma: no cover - the endpoint is down
        first = "success?"
    attempts = faulty.stats().total_requests - sent
    say(
        f"   outage (connections refused): the first call failed with {first} after {attempts} "
        f"attempts in {time.perf_counter() - t0:.2f}s; breaker "
        f"{faulty.breaker.state().state.value}"
    )
    sent = faulty.stats().total_requests
    latencies: list[float] = []
    fast = 0
    for _ in range(1000):
        t = time.perf_counter()
        try:
            await products.get_product(pid)
        except CircuitOpen:
            fast += 1
        latencies.append(time.perf_counter() - t)
    raw: list[float] = []
    params = {"TableName": products.table_name, "Key": {"PK": {"S": pid}, "SK": {"S": "DETAILS"}}}
    for _ in range(1000):
        t = time.perf_counter()
        try:
            await faulty.call("GetItem", params)
        except CircuitOpen:
            fast += 1
        raw.append(time.perf_counter() - t)
    latencies.sort()
    raw.sort()
    say(
        f"   next 2000 calls: {fast} CircuitOpen, {faulty.stats().total_requests - sent} "
        f"requests sent; per get_product median {statistics.median(latencies) * 1e6:.0f} us, "
        f"p99 {latencies[989] * 1e6:.0f} us, max {latencies[-1] * 1e6:.0f} us; per bare "
        f"session.call median {statistics.median(raw) * 1e6:.0f} us, "
        f"p99 {raw[989] * 1e6:.0f} us"
    )
    await proxy.come_up()
    snap = faulty.breaker.state()
    assert snap.opened_at is not None
    wait = max(0.0, snap.opened_at + faulty.breaker.config.reset_timeout - faulty.clock.now())
    await faulty.clock.sleep(wait + 0.05)
    back = await products.get_product(pid)
    say(
        f"   endpoint back: after reset_timeout one probe {'succeeded' if back else 'failed'}, "
        f"breaker {faulty.breaker.state().state.value}"
    )
