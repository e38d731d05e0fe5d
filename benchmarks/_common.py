"""Shared pieces of the benchmark scripts: servers, CPU pinning, closed-loop timing, layers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stub_server import StubServer

CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU): two different CPUs when there are at least two."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


_SERVER_PID: list[int] = []


def server_cpu_seconds() -> float | None:
    """User+system CPU of the stub server process so far (None when unknown)."""
    if not _SERVER_PID:
        return None
    try:
        with open(f"/proc/{_SERVER_PID[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_wait_seconds() -> float:
    """Seconds this process's threads spent runnable but waiting for a CPU (Linux schedstat):
    how much a shared machine's neighbours took from the client."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        with (
            contextlib.suppress(OSError, ValueError),
            open(f"/proc/self/task/{task}/schedstat") as f,
        ):
            total += int(f.read().split()[1])
    return total / 1e9


#: what ``--server`` / ``--backend`` accepts: the in-memory stub, or a real local implementation
SERVERS = ("stub", "moto", "dynalite", "dynamodb-local")


def _innermost(pid: int) -> int:
    """The process that serves: a launcher's watchdog (DynamoDB Local's) has it as only child."""
    with contextlib.suppress(OSError, ValueError):
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        if len(children) == 1:
            return _innermost(children[0])
    return pid


@contextlib.contextmanager
def server(kind: str) -> Iterator[str]:
    """An endpoint URL for the whole run: the stub pinned to the first CPU, or a local server
    (moto, dynalite, DynamoDB Local) whose process is pinned there."""
    server_cpu, client_cpu = cpus()
    if kind == "stub":
        with StubServer(cpu=server_cpu) as stub:
            if client_cpu is not None:
                os.sched_setaffinity(0, {client_cpu})
            assert stub.process is not None
            _SERVER_PID[:] = [stub.process.pid]
            try:
                yield stub.endpoint_url
            finally:
                _SERVER_PID.clear()
        return
    if kind not in SERVERS:
        raise SystemExit(f"unknown server {kind!r}: one of {', '.join(SERVERS)}")
    from aiodynamo_patterns.local.backends import local_server

    with local_server(kind) as local:
        proc = getattr(local, "_proc", None)  # the child process, to pin and to measure
        if proc is not None:
            pid = _innermost(proc.pid)
            if server_cpu is not None:
                for target in {proc.pid, pid}:
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(target, {server_cpu})
            _SERVER_PID[:] = [pid]
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        try:
            yield local.endpoint_url
        finally:
            _SERVER_PID.clear()


@dataclass
class Result:
    ops: int
    seconds: float
    cpu_seconds: float
    errors: int = 0
    server_cpu_seconds: float | None = None
    wait_seconds: float = 0.0

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_op(self) -> float:
        return self.cpu_seconds / self.ops * 1e6 if self.ops else float("nan")

    @property
    def server_us_per_op(self) -> float | None:
        if self.server_cpu_seconds is None or not self.ops:
            return None
        return self.server_cpu_seconds / self.ops * 1e6


async def closed_loop_async(
    op: Callable[[], Awaitable[object]], concurrency: int, seconds: float, warmup: float
) -> Result:
    """``concurrency`` coroutines calling ``op`` back to back; CPU is the whole process's.

    After the warm-up every worker pauses until nothing is in flight, so the measured window
    holds the whole CPU cost of exactly the operations it counts (at high concurrency the
    operations in flight at a boundary would otherwise be a large share of a short window).
    """
    phase = "warmup"
    in_flight = ops = errors = 0
    drained, go = asyncio.Event(), asyncio.Event()
    stop_at = float("inf")

    async def worker() -> None:
        nonlocal in_flight, ops, errors
        while True:
            if phase == "pause":
                if in_flight == 0:
                    drained.set()
                await go.wait()
            if time.monotonic() >= stop_at:
                return
            in_flight += 1
            try:
                await op()
            except Exception:
                errors += 1
            finally:
                in_flight -= 1
            if phase == "measure":
                ops += 1

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    phase = "pause"
    await drained.wait()
    errors = 0
    t0, c0, s0, w0 = time.monotonic(), time.process_time(), server_cpu_seconds(), cpu_wait_seconds()
    stop_at = t0 + seconds
    phase = "measure"
    go.set()
    await asyncio.gather(*tasks)
    t1, c1, s1, w1 = time.monotonic(), time.process_time(), server_cpu_seconds(), cpu_wait_seconds()
    server = s1 - s0 if s0 is not None and s1 is not None else None
    return Result(ops, t1 - t0, c1 - c0, errors, server, w1 - w0)


