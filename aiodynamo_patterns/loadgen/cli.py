"""``aiodynamo-patterns load``: the load generator on the command line.

Loads the product data set, runs the mix (closed model, or open with ``--rate``), optionally runs
the same workload the classic way (``--threads``: boto3 in a thread pool) right after it, and
prints the reports side by side; ``--json`` and ``--plot`` write them to files. The first Ctrl-C
stops the run and still reports; a second one cancels it.

While it runs, a terminal shows a live view refreshed each --interval (per operation ops/s,
p50/p99, errors; per DynamoDB call throttles and retries; pool, retry budget, breakers); when
stdout or stderr is not a terminal, or with --no-live, one plain line per interval on stderr.

Without --endpoint-url it starts a local server (--backend: moto by default, which applies one
request at a time, so its ceiling of a few hundred ops/s is moto's, not DynamoDB's; dynalite or
dynamodb-local). The endpoint measured is printed first and recorded in the JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..local.backends import add_endpoint_arguments, local_server
from ..local.moto import CEILING_GETITEM_OPS, CEILING_MIXED_OPS
from ..session import DynamoSession
from .workload import ProductWorkload, ThreadWorkload, parse_mix

if TYPE_CHECKING:  # the loadgen extra (hdrhistogram, ...) is imported only when `load` runs
    from .generator import LoadGenerator, Operation
    from .live import LiveView
    from .report import LoadReport

__all__ = ["add_load_parser", "describe_endpoint", "run_load"]

#: the mix operations that are GetItem and nothing else
_GETITEM_ONLY = frozenset({"get", "cached_get"})


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default after its help; an option
    whose default is None or a flag says in its own words what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def add_load_parser(sub: Any) -> None:
    load = sub.add_parser(
        "load",
        help="run a workload mix and report throughput and tail latency",
        description=__doc__,
        formatter_class=_HelpFormatter,
    )
    add_endpoint_arguments(load)
    load.add_argument("--table", default="aiodynamo-patterns-load", help="table name")
    bound = load.add_argument_group("bounds")
    bound.add_argument("--duration", type=float, default=10.0, help="seconds to measure")
    bound.add_argument(
        "--count",
        type=int,
        default=None,
        help="stop after N measured ops (default: none, --duration bounds the run)",
    )
    bound.add_argument(
        "--warmup", type=float, default=1.0, help="seconds run first and excluded from figures"
    )
    model = load.add_argument_group("model")
    model.add_argument("--concurrency", type=int, default=16, help="workers / max in flight")
    model.add_argument(
        "--rate",
        type=float,
        default=None,
        help="ops/s: open model (default: none, the closed model)",
    )
    model.add_argument(
        "--arrival",
        choices=("constant", "poisson"),
        default="constant",
        help="spacing of the open model's start times",
    )
    work = load.add_argument_group("workload")
    work.add_argument(
        "--mix",
        default="get=80,update=20",
        help="weights over get, cached_get, put, update, stock, query, batch_get",
    )
    work.add_argument("--keys", type=int, default=1000, help="products in the data set")
    work.add_argument("--zipf", type=float, default=0.0, help="key skew exponent (0: uniform)")
    work.add_argument("--hot-keys", type=int, default=8, help="products the stock op contends on")
    work.add_argument(
        "--seed", type=int, default=None, help="random seed (default: a different run each time)"
    )
    work.add_argument("--no-load", action="store_true", help="reuse a data set already loaded")
    out = load.add_argument_group("output")
    out.add_argument("--threads", action="store_true", help="also run boto3 in a thread pool")
    out.add_argument("--json", dest="json_path", help="write the report(s) as JSON")
    out.add_argument("--plot", dest="plot_path", help="write a PNG of latency and throughput")
    out.add_argument("--interval", type=float, default=1.0, help="time-series bucket seconds")
    out.add_argument(
        "--no-live", action="store_true", help="one plain line per interval, even on a terminal"
    )
    out.add_argument("--quiet", action="store_true", help="no live view or interval lines")


def describe_endpoint(url: str, mix: Mapping[str, float], *, backend: str | None) -> dict[str, Any]:
    """What a run measures, as printed and recorded in the JSON report: the URL, the local server
    started for it (``backend``, None for an ``--endpoint-url``) and, for the embedded moto
    server, its approximate ceiling for this mix."""
    if backend is None:
        return {"url": url, "embedded": False, "ceiling_ops_s": None, "description": url}
    if backend != "moto":
        return {
            "url": url,
            "embedded": True,
            "backend": backend,
            "ceiling_ops_s": None,
            "description": f"local {backend} at {url} (this measures {backend}, not DynamoDB)",
        }
    reads_only = {name for name, weight in mix.items() if weight > 0} <= _GETITEM_ONLY
    ceiling = CEILING_GETITEM_OPS if reads_only else CEILING_MIXED_OPS
    kind = "GetItem" if reads_only else "mixed"
    return {
        "url": url,
        "embedded": True,
        "backend": backend,
        "ceiling_ops_s": ceiling,
        "description": (
            f"embedded moto at {url} (requests serialised, ~{ceiling} {kind} ops/s ceiling on "
            "a 2-core machine: this measures moto, not DynamoDB; pass --backend "
            "dynamodb-local or --endpoint-url for another endpoint)"
        ),
    }


def run_load(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run the ``load`` subcommand; returns the exit code."""
    try:
        from .live import LiveView  # noqa: F401  # rich, needed once the run starts
        from .report import format_table, plot_reports
    except ImportError as exc:
        print(
            f"error: {exc.name} is missing: pip install 'aiodynamo-patterns[loadgen]'",
            file=sys.stderr,
        )
        return 1
    mix = parse_mix(args.mix)
    endpoint: dict[str, Any] = {}
    reports = asyncio.run(_run(args, mix, out, endpoint))
    settings = {
        k: v for k, v in vars(args).items() if k not in ("command", "json_path", "plot_path")
    }
    out(f"endpoint: {endpoint['description']}")
    out(format_table(reports))
    if args.json_path:
        payload = {
            "endpoint": endpoint,
            "settings": settings,
            "reports": {r.label: r.as_dict() for r in reports},
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        out(f"JSON report: {args.json_path}")
    if args.plot_path:
        plot_reports(reports, args.plot_path, title=f"load: {args.mix}")
        out(f"plot: {args.plot_path}")
    return 130 if any(r.stopped_early for r in reports) else 0


def _generator(
    args: argparse.Namespace,
    ops: Mapping[str, Operation],
    mix: Mapping[str, float],
    label: str,
    observe: Mapping[str, object],
) -> LoadGenerator:
    from .generator import LoadGenerator

    return LoadGenerator(
        ops,
        mix,
        concurrency=args.concurrency,
        rate=args.rate,
        arrival=args.arrival,
        duration=None if args.count is not None else args.duration,
        count=args.count,
        warmup=args.warmup,
        seed=args.seed,
        interval=args.interval,
        progress=False,  # the live view (loadgen/live.py) replaces the generator's tqdm bar
        observe=observe,
        label=label,
    )


def _live_view(
    args: argparse.Namespace, gen: LoadGenerator, session: DynamoSession | None
) -> LiveView | None:
    """The view beside the run: None with --quiet; rich's Live only when both stdout and stderr
    are terminals (a redirected report must not fill with frames), else one line per interval."""
    if args.quiet:
        return None
    from .live import LiveView

    live = not args.no_live and sys.stdout.isatty() and sys.stderr.isatty()
    return LiveView(gen, session, live=live, file=sys.stderr)


async def _run_with_signals(
    gen: LoadGenerator, args: argparse.Namespace, session: DynamoSession | None = None
) -> LoadReport:
    view = _live_view(args, gen, session)
    viewer = asyncio.create_task(view.run()) if view is not None else None
    try:
        return await _run_handling_sigint(gen)
    finally:
        if viewer is not None:
            viewer.cancel()
            await asyncio.gather(viewer, return_exceptions=True)


async def _run_handling_sigint(gen: LoadGenerator) -> LoadReport:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_sigint() -> None:
        if gen.report is None and not getattr(gen, "_stopping", False):
            gen.stop()
        elif task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        installed = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        installed = False
    try:
        return await gen.run()
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


async def _run(
    args: argparse.Namespace,
    mix: Mapping[str, float],
    out: Callable[[str], None],
    described: dict[str, Any],
) -> list[LoadReport]:
    async with AsyncExitStack() as stack:
        credentials: dict[str, Any]
        if args.endpoint_url is None:
            server = await stack.enter_async_context(local_server(args.backend))
            endpoint, credentials = server.endpoint_url, dict(server.credentials)
        else:
            endpoint = args.endpoint_url
            credentials = {"region_name": args.region} if args.region else {}
        described.update(
            describe_endpoint(endpoint, mix, backend=None if args.endpoint_url else args.backend)
        )
        print(f"measuring {described['description']}", file=sys.stderr)
        session = await stack.enter_async_context(
            DynamoSession(
                endpoint_url=endpoint, max_concurrency=max(1, args.concurrency), **credentials
            )
        )
        workload = ProductWorkload(
            session,
            args.table,
            keys=args.keys,
            zipf=args.zipf,
            hot_keys=args.hot_keys,
            seed=args.seed,
        )
        if not args.no_load:
            print(f"loading {args.keys} products into {args.table} ...", file=sys.stderr)
            await workload.load()
        observe: dict[str, object] = {"session": session}
        for layer in session.layers:
            observe[type(layer).__name__] = layer
        ops = workload.operations(mix)
        if workload.cached_repo is not None:
            observe["cache"] = workload.cached_repo
        try:
            gen = _generator(args, ops, mix, "asyncio", observe)
            reports = [await _run_with_signals(gen, args, session)]
        finally:
            if workload.cached_repo is not None:
                await workload.cached_repo.aclose()
        if args.threads and not reports[0].stopped_early:
            reports.append(await _run_threads(args, mix, endpoint, credentials))
        return reports


async def _run_threads(
    args: argparse.Namespace,
    mix: Mapping[str, float],
    endpoint: str,
    credentials: Mapping[str, Any],
) -> LoadReport:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session(**credentials).client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(
            max_pool_connections=max(1, args.concurrency),
            retries={"mode": "legacy", "total_max_attempts": 1},
        ),
    )
    pool = ThreadPoolExecutor(max_workers=max(1, args.concurrency), thread_name_prefix="boto3")
    loop = asyncio.get_running_loop()
    try:
        sync_ops = ThreadWorkload(
            client, args.table, keys=args.keys, zipf=args.zipf, hot_keys=args.hot_keys
        ).operations(mix)

        def in_pool(fn: Callable[[], object]) -> Operation:
            async def op() -> object:
                return await loop.run_in_executor(pool, fn)

            return op

        ops = {name: in_pool(fn) for name, fn in sync_ops.items()}
        return await _run_with_signals(_generator(args, ops, mix, "threads", {}), args)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        client.close()
