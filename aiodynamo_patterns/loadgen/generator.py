"""The asyncio load generator: closed and open models that do not hide the tail.

``await LoadGenerator(operations, ...).run()`` returns a :class:`LoadReport`.

* **Closed model** (no ``rate``): ``concurrency`` workers, each starting its next operation when
  the previous one finishes. Throughput is whatever the system gives back.
* **Open model** (``rate`` ops/s, ``arrival`` constant or Poisson): a schedule of *intended* start
  times is fixed in advance and shared by ``concurrency`` workers (the bound on operations in
  flight). When the system is slow, operations start late, but each one's latency is still
  measured from its intended start (coordinated-omission-corrected) as well as from its actual
  start (raw). Late starts are counted; scheduled operations that never started by the end are
  counted and recorded with the delay they had at least.

Runs are bounded by ``duration`` seconds or ``count`` operations after a ``warmup`` excluded from
every figure. :meth:`LoadGenerator.stop` ends a run early and still returns the report; cancelling
:meth:`run` cancels every operation in flight, leaves the partial report in
``generator.report`` and re-raises. A lag-probe task measures how late the event loop wakes up.

All timestamps and sleeps go through the injected :class:`~aiodynamo_patterns.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import itertools
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from ..clock import Clock, SystemClock
from ..errors import DynamoError, ValidationError
from .report import (
    LoadReport,
    Recorder,
    WindowFigures,
    latency_summary,
    layer_figures,
    new_histogram,
)

__all__ = ["LoadGenerator", "Operation", "layer_stats"]

logger = logging.getLogger("aiodynamo_patterns")

Operation = Callable[[], Awaitable[object]]
Arrival = Literal["constant", "poisson"]


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, DynamoError):
        return exc.code or type(exc).__name__
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")  # botocore, thread mode
    return str(code) if code else type(exc).__name__


def _flat(value: object) -> dict[str, Any] | None:
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif not isinstance(value, Mapping):
        value = getattr(value, "__dict__", None)
    return dict(value) if isinstance(value, Mapping) else None


def layer_stats(obj: object) -> dict[str, Any] | None:
    """A layer's statistics as a flat dict, found by duck typing.

    ``obj.stats()`` in whatever shape (``as_dict()``, dataclass, mapping); or, for objects with
    one state per key such as a circuit breaker per table, ``obj.states()``: a mapping of
    snapshots whose numeric fields are summed.
    """
    try:
        stats = getattr(obj, "stats", None)
        if callable(stats):
            return _flat(stats())
        states = getattr(obj, "states", None)
        if callable(states):
            snapshots = states()
            if not isinstance(snapshots, Mapping):
                return None
            total: dict[str, Any] = {"circuits": len(snapshots)}
            for snapshot in snapshots.values():
                for key, value in (_flat(snapshot) or {}).items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        total[key] = total.get(key, 0) + value
            return total
    except Exception:  # a layer's statistics must never break a report
        logger.debug("statistics of %s failed", type(obj).__name__, exc_info=True)
    return None


_CUMULATIVE = ("total", "count", "hits", "misses", "retr", "transition", "timeouts", "errors")


def _delta(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """Counters (found by name) since the end of warm-up; gauges and maxima as they are."""
    if not before:
        return dict(after)
    out = dict(after)
    for key, value in after.items():
        old = before.get(key)
        low = key.lower()
        if (
            any(word in low for word in _CUMULATIVE)
            and not any(word in low for word in ("max", "peak", "rate", "percent"))
            and isinstance(value, int)
            and isinstance(old, int)
            and not isinstance(value, bool)
        ):
            out[key] = value - old
    return out


class LoadGenerator:
    """Drive ``operations`` (name -> zero-argument coroutine function) by ``weights``."""

    def __init__(
        self,
        operations: Mapping[str, Operation],
        weights: Mapping[str, float] | None = None,
        *,
        concurrency: int = 16,
        rate: float | None = None,
        arrival: Arrival = "constant",
        duration: float | None = 10.0,
        count: int | None = None,
        warmup: float = 0.0,
        seed: int | None = None,
        late_threshold: float = 0.001,
        interval: float = 1.0,
        lag_interval: float = 0.01,
        drain_timeout: float = 5.0,
        progress: bool | None = None,
        observe: Mapping[str, object] | None = None,
        label: str = "asyncio",
        clock: Clock | None = None,
    ) -> None:
        if not operations:
            raise ValidationError("at least one operation is needed", field="operations")
        weights = dict(weights) if weights is not None else dict.fromkeys(operations, 1.0)
        for name, weight in weights.items():
            if name not in operations:
                raise ValidationError(f"no operation {name!r}", field="weights")
            if not weight >= 0 or math.isinf(weight):
                raise ValidationError("weights are finite numbers >= 0", field="weights")
        if sum(weights.values()) <= 0:
            raise ValidationError("at least one weight must be positive", field="weights")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError("must be a positive int", field="concurrency")
        if rate is not None and not (rate > 0 and math.isfinite(rate)):
            raise ValidationError(
                "must be a positive number of operations per second", field="rate"
            )
        if arrival not in ("constant", "poisson"):
            raise ValidationError("is 'constant' or 'poisson'", field="arrival")
        if duration is None and count is None:
            raise ValidationError("give a duration or a count", field="duration")
        if duration is not None and not duration > 0:
            raise ValidationError("must be positive", field="duration")
        if count is not None and count < 1:
            raise ValidationError("must be positive", field="count")
        if warmup < 0:
            raise ValidationError("must be >= 0", field="warmup")
        self.operations = dict(operations)
        names = [n for n, w in weights.items() if w > 0]
        self._names = names
        self._cumulative = list(itertools.accumulate(weights[n] for n in names))
        self.concurrency = concurrency
        self.rate = rate
        self.arrival = arrival
        self.duration = duration
        self.count = count
        self.warmup = warmup
        self.late_threshold = late_threshold
        self.interval = interval
        self.lag_interval = lag_interval
        self.drain_timeout = drain_timeout
        self.progress = progress
        self.observe = dict(observe or {})
        self.label = label
        self.clock: Clock = clock or SystemClock()
        self._rng = random.Random(seed)
        self.report: LoadReport | None = None
        self._ran = False
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._idle: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._peak = 0
        self._cancelled = 0
        self._claimed = 0
        self._next_intended = 0.0
        self._poisson_at = 0.0
        self._abandoned: list[float] = []
        self._index = 0
        self._lag = new_histogram()
        self._baseline: dict[str, dict[str, Any] | None] = {}
        self._snapshot_taken = False
        self._cpu_start: float | None = None
        self._recorder: Recorder | None = None
        self._measure_start = 0.0
        self._deadline: float | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        return self._peak

    @property
    def measure_start(self) -> float | None:
        """The clock time the measured window opens (after warm-up); None before :meth:`run`."""
        return self._measure_start if self._recorder is not None else None

    @property
    def deadline(self) -> float | None:
        """The clock time the measured window closes (None for a count-bound run or before)."""
        return self._deadline

    def take_interval(self) -> dict[str, WindowFigures]:
        """Per operation, what completed since the previous call: the live view's figures."""
        return self._recorder.take_window() if self._recorder is not None else {}

    def stop(self) -> None:
        """End the run early: no new operations start; those in flight may finish."""
        self._stopping = True
        self._stop_event.set()

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> LoadReport:
        if self._ran:
            raise RuntimeError("a LoadGenerator runs once")
        self._ran = True
        clock = self.clock
        start = clock.now()
        self._measure_start = start + self.warmup
        self._next_intended = start
        self._deadline = None if self.duration is None else self._measure_start + self.duration
        self._recorder = Recorder(
            self._measure_start, interval=self.interval, late_threshold=self.late_threshold
        )
        worker = self._open_worker if self.rate is not None else self._closed_worker
        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        helpers = [asyncio.create_task(self._lag_probe())]
        if self.progress or (self.progress is None and sys.stderr.isatty()):
            helpers.append(asyncio.create_task(self._progress_bar()))
        stop_wait = asyncio.create_task(self._stop_event.wait())
        everything: asyncio.Future[list[Any]] = asyncio.gather(*workers, return_exceptions=True)
        try:
            waiters: set[asyncio.Future[Any]] = {everything, stop_wait}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not everything.done():
                for task in list(self._idle):
                    task.cancel()
                done, _ = await asyncio.wait({everything}, timeout=self.drain_timeout)
                if not done:
                    for task in workers:
                        task.cancel()
                    await everything
            self._raise_worker_failure(workers)
            self.report = self._build_report()
            return self.report
        except asyncio.CancelledError:
            self._stopping = True
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.report = self._build_report()
            raise
        finally:
            stop_wait.cancel()
            for task in helpers:
                task.cancel()
            await asyncio.gather(stop_wait, *helpers, return_exceptions=True)

    def _raise_worker_failure(self, workers: Sequence[asyncio.Task[None]]) -> None:
        for task in workers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # checked not None just above

    def _pick(self) -> str:
        if len(self._names) == 1:
            return self._names[0]
        x = self._rng.random() * self._cumulative[-1]
        return self._names[bisect.bisect_right(self._cumulative, x)]

    def _claim_measured(self, intended: float) -> bool:
        """Count one more measured operation; False when the count bound is reached."""
        if intended < self._measure_start:
            return True
        if self.count is not None and self._claimed >= self.count:
            return False
        self._claimed += 1
        return True

    async def _closed_worker(self) -> None:
        clock = self.clock
        while not self._stopping:
            now = clock.now()
            if self._deadline is not None and now >= self._deadline:
                return
            if not self._claim_measured(now):
                return
            await self._execute(self._pick(), now, now)

    def _next_slot(self) -> float:
        assert self.rate is not None
        if self.arrival == "constant":
            intended = self._next_intended + self._index / self.rate
        else:
            if self._index:
                self._poisson_at = self._poisson_at + self._rng.expovariate(self.rate)
            else:
                self._poisson_at = self._next_intended
            intended = self._poisson_at
        self._index += 1
        return intended

    async def _open_worker(self) -> None:
        clock = self.clock
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            intended = self._next_slot()
            if self._deadline is not None and intended >= self._deadline:
                return
            if self._deadline is not None and clock.now() >= self._deadline:
                # behind schedule when the window closes: this one (and the rest of the
                # schedule, see _build_report) never started, and that is reported
                self._abandoned.append(intended)
                return
            if not self._claim_measured(intended):
                return
            delay = intended - clock.now()
            if delay > 0:
                self._idle.add(task)
                try:
                    await clock.sleep(delay)
                finally:
                    self._idle.discard(task)
            if self._stopping:
                return
            await self._execute(self._pick(), intended, clock.now())

    async def _execute(self, name: str, intended: float, started: float) -> None:
        operation = self.operations[name]
        if not self._snapshot_taken and intended >= self._measure_start:
            self._snapshot()
        self._in_flight += 1
        if self._in_flight > self._peak:
            self._peak = self._in_flight
        error: str | None = None
        try:
            await operation()
        except asyncio.CancelledError:
            self._cancelled += 1
            raise
        except Exception as exc:
            error = _error_code(exc)
        finally:
            self._in_flight -= 1
        ended = self.clock.now()
        if intended >= self._measure_start and self._recorder is not None:
            self._recorder.record(name, intended, started, ended, error)

    async def _lag_probe(self) -> None:
        clock = self.clock
        while True:
            expected = clock.now() + self.lag_interval
            await clock.sleep(self.lag_interval)
            now = clock.now()
            if now >= self._measure_start:
                self._lag.record_value(max(1, round((now - expected) * 1e6)))

    def _snapshot(self) -> None:
        """Layer counters as the first measured operation starts (warm-up excluded)."""
        self._snapshot_taken = True
        self._cpu_start = time.process_time()
        self._baseline = {name: layer_stats(obj) for name, obj in self.observe.items()}

    async def _progress_bar(self) -> None:
        from tqdm import tqdm

        total = self.count if self.count is not None else self.duration
        unit = "op" if self.count is not None else "s"
        bar = tqdm(total=total, unit=unit, desc=self.label, leave=False, file=sys.stderr)
        try:
            while True:
                await self.clock.sleep(0.25)
                recorder = self._recorder
                if recorder is None:
                    continue
                now = self.clock.now()
                if self.count is not None:
                    bar.n = recorder.corrected.get_total_count()
                else:
                    bar.n = round(max(0.0, min(now - self._measure_start, self.duration or 0)), 1)
                elapsed = max(now - self._measure_start, 1e-9)
                ops = recorder.corrected.get_total_count()
                p99 = recorder.corrected.get_value_at_percentile(99) / 1000 if ops else 0.0
                bar.set_postfix_str(
                    f"{ops / elapsed if now > self._measure_start else 0:,.0f} ops/s "
                    f"p99 {p99:.1f} ms in flight {self._in_flight}"
                )
        finally:
            bar.close()

    # -- the report ---------------------------------------------------------------------------

    def _build_report(self) -> LoadReport:
        recorder = self._recorder
        assert recorder is not None
        now = self.clock.now()
        cpu = self._cpu_figures(recorder.raw.get_total_count())  # before the report's own work
        if self.rate is not None and self._deadline is not None and self._abandoned:
            for intended in self._abandoned:
                if intended >= self._measure_start:
                    recorder.record_unstarted(intended, now)
            self._abandoned.clear()
            intended = self._next_slot()
            while intended < self._deadline:
                if intended >= self._measure_start:
                    recorder.record_unstarted(intended, now)
                intended = self._next_slot()
        window_end = recorder.last_end
        if self._deadline is not None and not self._stopping:
            window_end = max(window_end, self._deadline)
        elapsed = max(window_end - self._measure_start, 1e-9)
        ops = recorder.raw.get_total_count()
        layers: dict[str, dict[str, Any]] = {}
        for name, obj in self.observe.items():
            stats = layer_stats(obj)
            if stats is not None:
                layers[name] = _delta(self._baseline.get(name), stats)
        figures = layer_figures(layers)
        per_operation: dict[str, dict[str, Any]] = {}
        for name, (corrected, raw) in recorder.by_operation.items():
            summary = latency_summary(corrected)
            summary["errors"] = recorder.op_errors.get(name, 0)
            summary["raw_p99_ms"] = latency_summary(raw)["p99_ms"]
            per_operation[name] = summary
        return LoadReport(
            label=self.label,
            model="open" if self.rate is not None else "closed",
            concurrency=self.concurrency,
            target_rate=self.rate,
            duration_s=round(elapsed, 3),
            ops=ops,
            errors=sum(recorder.errors.values()),
            achieved_rate=round(ops / elapsed, 1),
            late_starts=recorder.late,
            unstarted=recorder.unstarted,
            cancelled=self._cancelled,
            peak_in_flight=self._peak,
            latency_corrected=latency_summary(recorder.corrected),
            latency_raw=latency_summary(recorder.raw),
            per_operation=per_operation,
            errors_by_code=dict(recorder.errors.most_common()),
            event_loop_lag=latency_summary(self._lag),
            retries=figures["retries"],
            breaker_transitions=figures["breaker_transitions"],
            cache_hit_rate=figures["cache_hit_rate"],
            layers=layers,
            series=recorder.series(elapsed),
            stopped_early=self._stopping,
            extra=cpu,
        )

    def _cpu_figures(self, ops: int) -> dict[str, Any]:
        """This process's CPU time per measured operation (all threads; the thread baseline's
        boto3 work included): what the client costs, whatever the machine's other load."""
        if self._cpu_start is None or not ops:
            return {}
        cpu = time.process_time() - self._cpu_start
        return {"client_cpu_s": round(cpu, 3), "client_cpu_us_per_op": round(cpu / ops * 1e6, 1)}
