"""What the collector keeps, and the read-only view that snapshot and exposition read.

The bottom of the metrics wing: :mod:`.snapshot` and :mod:`.prometheus` read a
:class:`MetricsView` (which :class:`~.collector.MetricsCollector` satisfies) and import nothing
else of the wing's, so the collector can offer ``snapshot()`` and ``prometheus_text()`` without an
import cycle. A :class:`StatsSource` (a session) registers itself with the collector; the
collector never imports the session.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .histogram import LatencyHistogram

__all__ = [
    "LATENCY_BUCKETS",
    "CacheSeries",
    "CallRecord",
    "MetricsView",
    "OperationSeries",
    "RecentWindow",
    "StatsSource",
]

#: Prometheus histogram bounds (seconds): single-digit ms reads up to multi-second retried calls
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One recorded call, as handed to listeners (e.g. an OpenTelemetry adapter)."""

    operation: str
    table: str
    latency_s: float
    #: the error code, None on success
    code: str | None
    attempts: int
    throttles: int
    read_units: float
    write_units: float
    request_id: str | None


class OperationSeries:
    """Counters and latency of one (operation, table); memory is fixed at creation."""

    __slots__ = (
        "attempts",
        "buckets",
        "cancelled",
        "count",
        "errors",
        "histogram",
        "operation",
        "protocol_resends",
        "read_units",
        "retries",
        "served_locally",
        "successes",
        "table",
        "throttles",
        "write_units",
    )

    def __init__(self, operation: str, table: str) -> None:
        self.operation = operation
        self.table = table
        self.count = 0
        self.successes = 0
        self.errors: dict[str, int] = {}
        self.cancelled = 0
        self.retries = 0
        self.attempts = 0
        self.throttles = 0
        self.served_locally = 0
        #: requests the library sent as a step of its own protocol (not calls, not errors)
        self.protocol_resends = 0
        self.read_units = 0.0
        self.write_units = 0.0
        self.histogram = LatencyHistogram()
        #: non-cumulative counts per LATENCY_BUCKETS bound, the last one for +Inf
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def observe(self, seconds: float) -> None:
        self.histogram.record(seconds)
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1


class CacheSeries:
    __slots__ = ("buckets", "histogram", "hits", "misses", "table")

    def __init__(self, table: str) -> None:
        self.table = table
        self.hits = 0
        self.misses = 0
        self.histogram = LatencyHistogram()
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)


class RecentWindow:
    """Calls per second over the last ``seconds`` seconds: a ring of per-second counters."""

    __slots__ = ("_current", "_ring", "seconds")

    def __init__(self, seconds: int, now: float) -> None:
        self.seconds = seconds
        self._ring = [0] * seconds
        self._current = int(now)

    def add(self, now: float) -> None:
        second = int(now)
        if second != self._current:
            self._advance(second)
        self._ring[second % self.seconds] += 1

    def _advance(self, second: int) -> None:
        if second - self._current >= self.seconds:
            self._ring = [0] * self.seconds
        else:
            for s in range(self._current + 1, second + 1):
                self._ring[s % self.seconds] = 0
        self._current = max(self._current, second)

    def total(self, now: float) -> int:
        self._advance(int(now))
        return sum(self._ring)


class _SupportsAsDict(Protocol):
    def as_dict(self) -> dict[str, float | int]: ...


class StatsSource(Protocol):
    """What a session shows a collector: its pool statistics and its layers."""

    def stats(self) -> _SupportsAsDict: ...

    @property
    def layers(self) -> Sequence[object]: ...


class MetricsView(Protocol):
    """The read side of a collector, all that a snapshot or an exposition needs."""

    window_seconds: int

    def series(self) -> list[OperationSeries]: ...
    def cache_series(self) -> list[CacheSeries]: ...
    def capacity(self) -> dict[tuple[str, str], tuple[float, float]]: ...
    def pool_stats(self) -> list[dict[str, float | int]]: ...
    def layer_stats(self) -> dict[str, dict[str, Any]]: ...
    def uptime(self) -> float: ...
    def recent_calls(self) -> int: ...
