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

from _common import CREDS, LAYER_CANDIDATES, Result, all_layers, closed_loop_async, machine, server
from bench_get_item import KEYS, TABLE, _key, _load

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.loadgen_workload import product_id


async def _measure(
    endpoint: str, c: int, layers: list[Any], rounds: int, seconds: float, warmup: float
) -> dict[str, Result]:
    variants: dict[str, Callable[[float, float], Awaitable[Result]]] = {}
    rng = random.Random(2)
    async with contextlib.AsyncExitStack() as stack:

        async def repo_with(layer_list: list[Any]) -> Repository:
            session = await stack.enter_async_context(
                DynamoSession(endpoint_url=endpoint, max_concurrency=c, layers=layer_list, **CREDS)
            )
            return Repository(session, TABLE)

        bare = await repo_with([])

        async def bare_op() -> object:
            return await bare.get_item(_key(rng))

        variants["none"] = lambda s, w: closed_loop_async(bare_op, c, s, w)
        for layer in layers:
            name = type(layer).__name__
            repo = await repo_with([layer])
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

                async def one(repo: Repository = repo) -> object:
                    return await repo.get_item(_key(rng))

                variants[name] = lambda s, w, op=one: closed_loop_async(op, c, s, w)
        slices: dict[str, list[Result]] = {n: [] for n in variants}
        order = list(variants)
        for _ in range(rounds):
            random.Random(len(slices["none"])).shuffle(order)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("stub", "dynalite"), default="stub")
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
    if not layers:
        print("no layer is installed on this branch: only the bare session was measured")
    print(
        "breaker open fail-fast cost: not measured here (needs the breaker's API to force it open)"
    )


if __name__ == "__main__":
    main()
