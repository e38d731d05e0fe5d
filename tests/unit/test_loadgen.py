"""The load generator itself, on virtual time: rates, coordinated omission, bounds, stopping."""

from __future__ import annotations

import asyncio

import pytest

from aiodynamo_patterns.errors import Throttled, ValidationError
from aiodynamo_patterns.loadgen.generator import LoadGenerator
from aiodynamo_patterns.testing.virtual_time import LoopClock, run_virtual


async def instant() -> None:
    return None


@pytest.mark.parametrize(
    ("rate", "arrival"),
    [(1000.0, "constant"), (1000.0, "poisson"), (250.0, "constant"), (2000.0, "poisson")],
)
def test_open_model_holds_its_target_rate_within_two_percent(rate: float, arrival: str) -> None:
    """Against a fast operation the achieved rate is the target rate within 2%, none late."""
    gen = LoadGenerator(
        {"op": instant}, rate=rate, arrival=arrival, duration=10.0, concurrency=8, seed=7,
        clock=LoopClock(),
    )  # fmt: skip

    report = run_virtual(gen.run())

    assert report.achieved_rate == pytest.approx(rate, rel=0.02)
    assert report.ops == pytest.approx(rate * 10, rel=0.02)
    assert report.late_starts == 0
    assert report.unstarted == 0
    assert report.errors == 0


def _stalling(at: int, stall: float) -> tuple[list[int], object]:
    calls = [0]

    async def op() -> None:
        calls[0] += 1
        if calls[0] == at:
            await asyncio.sleep(stall)
        else:
            await asyncio.sleep(0.0005)

    return calls, op


def test_a_200ms_stall_shows_in_the_corrected_p99_while_raw_hides_it() -> None:
    """One 200 ms stall at 100 ops/s delays 20 scheduled operations: corrected p99 sees it."""
    _, op = _stalling(at=500, stall=0.2)
    gen = LoadGenerator(
        {"op": op},  # type: ignore[dict-item]  # an async callable built above
        rate=100.0, duration=10.0, concurrency=1, clock=LoopClock(),
    )  # fmt: skip

    report = run_virtual(gen.run())

    assert report.latency_corrected["p99_ms"] >= 100.0
    assert report.latency_corrected["max_ms"] >= 199.0
    assert report.latency_raw["p99_ms"] < 1.0, "raw latency hides the stall (one slow op in 1000)"
    assert report.late_starts >= 15


def test_closed_model_never_exceeds_its_concurrency() -> None:
    """With variable service times the closed model keeps exactly `concurrency` in flight."""
    in_flight = 0
    peak = 0
    import random

    rng = random.Random(3)

    async def op() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(rng.uniform(0.001, 0.02))
        finally:
            in_flight -= 1

    gen = LoadGenerator({"op": op}, concurrency=12, duration=5.0, clock=LoopClock())

    report = run_virtual(gen.run())

    assert peak == 12
    assert report.peak_in_flight == 12
    assert report.model == "closed"
    assert report.ops > 1000


def test_count_bound_runs_exactly_count_measured_operations_after_warmup() -> None:
    """A count-bounded run records exactly `count` operations, none from the warm-up."""
    gen = LoadGenerator(
        {"op": instant}, rate=500.0, count=300, duration=None, warmup=1.0, clock=LoopClock()
    )

    report = run_virtual(gen.run())

    assert report.ops == 300
    assert report.achieved_rate == pytest.approx(500.0, rel=0.02)


def test_stop_ends_the_run_early_and_still_reports() -> None:
    """stop() after 2 s of a 60 s run returns a report of those 2 s with nothing in flight."""

    async def slow() -> None:
        await asyncio.sleep(0.01)

    async def main() -> tuple[object, LoadGenerator]:
        gen = LoadGenerator({"op": slow}, concurrency=4, duration=60.0, clock=LoopClock())
        loop = asyncio.get_running_loop()
        loop.call_later(2.0, gen.stop)
        return await gen.run(), gen

    report, gen = run_virtual(main())

    assert report.stopped_early  # type: ignore[attr-defined]
    assert report.ops == pytest.approx(800, rel=0.02)  # type: ignore[attr-defined]
    assert gen.in_flight == 0


def test_cancelling_run_cancels_operations_and_leaves_a_partial_report() -> None:
    """Cancelling run() cancels every operation in flight, re-raises, and keeps a report."""
    cancelled = 0

    async def hangs_sometimes() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(0.01 if asyncio.get_running_loop().time() < 1.0 else 3600)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async def main() -> LoadGenerator:
        gen = LoadGenerator(
            {"op": hangs_sometimes}, concurrency=4, duration=60.0, clock=LoopClock()
        )
        task = asyncio.create_task(gen.run())
        await asyncio.sleep(5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return gen

    gen = run_virtual(main())

    assert cancelled == 4
    assert gen.report is not None
    assert gen.report.stopped_early
    assert gen.report.ops >= 390
    assert gen.report.cancelled == 4


def test_errors_are_counted_by_code_and_still_timed() -> None:
    """Failed operations count under their DynamoDB code and are part of the latency figures."""

    async def throttled() -> None:
        raise Throttled("slow down", code="ThrottlingException")

    gen = LoadGenerator(
        {"ok": instant, "bad": throttled}, {"ok": 3, "bad": 1},
        rate=1000.0, duration=4.0, seed=1, clock=LoopClock(),
    )  # fmt: skip

    report = run_virtual(gen.run())

    assert report.errors == report.per_operation["bad"]["errors"]
    assert report.errors_by_code == {"ThrottlingException": report.errors}
    assert report.errors / report.ops == pytest.approx(0.25, abs=0.03)
    assert report.latency_corrected["count"] == report.ops


def test_overloaded_open_model_reports_late_and_unstarted_operations() -> None:
    """At 1000 ops/s with one 10 ms worker, the schedule falls behind and says so."""

    async def ten_ms() -> None:
        await asyncio.sleep(0.01)

    gen = LoadGenerator({"op": ten_ms}, rate=1000.0, duration=2.0, concurrency=1, clock=LoopClock())

    report = run_virtual(gen.run())

    assert report.achieved_rate == pytest.approx(100.0, rel=0.05)
    assert report.unstarted == pytest.approx(1800, rel=0.02)
    assert report.latency_corrected["p50_ms"] > 500.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"rate": -1.0}, "rate"),
        ({"duration": None, "count": None}, "duration"),
        ({"arrival": "bursty"}, "arrival"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], field: str) -> None:
    """Invalid settings raise ValidationError naming the field."""
    with pytest.raises(ValidationError) as info:
        LoadGenerator({"op": instant}, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
