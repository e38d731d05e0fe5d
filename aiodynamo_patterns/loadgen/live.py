"""The live view of ``aiodynamo-patterns load``: one frame per interval, from figures already kept.

Nothing here measures. Each interval the driver takes

* from the generator, per workload operation, what completed since the last frame: the count,
  errors and the p50/p99 of an HdrHistogram the recorder keeps for exactly that window
  (:meth:`LoadGenerator.take_interval`);
* from the session's :class:`~aiodynamo_patterns.metrics.MetricsCollector`, per DynamoDB
  operation and table, the change of its counters (calls, errors, throttled attempts, retries);
* the gauges as they are: the session's pool (in flight of its size, waiting), the retry budget,
  and every circuit breaker's state.

:func:`render` turns one :class:`IntervalSnapshot` into a ``rich`` renderable (two tables and a
status line) and :func:`format_line` into one plain line; :class:`LiveView` is the driver, which
refreshes a ``rich.live.Live`` on a terminal or prints one line per interval otherwise. The view
costs one snapshot per interval, nothing per request.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..layers.breaker import BreakerLayer
from ..session import DynamoSession
from .generator import LoadGenerator

__all__ = [
    "CallRow",
    "Gauges",
    "IntervalSnapshot",
    "LiveView",
    "OperationRow",
    "SessionDeltas",
    "format_line",
    "render",
]


@dataclass(frozen=True, slots=True)
class OperationRow:
    """One workload operation over the last interval (latency corrected, in milliseconds; None
    when nothing completed in it, e.g. every call of that operation stuck)."""

    name: str
    ops_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int


@dataclass(frozen=True, slots=True)
class CallRow:
    """One DynamoDB operation on one table over the last interval, from the session's metrics."""

    operation: str
    table: str
    calls_per_s: float
    errors: int
    throttles: int
    retries: int


@dataclass(frozen=True, slots=True)
class Gauges:
    """The session's state as the frame is taken: pool, retry budget, breaker circuits."""

    pool_in_flight: int
    pool_size: int
    pool_waiting: int
    retry_budget: float | None
    #: (circuit name, state) per breaker circuit, e.g. ("products", "closed")
    breakers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IntervalSnapshot:
    """What one frame shows. ``elapsed_s`` counts from the end of warm-up (negative before);
    ``warming_up`` when the interval began before it (its calls are not in the report)."""

    label: str
    elapsed_s: float
    interval_s: float
    warming_up: bool
    in_flight: int
    operations: tuple[OperationRow, ...]
    calls: tuple[CallRow, ...] = ()
    #: None without a session (the thread baseline)
    gauges: Gauges | None = None


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _status(snapshot: IntervalSnapshot) -> str:
    parts = [f"in flight {snapshot.in_flight}"]
    g = snapshot.gauges
    if g is not None:
        parts.append(f"pool {g.pool_in_flight}/{g.pool_size} in flight, {g.pool_waiting} waiting")
        if g.retry_budget is not None:
            parts.append(f"retry budget {g.retry_budget:,.0f}")
        circuits = ", ".join(f"{name} {state}" for name, state in g.breakers)
        parts.append(f"breaker {circuits or '-'}")
    return " · ".join(parts)


def _title(snapshot: IntervalSnapshot) -> str:
    phase = "warm-up" if snapshot.warming_up else f"t={snapshot.elapsed_s:.1f}s"
    return f"{snapshot.label} · {phase} · last {snapshot.interval_s:.1f}s"


def render(snapshot: IntervalSnapshot) -> RenderableType:
    """One frame: the workload operations, the DynamoDB calls beneath them, and a status line."""
    ops = Table(title=_title(snapshot), title_justify="left", expand=False)
    ops.add_column("operation")
    for name in ("ops/s", "p50 ms", "p99 ms", "errors"):
        ops.add_column(name, justify="right")
    for row in snapshot.operations:
        ops.add_row(
            row.name, f"{row.ops_per_s:,.0f}", _ms(row.p50_ms), _ms(row.p99_ms), f"{row.errors:,}"
        )
    parts: list[RenderableType] = [ops]
    if snapshot.calls:
        calls = Table(title="DynamoDB calls (session metrics)", title_justify="left")
        calls.add_column("call")
        calls.add_column("table")
        for name in ("calls/s", "errors", "throttles", "retries"):
            calls.add_column(name, justify="right")
        for c in snapshot.calls:
            calls.add_row(
                c.operation,
                c.table,
                f"{c.calls_per_s:,.0f}",
                f"{c.errors:,}",
                f"{c.throttles:,}",
                f"{c.retries:,}",
            )
        parts.append(calls)
    parts.append(Text(_status(snapshot)))
    return Group(*parts)


def format_line(snapshot: IntervalSnapshot) -> str:
    """The same figures as one plain line (no colour, no cursor movement): the non-TTY form."""
    phase = "warm-up" if snapshot.warming_up else f"t={snapshot.elapsed_s:.1f}s"
    fields = [f"[{snapshot.label} {phase}]"]
    for row in snapshot.operations:
        fields.append(
            f"{row.name} {row.ops_per_s:,.0f} ops/s p50 {_ms(row.p50_ms)} "
            f"p99 {_ms(row.p99_ms)} ms err {row.errors}"
        )
    for c in snapshot.calls:
        fields.append(
            f"{c.operation} {c.calls_per_s:,.0f}/s err {c.errors} thr {c.throttles} "
            f"retry {c.retries}"
        )
    fields.append(_status(snapshot))
    return " | ".join(fields)


