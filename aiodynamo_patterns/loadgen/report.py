"""What a load run measured: HdrHistograms, a time series, the report as a table, JSON and a plot.

Latencies are recorded in microseconds in HdrHistograms (3 significant digits, 1 us to 1 h) twice:
*corrected*, from the operation's intended start (the open model's schedule), and *raw*, from the
moment it really started. In the closed model the two are the same. Every completed operation is
recorded, failed ones included (a failure took that long too); failures are also counted by code.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "LoadReport",
    "Recorder",
    "WindowFigures",
    "latency_summary",
    "new_histogram",
    "plot_reports",
]

_HIGHEST_US = 3_600_000_000  # one hour
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram(significant_digits: int = 3) -> HdrHistogram:
    return HdrHistogram(1, _HIGHEST_US, significant_digits)


def _us(seconds: float) -> int:
    return min(_HIGHEST_US, max(1, round(seconds * 1e6)))


def latency_summary(hist: HdrHistogram) -> dict[str, float | int]:
    """Count, mean, p50/p90/p99/p99.9 and max of ``hist`` in milliseconds."""
    count = hist.get_total_count()
    out: dict[str, float | int] = {"count": count}
    if count == 0:
        out.update({f"p{_pct(p)}_ms": 0.0 for p in PERCENTILES})
        out.update({"mean_ms": 0.0, "max_ms": 0.0})
        return out
    out["mean_ms"] = round(hist.get_mean_value() / 1000, 3)
    values = hist.get_percentile_to_value_dict(list(PERCENTILES))  # one pass over the counts
    for p in PERCENTILES:
        out[f"p{_pct(p)}_ms"] = round(values[p] / 1000, 3)
    out["max_ms"] = round(hist.get_max_value() / 1000, 3)
    return out


def _pct(p: float) -> str:
    return f"{p:g}".replace(".", "_")


@dataclass(slots=True)
class _Bucket:
    ops: int = 0
    errors: int = 0
    hist: HdrHistogram = field(default_factory=lambda: new_histogram(2))


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One operation's completions since the last :meth:`Recorder.take_window` (the live view)."""

    ops: int
    errors: int
    p50_ms: float
    p99_ms: float


class _Window:
    __slots__ = ("errors", "hist")

    def __init__(self) -> None:
        self.errors = 0
        self.hist = new_histogram(2)


