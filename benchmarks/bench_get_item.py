"""GetItem client cost, measured in one run: the library vs raw aiobotocore, boto3 threads, aiodynamo.

    python benchmarks/bench_get_item.py                     # stub server, concurrency 1 16 64 256
    python benchmarks/bench_get_item.py --server dynalite   # needs aiodynamo_patterns.local.dynalite
    python benchmarks/bench_get_item.py --concurrency 64 --seconds 3 --json out.json

The server runs in its own process pinned to one CPU and this client process to another, so the
client's CPU time per operation (``time.process_time`` of this process, all threads included) is
what is compared. Each cell is a closed loop of ``--seconds`` after ``--warmup``; the variants run
in ``--rounds`` interleaved slices (order shuffled each round, the median slice reported) against
the same server and data set (1,000 items, uniform keys), so that a neighbour's burst on a shared
machine hits every variant alike. Compare the ratios printed at the end: they come from one run.

Variants: ``raw`` aiobotocore ``get_item`` (wire dicts, no deserialisation); ``library``
``Repository.get_item`` through a ``DynamoSession`` with every layer the installed library has
(listed in the output); ``library-bare`` the same with no layers; ``threads`` boto3
``get_item`` + ``TypeDeserializer`` in a ``ThreadPoolExecutor`` of N threads (the classic way);
``aiodynamo`` ``Table.get_item`` on its aiohttp client (the external reference).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from _common import (
    CREDS,
    SERVERS,
    Result,
    all_layers,
    bare_kwargs,
    closed_loop_async,
    closed_loop_threads,
    machine,
    server,
    table,
)

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.loadgen.workload import ProductWorkload, product_id

TABLE = "bench-products"
KEYS = 1000
VARIANTS = ("raw", "library", "library-bare", "threads", "aiodynamo")


def _key(rng: random.Random) -> dict[str, str]:
    return {"PK": product_id(rng.randrange(KEYS)), "SK": "DETAILS"}


def _wire(key: dict[str, str]) -> dict[str, Any]:
    return {k: {"S": v} for k, v in key.items()}


async def _load(endpoint: str) -> None:
    async with DynamoSession(endpoint_url=endpoint, **CREDS) as session:  # type: ignore[arg-type]
        await ProductWorkload(session, TABLE, keys=KEYS).load()


Runner = Callable[[float, float], Awaitable[Result]]


async def _open_variants(
    stack: contextlib.AsyncExitStack, endpoint: str, c: int, names: list[str], layers: list[Any]
) -> dict[str, Runner]:
    """Open every client once per concurrency; each runner is one timed closed-loop slice."""
    runners: dict[str, Runner] = {}
    rng = random.Random(1)
    if "raw" in names:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            max_pool_connections=c, retries={"mode": "legacy", "total_max_attempts": 1}
        )
        client = await stack.enter_async_context(
            get_session().create_client("dynamodb", endpoint_url=endpoint, config=config, **CREDS)
        )

        async def raw_op() -> object:
            return await client.get_item(TableName=TABLE, Key=_wire(_key(rng)))

        runners["raw"] = lambda s, w: closed_loop_async(raw_op, c, s, w)
    for name, with_layers, switches in (
        ("library", layers, {}),
        ("library-bare", [], bare_kwargs()),
    ):
        if name not in names:
            continue
        session = await stack.enter_async_context(
            DynamoSession(
                endpoint_url=endpoint,
                max_concurrency=c,
                layers=with_layers,
                **switches,
                **CREDS,
            )
        )
        repo = Repository(session, TABLE)

        async def lib_op(repo: Repository = repo) -> object:
            return await repo.get_item(_key(rng))

        runners[name] = lambda s, w, op=lib_op: closed_loop_async(op, c, s, w)
    if "threads" in names:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer
        from botocore.config import Config

        deserialize = TypeDeserializer().deserialize
        tclient = boto3.session.Session(**CREDS).client(
            "dynamodb",
            endpoint_url=endpoint,
            config=Config(
                max_pool_connections=c, retries={"mode": "legacy", "total_max_attempts": 1}
            ),
        )
        stack.callback(tclient.close)

        def thread_op() -> object:
            item = tclient.get_item(TableName=TABLE, Key=_wire(_key(rng))).get("Item")
            return {k: deserialize(v) for k, v in item.items()} if item else None

        async def threads(s: float, w: float) -> Result:
            # the event loop only waits here; the threads do the work
            return await asyncio.to_thread(closed_loop_threads, thread_op, c, s, w)

        runners["threads"] = threads
    if "aiodynamo" in names:
        import aiohttp
        from aiodynamo.client import Client
        from aiodynamo.credentials import Key, StaticCredentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from yarl import URL

        http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c))
        )
        tbl = Client(
            AIOHTTP(http), StaticCredentials(Key("bench", "bench")), "us-east-1", URL(endpoint)
        ).table(TABLE)

        async def aiodynamo_op() -> object:
            return await tbl.get_item(_key(rng))

        runners["aiodynamo"] = lambda s, w: closed_loop_async(aiodynamo_op, c, s, w)
    return runners


async def run_concurrency(
    endpoint: str,
    c: int,
    names: list[str],
    layers: list[Any],
    rounds: int,
    seconds: float,
    warmup: float,
) -> dict[str, Result]:
    """``rounds`` interleaved slices per variant (order shuffled each round); the median slice."""
    slices: dict[str, list[Result]] = {n: [] for n in names}
    async with contextlib.AsyncExitStack() as stack:
        runners = await _open_variants(stack, endpoint, c, names, layers)
        order = list(names)
        shuffle = random.Random(c)
        for _ in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                slices[name].append(await runners[name](seconds, warmup))
    out = {}
    for name, results in slices.items():
        cpu = statistics.median(r.cpu_us_per_op for r in results)
        ops = statistics.median(r.ops_per_s for r in results)
        server = [r.server_us_per_op for r in results if r.server_us_per_op is not None]
        srv = statistics.median(server) if server else None
        wait = statistics.median(r.wait_seconds / r.seconds for r in results)
        # one Result carrying the medians (seconds=1 so ops_per_s == ops)
        out[name] = Result(
            ops=round(ops),
            seconds=1.0,
            cpu_seconds=cpu * round(ops) / 1e6,
            errors=sum(r.errors for r in results),
            server_cpu_seconds=srv * round(ops) / 1e6 if srv is not None else None,
            wait_seconds=wait,
        )
    return out


async def library_overhead(
    layers: list[Any], *, bare: bool, calls: int = 20_000, repeats: int = 5
) -> float:
    """CPU microseconds the library adds per ``Repository.get_item`` above the client call.

    The session's aiobotocore client answers ``get_item`` from memory (the bound method is
    replaced on the client instance), so what is timed is exactly the library's own work:
    parameters, placeholders, every layer (all of them, or none with ``bare``), the semaphore,
    item decoding. The best of ``repeats`` tight loops, as usual for CPU micro-timings.
    """
    import time

    from aiodynamo_patterns.expressions import item_to_wire
    from aiodynamo_patterns.loadgen.workload import product_item

    response = {"Item": item_to_wire(product_item(0, KEYS))}

    async def canned_get_item(**params: Any) -> dict[str, Any]:
        return response

    best = float("inf")
    async with DynamoSession(
        endpoint_url="http://127.0.0.1:9",
        layers=[] if bare else layers,
        **(bare_kwargs() if bare else {}),
        **CREDS,
    ) as session:
        session.client.get_item = canned_get_item  # type: ignore[method-assign]
        fast = getattr(session, "_fast", None)
        if fast is not None:  # mode="fast" (the default) sends GetItem without client.get_item

            async def canned_send(operation: str, params: dict[str, Any]) -> dict[str, Any]:
                return response

            fast.send = canned_send
        repo = Repository(session, TABLE)
        key = {"PK": product_id(0), "SK": "DETAILS"}
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(calls):
                await repo.get_item(key)
            best = min(best, (time.process_time() - t0) / calls * 1e6)
    return best


def plot(
    results: dict[tuple[int, str], Result],
    concurrency: list[int],
    variants: list[str],
    path: str,
    server_kind: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cpu_ax, ops_ax) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(variants)
    for i, name in enumerate(variants):
        xs = [k + i * width for k in range(len(concurrency))]
        cpu_ax.bar(xs, [results[c, name].cpu_us_per_op for c in concurrency], width, label=name)
        ops_ax.bar(xs, [results[c, name].ops_per_s for c in concurrency], width, label=name)
    for ax, title in ((cpu_ax, "client CPU us per GetItem"), (ops_ax, "GetItem ops/s")):
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(concurrency))])
        ax.set_xticklabels([f"c={c}" for c in concurrency])
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
    cpu_ax.legend(fontsize=8)
    fig.suptitle(f"GetItem against the {server_kind} ({machine()})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", "--backend", dest="server", choices=SERVERS, default="stub")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seconds", type=float, default=0.5, help="per slice")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved slices per variant")
    parser.add_argument("--warmup", type=float, default=0.15, help="per slice")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--plot", dest="plot_path", help="PNG: CPU per op and ops/s per variant")
    args = parser.parse_args()

    layers, layer_names = all_layers()
    print(f"# machine: {machine()}")
    print(f"# server: {args.server}; library layers: {', '.join(layer_names) or 'none yet'}")
    results: dict[tuple[int, str], Result] = {}
    with server(args.server) as endpoint:
        asyncio.run(_load(endpoint))
        for c in args.concurrency:
            per = asyncio.run(
                run_concurrency(
                    endpoint, c, args.variants, layers, args.rounds, args.seconds, args.warmup
                )
            )
            for name, r in per.items():
                results[c, name] = r
                print(
                    f"# c={c:<4} {name:<13} {r.ops_per_s:>8,.0f} ops/s "
                    f"{r.cpu_us_per_op:>7,.0f} us CPU/op  errors={r.errors}",
                    file=sys.stderr,
                )

    rows = [
        [
            "concurrency",
            "variant",
            "ops/s",
            "client CPU us/op",
            "ops/s per client core",
            "server CPU us/op",
            "client CPU-wait s/s",
            "errors",
        ]
    ]
    for (c, name), r in results.items():
        srv = r.server_us_per_op
        rows.append(
            [
                str(c),
                name,
                f"{r.ops_per_s:,.0f}",
                f"{r.cpu_us_per_op:,.0f}",
                f"{1e6 / r.cpu_us_per_op:,.0f}",
                f"{srv:,.0f}" if srv is not None else "-",
                f"{r.wait_seconds:.2f}",
                str(r.errors),
            ]
        )
    print(table(rows))
    print()
    ratios: list[dict[str, Any]] = []
    for c in args.concurrency:

        def get(name: str, c: int = c) -> Result | None:
            return results.get((c, name))

        raw, lib, bare = get("raw"), get("library"), get("library-bare")
        thr, aio = get("threads"), get("aiodynamo")
        row: dict[str, Any] = {"concurrency": c}
        if raw and lib:
            row["library_cpu_vs_raw"] = round(lib.cpu_us_per_op / raw.cpu_us_per_op, 3)
        if raw and bare:
            row["bare_cpu_vs_raw"] = round(bare.cpu_us_per_op / raw.cpu_us_per_op, 3)
        if lib and thr:
            row["library_ops_vs_threads"] = round(lib.ops_per_s / thr.ops_per_s, 3)
            # what one client core sustains: 1 / CPU per op (robust on a shared machine)
            row["library_core_capacity_vs_threads"] = round(
                thr.cpu_us_per_op / lib.cpu_us_per_op, 3
            )
        if raw and thr:
            row["raw_ops_vs_threads"] = round(raw.ops_per_s / thr.ops_per_s, 3)
        if raw and aio:
            row["aiodynamo_cpu_vs_raw"] = round(aio.cpu_us_per_op / raw.cpu_us_per_op, 3)
        ratios.append(row)
        print(
            "ratios at c={concurrency}: ".format(**row)
            + ", ".join(f"{k}={v}" for k, v in row.items() if k != "concurrency")
        )
    overhead = asyncio.run(library_overhead(layers, bare=False))
    overhead_bare = asyncio.run(library_overhead(layers, bare=True))
    raw64 = results.get((64, "raw"))
    for label, value in (("all layers", overhead), ("no layer", overhead_bare)):
        print(
            f"library's own CPU per get_item above the client call, {label} "
            f"(no I/O, best of 5): {value:.1f} us"
            + (
                f" = {value / raw64.cpu_us_per_op:.1%} of raw aiobotocore's "
                f"{raw64.cpu_us_per_op:.0f} us at c=64"
                if raw64
                else ""
            )
        )
    at64 = next((r for r in ratios if r["concurrency"] == 64), None)
    if at64:
        cpu = max(
            (
                r["library_cpu_vs_raw"]
                for r in ratios
                if r["concurrency"] > 1 and "library_cpu_vs_raw" in r
            ),
            default=None,
        )
        print(
            f"target: library CPU/op <= 1.10 x raw aiobotocore (c>1, worst): {cpu} -> "
            f"{'met' if cpu is not None and cpu <= 1.10 else 'NOT met'}"
        )
        thr_ratio = at64.get("library_ops_vs_threads")
        print(
            f"target: library ops/s >= 1.3 x boto3 threads at c=64 (measured): {thr_ratio} -> "
            f"{'met' if thr_ratio is not None and thr_ratio >= 1.3 else 'NOT met'}"
        )
        cap = at64.get("library_core_capacity_vs_threads")
        print(
            f"           per client core (1 / CPU per op) at c=64: {cap} -> "
            f"{'met' if cap is not None and cap >= 1.3 else 'NOT met'}"
        )
    if args.plot_path:
        plot(results, args.concurrency, args.variants, args.plot_path, args.server)
    if args.json_path:
        payload = {
            "machine": machine(),
            "server": args.server,
            "layers": layer_names,
            "seconds": args.seconds,
            "results": [
                {
                    "concurrency": c,
                    "variant": name,
                    "ops_per_s": round(r.ops_per_s, 1),
                    "cpu_us_per_op": round(r.cpu_us_per_op, 1),
                    "server_cpu_us_per_op": (
                        round(r.server_us_per_op, 1) if r.server_us_per_op is not None else None
                    ),
                    "client_cpu_wait_s_per_s": round(r.wait_seconds, 3),
                    "errors": r.errors,
                }
                for (c, name), r in results.items()
            ],
            "ratios": ratios,
            "library_overhead_us": round(overhead, 2),
            "library_overhead_bare_us": round(overhead_bare, 2),
        }
        with open(args.json_path, "w") as f:
            json.dump(payload, f, indent=2)


if __name__ == "__main__":
    main()