class SessionDeltas:
    """The change of the session's per (operation, table) counters between two :meth:`take`."""

    __slots__ = ("_last", "session")

    def __init__(self, session: DynamoSession) -> None:
        self.session = session
        self._last: dict[tuple[str, str], tuple[int, int, int, int]] = {}

    def take(self, span_s: float) -> tuple[CallRow, ...]:
        metrics = self.session.metrics
        if metrics is None:
            return ()
        rows: list[CallRow] = []
        for series in metrics.series():
            key = (series.operation, series.table)
            totals = (series.count, sum(series.errors.values()), series.throttles, series.retries)
            before = self._last.get(key, (0, 0, 0, 0))
            self._last[key] = totals
            count, errors, throttles, retries = (a - b for a, b in zip(totals, before, strict=True))
            if count or errors or throttles or retries:
                rate = count / span_s if span_s > 0 else 0.0
                rows.append(CallRow(key[0], key[1], rate, errors, throttles, retries))
        return tuple(sorted(rows, key=lambda r: (r.operation, r.table)))

    def gauges(self) -> Gauges:
        """Pool, retry budget and breaker states as they are now."""
        pool = self.session.stats()
        retry = self.session.retry_stats()
        breakers = tuple(
            (name, snap.state.value)
            for layer in self.session.layers
            if isinstance(layer, BreakerLayer)
            for name, snap in sorted(layer.states().items())
        )
        return Gauges(
            pool_in_flight=pool.in_flight,
            pool_size=pool.max_concurrency,
            pool_waiting=pool.waiting,
            retry_budget=None if retry is None else retry.budget_tokens,
            breakers=breakers,
        )


class LiveView:
    """Refresh a view of ``generator`` (and ``session``) every ``generator.interval`` seconds of
    its clock until cancelled: a ``rich`` Live frame when ``live``, else one line per interval.

    Lines go to ``file`` (stderr by default); frames to ``console`` (one on ``file`` by default).
    Run it as a task beside :meth:`LoadGenerator.run` and cancel it when the run returns; it ends
    by itself at the end of a ``duration`` (the last frame covering the rest of the last
    interval), and the last frame stays on the terminal.
    """

    def __init__(
        self,
        generator: LoadGenerator,
        session: DynamoSession | None = None,
        *,
        live: bool,
        file: IO[str] | None = None,
        console: Console | None = None,
    ) -> None:
        self.generator = generator
        self.live = live
        self.file = file
        self.console = console
        self._deltas = SessionDeltas(session) if session is not None else None
        self._last = generator.clock.now()
        self._seen: set[str] = set()
        if self._deltas is not None:
            self._deltas.take(0.0)  # the baseline: what ran before (the data-set load) is not shown

    def snapshot(self, boundary: float | None = None) -> IntervalSnapshot:
        """Take the figures of the interval that ends now (each call starts the next one); the
        frame is labelled with ``boundary``, the clock time it stands for, when given (a tick
        wakes a little after it on a busy loop), else with now."""
        gen = self.generator
        now = gen.clock.now()
        span = max(now - self._last, 1e-9)
        self._last = now
        start = gen.measure_start
        began = now - span
        stamp = now if boundary is None else boundary
        window = gen.take_interval()
        self._seen.update(window)
        operations = tuple(
            OperationRow(name, f.ops / span, f.p50_ms, f.p99_ms, f.errors)
            if (f := window.get(name)) is not None
            else OperationRow(name, 0.0, None, None, 0)  # seen before, nothing completed now
            for name in sorted(self._seen)
        )
        gauges: Gauges | None = None
        calls: tuple[CallRow, ...] = ()
        if self._deltas is not None:
            calls = self._deltas.take(span)
            gauges = self._deltas.gauges()
        return IntervalSnapshot(
            label=gen.label,
            elapsed_s=(stamp - start) if start is not None else -1.0,
            interval_s=span,
            # a millisecond of slack: a tick wakes a little after its boundary, never before
            warming_up=start is None or began < start - 1e-3,
            in_flight=gen.in_flight,
            operations=operations,
            calls=calls,
            gauges=gauges,
        )

    async def _tick(self) -> float | None:
        """Sleep to the next interval boundary, counted from the end of warm-up (so each measured
        frame covers one interval of the run's own time series), or to the end of the measured
        window if that comes first, and return it; None once the run is over (its report has
        what is left)."""
        gen = self.generator
        now = gen.clock.now()
        origin = gen.measure_start
        if origin is None:
            origin = now
        end = gen.deadline
        if end is not None and now >= end - 1e-9:
            return None
        step = gen.interval
        target = origin + (math.floor((now - origin) / step + 1e-9) + 1) * step
        if end is not None:
            target = min(target, end)
        await gen.clock.sleep(target - now)
        return target if gen.report is None else None

    async def run(self) -> None:
        file = self.file or sys.stderr
        if not self.live:
            while (boundary := await self._tick()) is not None:
                print(format_line(self.snapshot(boundary)), file=file, flush=True)
            return
        console = self.console or Console(file=file)
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while (boundary := await self._tick()) is not None:
                live.update(render(self.snapshot(boundary)), refresh=True)