class Recorder:
    """Collects every measured operation; one per run (not thread-safe: one per thread)."""

    def __init__(self, start: float, *, interval: float = 1.0, late_threshold: float = 0.001):
        self.start = start
        self.interval = interval
        self.late_threshold = late_threshold
        self.corrected = new_histogram()
        self.raw = new_histogram()
        self.by_operation: dict[str, tuple[HdrHistogram, HdrHistogram]] = {}
        self.errors: Counter[str] = Counter()
        self.op_counts: Counter[str] = Counter()
        self.op_errors: Counter[str] = Counter()
        self.late = 0
        self.unstarted = 0
        self.buckets: dict[int, _Bucket] = {}
        self.last_end = start
        #: per operation, what completed since the last take_window(), whatever its intended start
        self.window: dict[str, _Window] = {}

    def record(
        self, name: str, intended: float, started: float, ended: float, error: str | None
    ) -> None:
        corrected, raw = _us(ended - intended), _us(ended - started)
        self.corrected.record_value(corrected)
        self.raw.record_value(raw)
        pair = self.by_operation.get(name)
        if pair is None:
            pair = self.by_operation[name] = (new_histogram(), new_histogram())
        pair[0].record_value(corrected)
        pair[1].record_value(raw)
        self.op_counts[name] += 1
        if started - intended > self.late_threshold:
            self.late += 1
        # bucketed by intended start: a bucket holds what the schedule asked for in that interval
        index = max(0, int((intended - self.start) / self.interval))
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = _Bucket()
        bucket.ops += 1
        bucket.hist.record_value(corrected)
        window = self.window.get(name)
        if window is None:
            window = self.window[name] = _Window()
        window.hist.record_value(corrected)
        if error is not None:
            self.errors[error] += 1
            self.op_errors[name] += 1
            bucket.errors += 1
            window.errors += 1
        if ended > self.last_end:
            self.last_end = ended

    def take_window(self) -> dict[str, WindowFigures]:
        """Per operation, the completions since the previous call (corrected latency), and start
        a new window: the figures of one live-view interval, from the histograms already kept."""
        taken, self.window = self.window, {}
        out: dict[str, WindowFigures] = {}
        for name, w in taken.items():
            values = w.hist.get_percentile_to_value_dict([50.0, 99.0])
            out[name] = WindowFigures(
                ops=w.hist.get_total_count(),
                errors=w.errors,
                p50_ms=round(values[50.0] / 1000, 3),
                p99_ms=round(values[99.0] / 1000, 3),
            )
        return out

    def record_unstarted(self, intended: float, now: float) -> None:
        """An operation the schedule asked for that never started: at least this late."""
        self.unstarted += 1
        self.corrected.record_value(_us(now - intended))

    def merge(self, other: Recorder) -> None:
        self.corrected.add(other.corrected)
        self.raw.add(other.raw)
        for name, (c, r) in other.by_operation.items():
            mine = self.by_operation.setdefault(name, (new_histogram(), new_histogram()))
            mine[0].add(c)
            mine[1].add(r)
        self.errors.update(other.errors)
        self.op_counts.update(other.op_counts)
        self.op_errors.update(other.op_errors)
        self.late += other.late
        self.unstarted += other.unstarted
        for index, b in other.buckets.items():
            mine_b = self.buckets.setdefault(index, _Bucket())
            mine_b.ops += b.ops
            mine_b.errors += b.errors
            mine_b.hist.add(b.hist)
        self.last_end = max(self.last_end, other.last_end)

    def series(self, window: float | None = None) -> list[dict[str, float | int]]:
        """Per interval of intended start: ops/s started and corrected latency percentiles."""
        if not self.buckets:
            return []
        out = []
        for index in range(max(self.buckets) + 1):
            b = self.buckets.get(index) or _Bucket()
            begin = index * self.interval
            span = self.interval
            if window is not None and begin + span > window:
                span = max(window - begin, 1e-3)  # the last, partial interval
            row: dict[str, float | int] = {
                "t": round(begin + span / 2, 3),
                "ops_per_s": round(b.ops / span, 1),
                "errors": b.errors,
            }
            # an interval in which nothing started (every worker stuck) has no percentiles:
            # hdrh's dict is empty then, so read it with a default
            values = b.hist.get_percentile_to_value_dict([50.0, 90.0, 99.0])
            for p in (50.0, 90.0, 99.0):
                row[f"p{_pct(p)}_ms"] = round(values.get(p, 0) / 1000, 3)
            row["max_ms"] = round(b.hist.get_max_value() / 1000, 3)
            out.append(row)
        return out


