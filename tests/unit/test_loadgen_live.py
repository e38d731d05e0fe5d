"""The live view of `load`: frames and lines rendered from one interval's snapshot, and the driver
refreshing them once per interval on the generator's (virtual) clock."""

from __future__ import annotations

import asyncio
import itertools
import re
from io import StringIO

import pytest
from rich.console import Console

from aiodynamo_patterns.loadgen.generator import LoadGenerator
from aiodynamo_patterns.loadgen.live import (
    CallRow,
    Gauges,
    IntervalSnapshot,
    LiveView,
    OperationRow,
    format_line,
    render,
)
from aiodynamo_patterns.loadgen.report import Recorder
from aiodynamo_patterns.testing import ManualClock
from aiodynamo_patterns.testing.virtual_time import LoopClock, run_virtual

SNAPSHOT = IntervalSnapshot(
    label="asyncio",
    elapsed_s=3.0,
    interval_s=1.0,
    warming_up=False,
    in_flight=7,
    operations=(
        OperationRow("get", 1234.0, 1.25, 17.5, 2),
        OperationRow("update", 310.0, 2.5, 48.25, 0),
    ),
    calls=(CallRow("GetItem", "products", 1236.0, 2, 5, 4),),
    gauges=Gauges(
        pool_in_flight=6,
        pool_size=16,
        pool_waiting=3,
        retry_budget=487.0,
        breakers=(("products", "open"),),
    ),
)


def _frame(snapshot: IntervalSnapshot) -> str:
    console = Console(record=True, width=120, file=StringIO())
    console.print(render(snapshot))
    return console.export_text()


def test_frame_shows_every_figure_of_the_interval() -> None:
    """A frame has a row per operation (ops/s, p50, p99, errors), a row per DynamoDB call
    (throttles, retries) and the pool, retry budget and breaker state."""
    text = _frame(SNAPSHOT)

    assert "asyncio · t=3.0s · last 1.0s" in text
    get = next(line for line in text.splitlines() if "│ get " in line)
    assert re.search(r"1,234\s+│\s+1\.25\s+│\s+17\.5\s+│\s+2 ", get), get
    update = next(line for line in text.splitlines() if "│ update " in line)
    assert re.search(r"310\s+│\s+2\.50\s+│\s+48\.2\s+│\s+0 ", update), update
    call = next(line for line in text.splitlines() if "GetItem" in line)
    assert re.search(r"products\s+│\s+1,236\s+│\s+2\s+│\s+5\s+│\s+4 ", call), call
    assert "in flight 7 · pool 6/16 in flight, 3 waiting · retry budget 487" in text
    assert "breaker products open" in text


def test_warm_up_frame_says_so_and_thread_runs_have_no_session_part() -> None:
    """Before the measured window the title says warm-up; without a session (the thread
    baseline) there is no calls table and no pool or breaker figures."""
    snapshot = IntervalSnapshot(
        label="threads",
        elapsed_s=0.0,
        interval_s=0.5,
        warming_up=True,
        in_flight=2,
        operations=(),
    )

    text = _frame(snapshot)

    assert "threads · warm-up · last 0.5s" in text
    assert "DynamoDB calls" not in text
    assert "pool" not in text and "breaker" not in text
    assert "in flight 2" in text


def test_line_is_one_plain_line_with_the_same_figures() -> None:
    """The non-TTY form is a single line without escape codes, carrying the frame's figures."""
    line = format_line(SNAPSHOT)

    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("[asyncio t=3.0s] | get 1,234 ops/s p50 1.25 p99 17.5 ms err 2 | ")
    assert "GetItem 1,236/s err 2 thr 5 retry 4" in line
    assert "pool 6/16 in flight, 3 waiting" in line and "breaker products open" in line


def test_recorder_window_holds_what_completed_since_the_last_take() -> None:
    """take_window gives per operation the completions since the previous take, then starts over."""
    recorder = Recorder(0.0)
    for ms in range(1, 101):
        recorder.record("get", 1.0, 1.0, 1.0 + ms / 1000, None)
    recorder.record("put", 1.0, 1.0, 1.2, "Throttled")

    first = recorder.take_window()
    second = recorder.take_window()

    assert first["get"].ops == 100 and first["get"].errors == 0
    assert first["get"].p50_ms == pytest.approx(50, rel=0.02)
    assert first["get"].p99_ms == pytest.approx(99, rel=0.02)
    assert first["put"].ops == 1 and first["put"].errors == 1
    assert second == {}
    assert recorder.corrected.get_total_count() == 101  # the run's own figures are untouched


def _generator(clock: LoopClock | ManualClock, *, warmup: float = 0.0) -> LoadGenerator:
    async def ten_ms() -> None:
        await clock.sleep(0.01)

    return LoadGenerator(
        {"op": ten_ms}, concurrency=2, duration=3.5, warmup=warmup, interval=1.0, clock=clock,
        progress=False,
    )  # fmt: skip


