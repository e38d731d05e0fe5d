"""What the live view of ``load`` costs: CPU per frame, and what the per-interval window adds per
recorded operation, both measured in one run (no server needed).

    .venv/bin/python benchmarks/bench_live_view.py

1. Per frame: the snapshot (taking a recorder window of 7 operations with 1,000 completions each)
   plus ``render`` printed to a terminal console of 120 columns, and ``format_line``; best of 5
   rounds of 50 frames. Printed as a share of a 1 s interval.
2. Per operation: ``Recorder.record`` as the generator calls it, and the window's own part of it
   (a dict lookup and one record in a 2-significant-digit HdrHistogram), best of 5 rounds of
   50,000; the window is what the view asks of the hot path.
"""

from __future__ import annotations

import time
from io import StringIO

from rich.console import Console

from aiodynamo_patterns.loadgen.live import (
    CallRow,
    Gauges,
    IntervalSnapshot,
    OperationRow,
    format_line,
    render,
)
from aiodynamo_patterns.loadgen.report import Recorder, WindowFigures, new_histogram

OPERATIONS = ("get", "cached_get", "put", "update", "stock", "query", "batch_get")


def _filled(recorder: Recorder) -> None:
    for name in OPERATIONS:
        for i in range(1000):
            recorder.record(name, 1.0, 1.0, 1.0 + (i % 97 + 1) / 1000, None)


def _snapshot(figures: dict[str, WindowFigures]) -> IntervalSnapshot:
    return IntervalSnapshot(
        label="asyncio",
        elapsed_s=10.0,
        interval_s=1.0,
        warming_up=False,
        in_flight=16,
        operations=tuple(
            OperationRow(n, f.ops, f.p50_ms, f.p99_ms, f.errors) for n, f in figures.items()
        ),
        calls=tuple(CallRow(op, "products", 1000.0, 0, 0, 0) for op in ("GetItem", "PutItem")),
        gauges=Gauges(16, 16, 0, 500.0, (("products", "closed"),)),
    )


def frame_cost() -> tuple[float, float]:
    best_frame = best_line = float("inf")
    for _ in range(5):
        recorder = Recorder(0.0)
        spent_frame = spent_line = 0.0
        for _ in range(50):
            _filled(recorder)
            console = Console(file=StringIO(), force_terminal=True, width=120)
            started = time.process_time()
            snapshot = _snapshot(recorder.take_window())
            console.print(render(snapshot))
            middle = time.process_time()
            format_line(snapshot)
            spent_frame += middle - started
            spent_line += time.process_time() - middle
        best_frame = min(best_frame, spent_frame / 50)
        best_line = min(best_line, spent_line / 50)
    return best_frame, best_line


def record_cost() -> float:
    """``Recorder.record`` as the generator calls it, window included."""
    best = float("inf")
    for _ in range(5):
        recorder = Recorder(0.0)
        started = time.process_time()
        for i in range(50_000):
            recorder.record("get", 1.0, 1.0, 1.0 + (i % 97 + 1) / 1000, None)
        best = min(best, (time.process_time() - started) / 50_000)
    return best


def window_cost() -> float:
    """The window's own share of a record: the lookup and one 2-digit histogram record."""
    best = float("inf")
    for _ in range(5):
        window: dict[str, object] = {}
        hist = new_histogram(2)
        started = time.process_time()
        for i in range(50_000):
            if window.get("get") is None:
                window["get"] = hist
            hist.record_value((i % 97 + 1) * 1000)
        best = min(best, (time.process_time() - started) / 50_000)
    return best


def main() -> None:
    frame, line = frame_cost()
    print(f"frame (snapshot of 7 operations + rich render): {frame * 1e3:.2f} ms CPU")
    print(f"  = {frame * 100:.2f}% of a 1 s interval; the plain line alone {line * 1e6:.0f} us")
    record, window = record_cost(), window_cost()
    print(f"Recorder.record, window included: {record * 1e6:.2f} us CPU per operation")
    print(f"  of which the window: {window * 1e6:.2f} us ({window / record:.0%} of the record)")


if __name__ == "__main__":
    main()
