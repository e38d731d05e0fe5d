"""A fixed-size log-linear latency histogram: memory does not grow with the number of samples.

Values (seconds) are counted in buckets laid out like HdrHistogram's: every power of two of
microseconds, from 1 us to 2**32 us (about 71 minutes), is split into :data:`SUB_BUCKETS` equal
sub-buckets. A value lands in the bucket ``[lower, upper)`` that contains it and is reported as
the bucket's midpoint, so a reported percentile is within ``1 / (2 * SUB_BUCKETS)`` (0.79 %) of the
true sample at that rank (values under 1 us are within 1 us). The exact minimum, maximum and sum
are kept beside the buckets. The counts live in one preallocated ``array('Q')`` of
:data:`BUCKETS` slots (16 KiB): recording is O(1) and allocates nothing.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

__all__ = ["BUCKETS", "RELATIVE_ERROR", "SUB_BUCKETS", "LatencyHistogram"]

SUB_BUCKETS = 64
OCTAVES = 32
BUCKETS = SUB_BUCKETS * OCTAVES
#: the largest relative error of a reported percentile (for values of 1 us or more)
RELATIVE_ERROR = 1.0 / (2 * SUB_BUCKETS)

_frexp = math.frexp
_LAST = BUCKETS - 1
_TWICE_SUB = 2 * SUB_BUCKETS


def _bucket_index(seconds: float) -> int:
    micros = seconds * 1e6
    if micros < 1.0:
        return 0
    mantissa, exponent = _frexp(micros)  # micros = mantissa * 2**exponent, 0.5 <= mantissa < 1
    index = (exponent - 1) * SUB_BUCKETS + int((mantissa - 0.5) * _TWICE_SUB)
    return index if index < _LAST else _LAST


def _bucket_bounds(index: int) -> tuple[float, float]:
    """``[lower, upper)`` of bucket ``index`` in seconds (bucket 0 also holds everything < 1 us)."""
    octave, sub = divmod(index, SUB_BUCKETS)
    base = float(1 << octave)
    lower = base * (1.0 + sub / SUB_BUCKETS)
    upper = base * (1.0 + (sub + 1) / SUB_BUCKETS)
    if index == 0:
        lower = 0.0
    return lower / 1e6, upper / 1e6


class LatencyHistogram:
    """Counts of latencies (seconds) in :data:`BUCKETS` log-linear buckets, plus count/sum/min/max."""

    __slots__ = ("_counts", "count", "max", "min", "total")

    def __init__(self) -> None:
        self._counts = array("Q", bytes(8 * BUCKETS))
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, seconds: float) -> None:
        if seconds < 0.0:
            seconds = 0.0
        self._counts[_bucket_index(seconds)] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        if seconds < self.min:
            self.min = seconds

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to this histogram."""
        counts = self._counts
        for i, n in enumerate(other._counts):
            if n:
                counts[i] += n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    @classmethod
    def merged(cls, histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
        result = cls()
        for histogram in histograms:
            result.merge(histogram)
        return result

    def reset(self) -> None:
        self._counts = array("Q", bytes(8 * BUCKETS))
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The value at quantile ``q`` (0..1), nearest rank, in seconds; 0.0 when empty."""
        return self.percentiles((q,))[0]

    def percentiles(self, quantiles: Sequence[float]) -> list[float]:
        """Values at several quantiles (ascending or not) in one pass over the buckets."""
        if self.count == 0:
            return [0.0 for _ in quantiles]
        order = sorted(range(len(quantiles)), key=lambda i: quantiles[i])
        ranks = [max(1, math.ceil(quantiles[i] * self.count)) for i in order]
        found: list[float] = [0.0] * len(quantiles)
        position = 0
        seen = 0
        for index, n in enumerate(self._counts):
            if not n:
                continue
            seen += n
            while position < len(ranks) and ranks[position] <= seen:
                lower, upper = _bucket_bounds(index)
                value = (lower + upper) / 2
                # the exact extremes are known: never report outside them
                found[order[position]] = min(max(value, self.min), self.max)
                position += 1
            if position == len(ranks):
                break
        return found

    def __repr__(self) -> str:
        return f"<LatencyHistogram count={self.count} max={self.max:.6f}s>"
