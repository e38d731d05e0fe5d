"""Client CPU per GetItem: this checkout against another git revision, interleaved, one run.

    python benchmarks/bench_revisions.py --before 29f6886            # stub server, c=16 and 64
    python benchmarks/bench_revisions.py --before HEAD~3 --mode compatible --rounds 9

The other revision's ``aiodynamo_patterns/`` is exported with ``git archive`` into a temporary
folder and imported under another name (``aiodynamo_patterns_before``: its absolute imports are
rewritten, nothing else), so both versions run in the SAME process against the SAME server,
slice by slice in alternating order: a noisy neighbour or a warm CPU cache hits both alike.
Each slice is ``Repository.get_item`` through a default ``DynamoSession`` (every layer on) in a
closed loop of ``concurrency`` coroutines; CPU is ``time.process_time()`` of this process (the
stub server runs in another process, pinned to the other CPU when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import CREDS, SERVERS, Result, closed_loop_async, machine, server

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench-revisions"
ITEMS = 200
IMPORT = re.compile(r"\b(from|import)(\s+)aiodynamo_patterns\b")


def _export(rev: str, into: Path) -> ModuleType:
    """The package as it was at ``rev``, importable as ``aiodynamo_patterns_before``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "aiodynamo_patterns"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    package = into / "aiodynamo_patterns_before"
    (into / "aiodynamo_patterns").rename(package)
    for source in package.rglob("*.py"):
        text = source.read_text()
        source.write_text(IMPORT.sub(r"\1\2aiodynamo_patterns_before", text))
    sys.path.insert(0, str(into))
    return importlib.import_module("aiodynamo_patterns_before")


@contextlib.asynccontextmanager
async def _getter(
    package: ModuleType, endpoint: str, concurrency: int, mode: str
) -> AsyncIterator[Callable[[], Awaitable[object]]]:
    session = package.DynamoSession(
        endpoint_url=endpoint, max_concurrency=concurrency, mode=mode, **CREDS
    )
    async with session:
        repo = package.Repository(session, TABLE)
        counter = iter(range(10**12))

        async def get() -> object:
            return await repo.get_item({"PK": f"p#{next(counter) % ITEMS:04d}", "SK": "A"})

        yield get


async def _load(package: ModuleType, endpoint: str) -> None:
    async with package.DynamoSession(endpoint_url=endpoint, **CREDS) as session:
        await package.create_table(session, TABLE)
        items: list[dict[str, Any]] = [
            {"PK": f"p#{i:04d}", "SK": "A", "name": f"Product {i}", "price": 1999 + i, "stock": 7}
            for i in range(ITEMS)
        ]
        await package.Repository(session, TABLE).batch_write(puts=items)


async def _measure(args: argparse.Namespace, endpoint: str, before: ModuleType) -> None:
    import aiodynamo_patterns as after

    await _load(after, endpoint)
    versions = {f"before ({args.before})": before, "after (this checkout)": after}
    for concurrency in args.concurrency:
        results: dict[str, list[Result]] = {name: [] for name in versions}
        async with contextlib.AsyncExitStack() as stack:
            getters = {
                name: await stack.enter_async_context(
                    _getter(package, endpoint, concurrency, args.mode)
                )
                for name, package in versions.items()
            }
            names = list(getters)
            for round_ in range(args.rounds):
                order = names if round_ % 2 == 0 else names[::-1]
                for name in order:
                    results[name].append(
                        await closed_loop_async(
                            getters[name], concurrency, args.seconds, args.warmup
                        )
                    )
        print(f"\nc={concurrency} mode={args.mode}  ({args.rounds} interleaved slices each)")
        print("| version | GetItem client CPU us/op (median slice) | ops/s | errors |")
        print("|---|---|---|---|")
        medians = {}
        for name, slices in results.items():
            cpu = sorted(r.cpu_us_per_op for r in slices)[len(slices) // 2]
            ops = sum(r.ops for r in slices) / sum(r.seconds for r in slices)
            medians[name] = cpu
            print(f"| {name} | {cpu:.1f} | {ops:.0f} | {sum(r.errors for r in slices)} |")
        b, a = medians.values()
        print(f"after / before client CPU per GetItem: {a / b:.2f}x ({b - a:+.1f} us saved)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--server", "--backend", dest="server", choices=SERVERS, default="stub")
    parser.add_argument("--mode", choices=("fast", "compatible"), default="fast")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=7, help="slices per version")
    parser.add_argument("--seconds", type=float, default=0.6, help="per slice")
    parser.add_argument("--warmup", type=float, default=0.15, help="per slice")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp, server(args.server) as endpoint:
        before = _export(args.before, Path(tmp))
        asyncio.run(_measure(args, endpoint, before))


if __name__ == "__main__":
    main()