def closed_loop_threads(
    op: Callable[[], object], concurrency: int, seconds: float, warmup: float
) -> Result:
    """The classic way: ``concurrency`` threads of a pool calling ``op`` back to back (paused
    together after the warm-up, like :func:`closed_loop_async`)."""
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    state: dict[str, Any] = {"pause": False, "ops": 0, "errors": 0, "stop_at": float("inf")}

    def worker() -> None:
        local = errs = 0
        paused = False
        while True:
            if state["pause"] and not paused:
                paused = True
                barrier.wait()  # everyone idle: the measured window starts
                errs = 0
            if time.monotonic() >= state["stop_at"]:
                break
            try:
                op()
            except Exception:
                errs += 1
            if paused:
                local += 1
        with lock:
            state["ops"] += local
            state["errors"] += errs

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        time.sleep(warmup)
        state["stop_at"] = time.monotonic() + 3600
        state["pause"] = True
        barrier.wait()
        t0, c0, s0, w0 = (
            time.monotonic(),
            time.process_time(),
            server_cpu_seconds(),
            cpu_wait_seconds(),
        )
        state["stop_at"] = t0 + seconds
        for f in futures:
            f.result()
        t1, c1, s1, w1 = (
            time.monotonic(),
            time.process_time(),
            server_cpu_seconds(),
            cpu_wait_seconds(),
        )
    server = s1 - s0 if s0 is not None and s1 is not None else None
    return Result(state["ops"], t1 - t0, c1 - c0, state["errors"], server, w1 - w0)


LAYER_CANDIDATES: list[tuple[str, tuple[str, ...]]] = [
    ("metrics", ("MetricsLayer",)),
    ("cache", ("CacheLayer",)),
    ("retry", ("RetryLayer",)),
    ("breaker", ("BreakerLayer", "CircuitBreakerLayer")),
]
#: layers a DynamoSession may build itself, switched off by passing None for the keyword
BUILT_IN = ("metrics", "retry", "breaker", "cache")


def session_builtins() -> list[str]:
    """The layers this install's DynamoSession builds itself (on by default)."""
    from aiodynamo_patterns import DynamoSession

    params = inspect.signature(DynamoSession.__init__).parameters
    return [name for name in BUILT_IN if name in params]


def bare_kwargs(keep: tuple[str, ...] = ()) -> dict[str, None]:
    """DynamoSession keywords switching off every built-in layer except those in ``keep``."""
    return {name: None for name in session_builtins() if name not in keep}


def all_layers() -> tuple[list[Any], list[str]]:
    """Every layer the installed library has that the session does not build itself, with
    defaults, outermost first; and the names of all layers a default session then runs with.

    Each is found by module and class name and built without arguments (or with a clock).
    """
    from aiodynamo_patterns.clock import SystemClock

    builtins = session_builtins()
    layers: list[Any] = []
    names: list[str] = [f"{b} (built in)" for b in builtins]
    for module_name, classes in LAYER_CANDIDATES:
        if module_name in builtins:
            continue
        try:
            module = importlib.import_module(f"aiodynamo_patterns.{module_name}")
        except ImportError:
            continue
        for cls_name in classes:
            cls = getattr(module, cls_name, None)
            if cls is None:
                continue
            for kwargs in ({}, {"clock": SystemClock()}):
                try:
                    layers.append(cls(**kwargs))
                    names.append(cls_name)
                    break
                except TypeError as exc:
                    error = exc
            else:
                print(f"# could not build {cls_name} with defaults: {error}", file=sys.stderr)
            break
    return layers, names


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