@dataclass
class LoadReport:
    """The outcome of one run; ``as_dict()`` is the JSON form, ``table()`` the terminal one."""

    label: str
    model: str  # "open" or "closed"
    concurrency: int
    target_rate: float | None
    duration_s: float
    ops: int
    errors: int
    achieved_rate: float
    late_starts: int
    unstarted: int
    cancelled: int
    peak_in_flight: int
    latency_corrected: dict[str, float | int]
    latency_raw: dict[str, float | int]
    per_operation: dict[str, dict[str, Any]]
    errors_by_code: dict[str, int]
    event_loop_lag: dict[str, float | int]
    retries: int | None = None
    breaker_transitions: int | None = None
    cache_hit_rate: float | None = None
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    series: list[dict[str, float | int]] = field(default_factory=list)
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False, default=str)

    def table(self) -> str:
        return format_table([self])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(reports: list[LoadReport]) -> str:
    """The reports side by side, one column each."""
    rows: list[tuple[str, list[Any]]] = [
        ("model", [r.model for r in reports]),
        ("concurrency", [r.concurrency for r in reports]),
        ("target ops/s", [r.target_rate for r in reports]),
        ("achieved ops/s", [r.achieved_rate for r in reports]),
        ("measured ops", [r.ops for r in reports]),
        ("errors", [r.errors for r in reports]),
        ("late starts", [r.late_starts for r in reports]),
        ("never started", [r.unstarted for r in reports]),
        ("client CPU us/op", [r.extra.get("client_cpu_us_per_op") for r in reports]),
    ]
    for kind in ("corrected", "raw"):
        for key in ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"):
            rows.append(
                (
                    f"{kind} {key[:-3].replace('_', '.')} ms",
                    [getattr(r, f"latency_{kind}")[key] for r in reports],
                )
            )
    rows += [
        ("loop lag p99 ms", [r.event_loop_lag.get("p99_ms") for r in reports]),
        ("loop lag max ms", [r.event_loop_lag.get("max_ms") for r in reports]),
        ("retries", [r.retries for r in reports]),
        ("breaker transitions", [r.breaker_transitions for r in reports]),
        ("cache hit rate", [r.cache_hit_rate for r in reports]),
    ]
    codes = sorted({c for r in reports for c in r.errors_by_code})
    rows += [(f"error {c}", [r.errors_by_code.get(c, 0) for r in reports]) for c in codes]
    header = ["", *[r.label for r in reports]]
    body = [[name, *[_cell(v) for v in values]] for name, values in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    per_op = []
    for r in reports:
        for name, stats in sorted(r.per_operation.items()):
            per_op.append(
                f"  {r.label:>10} {name:<12} {stats['count']:>9,} ops  {stats['errors']:>6,} err  "
                f"p50 {stats['p50_ms']:>8.3f}  p99 {stats['p99_ms']:>8.3f}  max {stats['max_ms']:>9.3f} ms"
            )
    if per_op:
        lines += ["", "per operation (corrected):", *per_op]
    return "\n".join(lines)


def plot_reports(reports: list[LoadReport], path: str | Path, *, title: str | None = None) -> None:
    """Latency percentiles (corrected) and throughput over time, one line style per report."""
    import matplotlib

    matplotlib.use("Agg")  # no display; PNG only
    import matplotlib.pyplot as plt

    fig, (lat, thr) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    styles = ["-", "--", ":", "-."]
    colors = {"p50_ms": "tab:blue", "p90_ms": "tab:green", "p99_ms": "tab:orange"}
    colors["max_ms"] = "tab:red"
    for i, report in enumerate(reports):
        style = styles[i % len(styles)]
        t = [row["t"] for row in report.series]
        for key, color in colors.items():
            values = [max(row[key], 1e-3) for row in report.series]
            label = f"{report.label} {key[:-3]}"
            lat.plot(t, values, linestyle=style, color=color, label=label)
        thr.plot(
            t, [row["ops_per_s"] for row in report.series], linestyle=style, label=report.label
        )
        if report.target_rate:
            thr.axhline(report.target_rate, color="grey", linewidth=0.8, linestyle=":")
    lat.set_yscale("log")
    lat.set_ylabel("latency ms (corrected)")
    lat.legend(fontsize=7, ncol=2)
    lat.grid(True, which="both", alpha=0.3)
    thr.set_ylabel("ops/s")
    thr.set_xlabel("seconds since the end of warm-up (by intended start)")
    thr.legend(fontsize=8)
    thr.grid(True, alpha=0.3)
    fig.suptitle(title or "aiodynamo-patterns load")
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)


def layer_figures(layers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Retries, breaker transitions and cache hit rate found by name in layer statistics."""
    retries = transitions = hits = misses = 0
    found: set[str] = set()
    for stats in layers.values():
        for key, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            low = key.lower()
            if low == "retries" or low.endswith("_retries"):
                retries += int(value)
                found.add("retries")
            elif "transition" in low:
                transitions += int(value)
                found.add("transitions")
            elif low in ("hits", "cache_hits", "hit_count"):
                hits += int(value)
                found.add("cache")
            elif low in ("misses", "cache_misses", "miss_count"):
                misses += int(value)
                found.add("cache")
    return {
        "retries": retries if "retries" in found else None,
        "breaker_transitions": transitions if "transitions" in found else None,
        "cache_hit_rate": (
            round(hits / (hits + misses), 4) if "cache" in found and hits + misses else None
        ),
    }
