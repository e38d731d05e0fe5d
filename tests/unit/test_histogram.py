"""The fixed-size latency histogram: percentiles within its stated error, memory that never grows."""

from __future__ import annotations

import math
import random
import sys

import pytest

from aiodynamo_patterns import LatencyHistogram
from aiodynamo_patterns.metrics.histogram import BUCKETS, RELATIVE_ERROR

QUANTILES = [0.5, 0.9, 0.95, 0.99, 0.999]


def exact_percentile(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def uniform_micros() -> list[float]:
    return [i / 1e6 for i in range(1, 100_001)]  # 1 us .. 100 ms, every microsecond


def lognormal() -> list[float]:
    rng = random.Random(7)
    return [rng.lognormvariate(math.log(0.008), 0.9) for _ in range(50_000)]  # ~8 ms median


def bimodal() -> list[float]:
    rng = random.Random(11)
    fast = [rng.uniform(0.002, 0.004) for _ in range(9_000)]
    slow = [rng.uniform(0.200, 0.900) for _ in range(1_000)]  # retried calls
    return fast + slow


@pytest.mark.parametrize("samples", [uniform_micros, lognormal, bimodal])
def test_percentiles_are_within_the_stated_error(samples: object) -> None:
    """Every reported percentile is within RELATIVE_ERROR of the exact nearest-rank sample."""
    values = samples()  # type: ignore[operator]
    histogram = LatencyHistogram()
    for v in values:
        histogram.record(v)

    reported = histogram.percentiles(QUANTILES)

    ordered = sorted(values)
    for q, got in zip(QUANTILES, reported, strict=True):
        want = exact_percentile(ordered, q)
        assert abs(got - want) <= RELATIVE_ERROR * want, (q, got, want)
    assert histogram.max == ordered[-1]
    assert histogram.min == ordered[0]
    assert histogram.count == len(values)
    assert histogram.mean == pytest.approx(sum(values) / len(values))


def test_known_uniform_percentiles() -> None:
    """1..100000 us uniformly: p50 is 50 ms, p99 is 99 ms, p99.9 is 99.9 ms (within 0.79 %)."""
    histogram = LatencyHistogram()
    for v in uniform_micros():
        histogram.record(v)

    p50, p99, p999 = histogram.percentiles([0.5, 0.99, 0.999])

    assert p50 == pytest.approx(0.050, rel=RELATIVE_ERROR)
    assert p99 == pytest.approx(0.099, rel=RELATIVE_ERROR)
    assert p999 == pytest.approx(0.0999, rel=RELATIVE_ERROR)


def test_memory_does_not_grow_with_samples() -> None:
    """Recording 100k samples leaves the bucket array the size it was created with."""
    histogram = LatencyHistogram()
    counts_before = sys.getsizeof(histogram._counts)
    rng = random.Random(3)

    for _ in range(100_000):
        histogram.record(rng.expovariate(100.0))

    assert sys.getsizeof(histogram._counts) == counts_before
    assert len(histogram._counts) == BUCKETS
    assert histogram.count == 100_000


def test_merge_equals_recording_everything_in_one() -> None:
    """Merging two histograms gives the percentiles of one histogram holding both sample sets."""
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i, v in enumerate(lognormal()[:5000]):
        (a if i % 2 else b).record(v)
        both.record(v)

    merged = LatencyHistogram.merged([a, b])

    assert merged.percentiles(QUANTILES) == both.percentiles(QUANTILES)
    assert (merged.count, merged.max, merged.min) == (both.count, both.max, both.min)


@pytest.mark.parametrize(
    ("value", "reported"),
    [(0.0, 0.0), (-1.0, 0.0), (5e-7, 5e-7), (10_000.0, 10_000.0)],
)
def test_extreme_values_are_clamped_to_the_observed_range(value: float, reported: float) -> None:
    """Zero, negative, sub-microsecond and beyond-range values are reported inside [min, max]."""
    histogram = LatencyHistogram()

    histogram.record(value)

    assert histogram.percentile(0.5) == reported


def test_empty_histogram_reports_zero() -> None:
    """An empty histogram reports 0 for every percentile and mean."""
    histogram = LatencyHistogram()

    assert histogram.percentiles(QUANTILES) == [0.0] * len(QUANTILES)
    assert histogram.mean == 0.0
