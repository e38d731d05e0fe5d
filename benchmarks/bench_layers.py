"""What each layer costs per GetItem, measured in one run: each layer alone vs no layer at all.

    python benchmarks/bench_layers.py                 # stub server, concurrency 16
    python benchmarks/bench_layers.py --server dynalite --concurrency 64

For every layer the installed library has (metrics, cache, retry, breaker: found by module and
class name, built with defaults) the client CPU per ``Repository.get_item`` with that one layer is
compared with the bare session, in interleaved slices (the median reported). A cache layer is
measured twice: every read on one hot key (hits after the first) and every read on a new key
(misses). Layers that are not on this install are listed as missing; nothing fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from _common import (
    CREDS,
    LAYER_CANDIDATES,
    SERVERS,
    Result,
    all_layers,
    bare_kwargs,
    closed_loop_async,
    machine,
    server,
    session_builtins,
)
from bench_get_item import KEYS, TABLE, _key, _load

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.loadgen.workload import product_id


async def _measure(
    endpoint: str, c: int, layers: list[Any], rounds: int, seconds: float, warmup: float
) -> dict[str, Result]:
    variants: dict[str, Callable[[float, float], Awaitable[Result]]] = {}
    rng = random.Random(2)
    builtins = session_builtins()
    async with contextlib.AsyncExitStack() as stack:

        async def repo_with(layer_list: list[Any], switches: dict[str, None]) -> Repository:
            session = await stack.enter_async_context(
                DynamoSession(
                    endpoint_url=endpoint,
                    max_concurrency=c,
                    layers=layer_list,
                    **switches,
                    **CREDS,
                )
            )
            return Repository(session, TABLE)

        def reads(repo: Repository) -> Callable[[float, float], Awaitable[Result]]:
            async def one() -> object:
                return await repo.get_item(_key(rng))

            return lambda s, w: closed_loop_async(one, c, s, w)

        variants["none"] = reads(await repo_with([], bare_kwargs()))
        variants["all"] = reads(await repo_with(layers, {}))
        for name in builtins:
            variants[f"{name} only"] = reads(await repo_with([], bare_kwargs(keep=(name,))))
        for layer in layers:
            name = type(layer).__name__
            repo = await repo_with([layer], bare_kwargs())
            if "cache" in name.lower():
                hot = {"PK": product_id(0), "SK": "DETAILS"}
                counter = itertools.count()

                async def hit(repo: Repository = repo, hot: dict[str, str] = hot) -> object:
                    return await repo.get_item(hot)

                async def miss(repo: Repository = repo, n: Any = counter) -> object:
                    # a key never asked before: the item does not exist, the cache misses
                    key = {"PK": product_id(KEYS + next(n)), "SK": "DETAILS"}
                    return await repo.get_item(key)

                variants[f"{name} hit"] = lambda s, w, op=hit: closed_loop_async(op, c, s, w)
                variants[f"{name} miss"] = lambda s, w, op=miss: closed_loop_async(op, c, s, w)
            else:
                variants[f"{name} only"] = reads(repo)
        slices: dict[str, list[Result]] = {n: [] for n in variants}
        order = list(variants)
        for round_no in range(rounds):
            random.Random(round_no).shuffle(order)
            for name in order:
                slices[name].append(await variants[name](seconds, warmup))
    return {
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


async def fail_fast_cost(calls: int = 2000) -> tuple[float, float, str] | None:
    """CPU per failing call on a dead endpoint: with the breaker open vs without a breaker."""
    import time

    if "breaker" not in session_builtins():
        return None
    dead = "http://127.0.0.1:9"  # discard port: connection refused at once
    key = {"PK": product_id(0), "SK": "DETAILS"}
    out: list[float] = []
    seen = ""
    for switches in (bare_kwargs(keep=("breaker",)), bare_kwargs()):
        async with DynamoSession(endpoint_url=dead, **switches, **CREDS) as session:
            repo = Repository(session, TABLE)
            for _ in range(50):  # enough consecutive failures to open the circuit
                with contextlib.suppress(Exception):
                    await repo.get_item(key)
            t0 = time.process_time()
            for _ in range(calls):
                try:
                    await repo.get_item(key)
                except Exception as exc:
                    if "breaker" in switches or not seen:
                        seen = seen or type(exc).__name__
            out.append((time.process_time() - t0) / calls * 1e6)
    return out[0], out[1], seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", "--backend", dest="server", choices=SERVERS, default="stub")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=0.6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=0.15)
    args = parser.parse_args()
    layers, names = all_layers()
    missing = [m for m, _ in LAYER_CANDIDATES if not any(m in n.lower() for n in names)]
    print(f"# machine: {machine()}")
    print(f"# layers found: {', '.join(names) or 'none'}; missing: {', '.join(missing) or 'none'}")
    with server(args.server) as endpoint:
        asyncio.run(_load(endpoint))
        results = asyncio.run(
            _measure(endpoint, args.concurrency, layers, args.rounds, args.seconds, args.warmup)
        )
    base = results["none"].cpu_us_per_op
    print(f"{'layer':<22} {'ops/s':>8} {'CPU us/op':>10} {'vs none':>8} {'errors':>7}")
    for name, r in results.items():
        print(
            f"{name:<22} {r.ops_per_s:>8,.0f} {r.cpu_us_per_op:>10,.0f} "
            f"{r.cpu_us_per_op / base:>8.3f} {r.errors:>7}"
        )
    if len(results) == 2:
        print("no layer is installed on this branch: 'all' and 'none' are the same session")
    cost = asyncio.run(fail_fast_cost())
    if cost is None:
        print("breaker fail-fast cost: no breaker on this install")
    else:
        print(
            f"failing get_item on a dead endpoint: breaker open {cost[0]:.0f} us CPU/call "
            f"({cost[2]}), no breaker (connection refused) {cost[1]:.0f} us CPU/call"
        )


if __name__ == "__main__":
    main()