async def _run_with_view(gen: LoadGenerator, view: LiveView) -> None:
    task = asyncio.create_task(view.run())
    try:
        await gen.run()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_driver_prints_one_line_per_interval_from_the_end_of_warm_up() -> None:
    """Lines mode prints one line per interval boundary (warm-up marked) and one for the rest of
    the window, each with its own rate: 2 workers of 10 ms ops make 200 ops/s (give or take the
    completions landing exactly on a boundary); nothing after the window closes."""
    clock = LoopClock()
    gen = _generator(clock, warmup=0.5)
    out = StringIO()

    async def main() -> None:
        await _run_with_view(gen, LiveView(gen, live=False, file=out))

    run_virtual(main())

    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == [
        "[asyncio warm-up",
        "[asyncio t=1.0s",
        "[asyncio t=2.0s",
        "[asyncio t=3.0s",
        "[asyncio t=3.5s",
    ]
    assert "op " not in lines[0]  # warm-up operations are not recorded
    for line in lines[1:]:
        found = re.search(r"\| op (\d+) ops/s p50 10\.0 p99 10\.0 ms err 0 \|", line)
        assert found is not None, line
        assert int(found.group(1)) == pytest.approx(200, abs=2)


def test_driver_refreshes_a_live_frame_once_per_interval() -> None:
    """Live mode writes one frame per interval (and one for the rest of the window) to a terminal
    console, and no plain lines."""
    clock = LoopClock()
    gen = _generator(clock)
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)

    async def main() -> None:
        await _run_with_view(gen, LiveView(gen, live=True, console=console))

    run_virtual(main())

    text = buffer.getvalue()
    # Live draws the last frame once more as it stops: consecutive repeats are one frame
    titles = [
        t for t, _ in itertools.groupby(re.findall(r"asyncio · t=([\d.]+)s · last ([\d.]+)s", text))
    ]
    assert titles == [("1.0", "1.0"), ("2.0", "1.0"), ("3.0", "1.0"), ("3.5", "0.5")]
    assert "\x1b[" in text  # cursor movement between frames: a terminal's live display
    assert "[asyncio t=" not in text


def test_an_operation_with_nothing_completed_stays_on_the_frame_at_zero() -> None:
    """An operation seen once but with no completion in an interval (every worker stuck in
    another) still has its row, at 0 ops/s and no percentiles, instead of vanishing; and the
    report of a run with an interval in which nothing started is still built."""
    clock = LoopClock()
    calls = [0]

    async def quick() -> None:
        await clock.sleep(0.01)

    async def sticks_after_the_first() -> None:
        calls[0] += 1
        await clock.sleep(0.01 if calls[0] == 1 else 2.0)

    gen = LoadGenerator(
        {"quick": quick, "sticky": sticks_after_the_first}, {"quick": 1, "sticky": 1},
        concurrency=4, duration=3.0, interval=1.0, seed=1, clock=clock, progress=False,
    )  # fmt: skip
    out = StringIO()

    async def main() -> None:
        await _run_with_view(gen, LiveView(gen, live=False, file=out))

    run_virtual(main())

    assert gen.report is not None and len(gen.report.series) == 3
    lines = out.getvalue().splitlines()
    assert "| quick 6 ops/s p50 10.0 p99 10.0 ms err 0 |" in lines[0], lines[0]
    # every worker is stuck in sticky through the second interval: quick completes nothing
    assert "| quick 0 ops/s p50 - p99 - ms err 0 |" in lines[1], lines[1]
    assert "| sticky 1 ops/s p50 2007.0 p99 2007.0 ms err 0 |" in lines[1], lines[1]


@pytest.mark.parametrize(
    ("quiet", "no_live", "stdout_tty", "stderr_tty", "expected"),
    [
        (False, False, True, True, "live"),
        (False, False, False, True, "lines"),  # the report redirected to a file
        (False, False, True, False, "lines"),
        (False, True, True, True, "lines"),
        (True, False, True, True, None),
        (True, True, False, False, None),
    ],
)
def test_cli_picks_frames_only_when_both_streams_are_terminals(
    monkeypatch: pytest.MonkeyPatch,
    quiet: bool,
    no_live: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    expected: str | None,
) -> None:
    """`load` draws frames only when stdout and stderr are both terminals and --no-live is not
    given, prints lines otherwise, and neither with --quiet."""
    import argparse
    import sys

    from aiodynamo_patterns.loadgen import cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: stdout_tty)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: stderr_tty)
    args = argparse.Namespace(quiet=quiet, no_live=no_live)

    view = cli._live_view(args, _generator(ManualClock()), None)

    assert (None if view is None else ("live" if view.live else "lines")) == expected
