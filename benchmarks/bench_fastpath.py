"""Client CPU per GetItem / per Query page and throughput: fast path vs everything else, one run.

    pip install -e '.[bench]'
    python benchmarks/bench_fastpath.py                       # stub server (benchmarks/stub_server.py)
    python benchmarks/bench_fastpath.py --server dynalite     # aiodynamo_patterns.local.dynalite
    python benchmarks/bench_fastpath.py --ops 1500 --rounds 3 --concurrency 16 64

Variants, all against the same server in the same process, interleaved round by round so a noisy
neighbour hits them alike:

- ``fast``        ``Repository.get_item`` / ``Repository.query`` on ``DynamoSession(mode="fast")``
                  (the library's whole request path: validation, placeholders, the session's layers,
                  the parameter check, the semaphore, the fast path, item decoding);
- ``compatible``  the same on ``DynamoSession(mode="compatible")`` (aiobotocore's own path, with
                  the library's cheap wins: no parameter validation, precomputed User-Agent);
- ``aiobotocore`` a raw aiobotocore client with its defaults (wire dicts in and out);
- ``boto3``       a boto3 client + ``TypeDeserializer`` in a thread pool of ``concurrency`` threads;
- ``aiodynamo``   ``aiodynamo`` (its own signer and JSON, on aiohttp) - the external reference.

Client CPU is ``time.process_time()`` of this process (every thread) over the operations; the
servers run in other processes (the stub pinned to another CPU when there are two). Ratios are
meaningful within one run only. Prints a Markdown table and the headline ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Key

from aiodynamo_patterns import DynamoSession, Repository, create_table
from aiodynamo_patterns.session import SessionMode

CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}
TABLE = "bench-fastpath"
ITEMS = 200
PAGE = 25
VARIANTS = ("fast", "compatible", "aiobotocore", "boto3", "aiodynamo")

Op = Callable[[int], Awaitable[object]]


def _item(i: int) -> dict[str, Any]:
    return {
        "PK": f"product#{i:05d}",
        "SK": "A",
        "name": f"Product {i}",
        "price": 1999 + i,
        "stock": 100,
        "category": "books",
        "tags": ["a", "b"],
        "active": True,
    }


def _page_item(j: int) -> dict[str, Any]:
    return {"PK": "category#books", "SK": f"{j:04d}", "name": f"Book {j}", "price": j, "stock": 7}


@contextlib.contextmanager
def _server(kind: str) -> Iterator[str]:
    cpus = sorted(os.sched_getaffinity(0))
    if kind == "stub":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from stub_server import StubServer  # the load-generator branch's stub, same folder

        with StubServer(cpu=cpus[0] if len(cpus) > 1 else None) as stub:
            if len(cpus) > 1:
                os.sched_setaffinity(0, {cpus[1]})
            yield stub.endpoint_url
    else:
        from aiodynamo_patterns.local.backends import local_server

        with local_server(kind) as server:
            yield server.endpoint_url


async def _load(endpoint: str) -> None:
    async with DynamoSession(endpoint_url=endpoint, **CREDS) as s:
        await create_table(s, TABLE)
        repo = Repository(s, TABLE)
        await repo.batch_write(puts=[_item(i) for i in range(ITEMS)])
        await repo.batch_write(puts=[_page_item(j) for j in range(PAGE * 2)])


@dataclass
class Sample:
    ops: int = 0
    cpu: float = 0.0
    wall: float = 0.0

    def add(self, ops: int, cpu: float, wall: float) -> None:
        self.ops += ops
        self.cpu += cpu
        self.wall += wall

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.ops

    @property
    def throughput(self) -> float:
        return self.ops / self.wall


async def _closed_loop(op: Op, ops: int, concurrency: int) -> tuple[float, float]:
    counter = iter(range(ops))

    async def worker() -> None:
        for i in counter:
            await op(i)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu0, time.perf_counter() - wall0


def _threads_loop(op: Callable[[int], object], ops: int, concurrency: int) -> tuple[float, float]:
    lock = threading.Lock()
    counter = iter(range(ops))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            op(i)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(worker) for _ in range(concurrency)]:
            f.result()
    return time.process_time() - cpu0, time.perf_counter() - wall0


Runner = Callable[[str, int], Awaitable[tuple[float, float]]]


@contextlib.asynccontextmanager
async def _variants(
    endpoint: str, concurrency: int, names: list[str]
) -> AsyncIterator[dict[str, Runner]]:
    """For each variant, ``run(kind, ops)`` with kind "get" or "query" -> (cpu s, wall s)."""
    runners: dict[str, Runner] = {}
    page_key = Key("PK").eq("category#books")
    wire_query = {
        "TableName": TABLE,
        "KeyConditionExpression": "#p = :v",
        "ExpressionAttributeNames": {"#p": "PK"},
        "ExpressionAttributeValues": {":v": {"S": "category#books"}},
        "Limit": PAGE,
    }

    def wire_key(i: int) -> dict[str, Any]:
        return {"PK": {"S": f"product#{i % ITEMS:05d}"}, "SK": {"S": "A"}}

    async with contextlib.AsyncExitStack() as stack:
        modes: tuple[SessionMode, ...] = ("fast", "compatible")
        for mode in modes:
            if mode not in names:
                continue
            session = await stack.enter_async_context(
                DynamoSession(
                    endpoint_url=endpoint, max_concurrency=concurrency, mode=mode, **CREDS
                )
            )
            assert session.fast_path_active == (mode == "fast")
            repo = Repository(session, TABLE)

            async def lib_get(i: int, repo: Repository = repo) -> object:
                return await repo.get_item({"PK": f"product#{i % ITEMS:05d}", "SK": "A"})

            async def lib_query(i: int, repo: Repository = repo) -> object:
                return await repo.query(page_key, limit=PAGE)

            def lib_run(
                kind: str, ops: int, get: Op = lib_get, query: Op = lib_query
            ) -> Awaitable[tuple[float, float]]:
                return _closed_loop(get if kind == "get" else query, ops, concurrency)

            runners[mode] = lib_run
        if "aiobotocore" in names:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session

            client = await stack.enter_async_context(
                get_session().create_client(
                    "dynamodb",
                    endpoint_url=endpoint,
                    config=AioConfig(max_pool_connections=concurrency),
                    **CREDS,
                )
            )

            async def raw_get(i: int) -> object:
                return await client.get_item(TableName=TABLE, Key=wire_key(i))

            async def raw_query(i: int) -> object:
                return await client.query(**wire_query)

            runners["aiobotocore"] = lambda kind, ops: _closed_loop(
                raw_get if kind == "get" else raw_query, ops, concurrency
            )
        if "boto3" in names:
            import boto3
            from boto3.dynamodb.types import TypeDeserializer
            from botocore.config import Config

            deserialize = TypeDeserializer().deserialize
            tclient = boto3.session.Session(**CREDS).client(
                "dynamodb", endpoint_url=endpoint, config=Config(max_pool_connections=concurrency)
            )
            stack.callback(tclient.close)

            def thread_get(i: int) -> object:
                item = tclient.get_item(TableName=TABLE, Key=wire_key(i)).get("Item") or {}
                return {k: deserialize(v) for k, v in item.items()}

            def thread_query(i: int) -> object:
                items = tclient.query(**wire_query)["Items"]
                return [{k: deserialize(v) for k, v in it.items()} for it in items]

            async def threads(kind: str, ops: int) -> tuple[float, float]:
                op = thread_get if kind == "get" else thread_query
                return await asyncio.to_thread(_threads_loop, op, ops, concurrency)

            runners["boto3"] = threads
        if "aiodynamo" in names:
            import aiohttp
            from aiodynamo.client import Client
            from aiodynamo.credentials import Key as AKey
            from aiodynamo.credentials import StaticCredentials
            from aiodynamo.expressions import HashKey
            from aiodynamo.http.aiohttp import AIOHTTP
            from yarl import URL

            http = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
            )
            table = Client(
                AIOHTTP(http), StaticCredentials(AKey("bench", "bench")), "us-east-1", URL(endpoint)
            ).table(TABLE)
            condition = HashKey("PK", "category#books")

            async def aio_get(i: int) -> object:
                return await table.get_item({"PK": f"product#{i % ITEMS:05d}", "SK": "A"})

            async def aio_query(i: int) -> object:
                return await table.query_single_page(condition, limit=PAGE)

            runners["aiodynamo"] = lambda kind, ops: _closed_loop(
                aio_get if kind == "get" else aio_query, ops, concurrency
            )
        yield {n: runners[n] for n in names}


async def _measure(endpoint: str, args: argparse.Namespace) -> dict[tuple[str, str, int], Sample]:
    await _load(endpoint)
    results: dict[tuple[str, str, int], Sample] = {}
    for concurrency in args.concurrency:
        async with _variants(endpoint, concurrency, args.variants) as runners:
            for run in runners.values():  # warm-up: connections, caches, the server's JIT
                await run("get", args.warmup)
                await run("query", max(args.warmup // 10, 10))
            for _ in range(args.rounds):
                for kind, ops in (("get", args.ops), ("query", max(args.ops // 5, 50))):
                    for name, run in runners.items():
                        cpu, wall = await run(kind, ops)
                        results.setdefault((name, kind, concurrency), Sample()).add(ops, cpu, wall)
    return results


def _report(results: dict[tuple[str, str, int], Sample], args: argparse.Namespace) -> None:
    print(f"\n{_machine()}")
    print(
        f"\nserver={args.server} ops/round={args.ops} rounds={args.rounds} (one run; ratios are within this run)"
    )
    print("| variant | c | GetItem CPU us/op | GetItem ops/s | Query page CPU us | Query pages/s |")
    print("|---|---|---|---|---|---|")
    for c in args.concurrency:
        for name in args.variants:
            g, q = results[(name, "get", c)], results[(name, "query", c)]
            print(
                f"| {name} | {c} | {g.cpu_us:.0f} | {g.throughput:.0f} | {q.cpu_us:.0f} | {q.throughput:.0f} |"
            )
    print()
    for c in args.concurrency:
        for kind, label in (("get", "GetItem"), ("query", "Query page")):
            fast = results.get(("fast", kind, c))
            if fast is None:
                continue
            ratios = []
            for other in ("aiodynamo", "aiobotocore", "compatible", "boto3"):
                o = results.get((other, kind, c))
                if o is not None:
                    ratios.append(f"{fast.cpu_us / o.cpu_us:.2f}x {other}")
            print(f"c={c} {label}: fast-path client CPU = " + ", ".join(ratios))
    for c in args.concurrency:
        fast, aio = results.get(("fast", "get", c)), results.get(("aiodynamo", "get", c))
        if fast and aio:
            verdict = "met" if fast.cpu_us <= 0.9 * aio.cpu_us else "NOT met"
            print(
                f"target fast <= 0.9x aiodynamo CPU per GetItem at c={c}: {fast.cpu_us / aio.cpu_us:.2f}x -> {verdict}"
            )


def _machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}, "
        f"load average {load:.1f} at the end of the run"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server",
        "--backend",
        dest="server",
        choices=("stub", "moto", "dynalite", "dynamodb-local"),
        default="stub",
    )
    parser.add_argument(
        "--ops", type=int, default=1500, help="GetItems per variant per round (Query: a fifth)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=300, help="GetItems per variant before measuring"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    with _server(args.server) as endpoint:
        results = asyncio.run(_measure(endpoint, args))
    _report(results, args)


if __name__ == "__main__":
    main()
