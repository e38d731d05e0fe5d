"""Prometheus text exposition of a :class:`~aiodynamo_patterns.MetricsCollector`.

``collector.prometheus_text()`` renders every figure through ``prometheus_client`` (the
``prometheus`` extra) with a registry of its own, so nothing leaks into the process-wide default
registry. To serve the figures from an existing ``prometheus_client`` set-up instead, register
:class:`DynamoMetricsExporter` yourself::

    from prometheus_client import REGISTRY
    REGISTRY.register(DynamoMetricsExporter(session.metrics))

Names follow Prometheus conventions (``aiodynamo_patterns_`` prefix, base units, ``_seconds``
histograms, ``_total`` counters) with ``operation`` (the DynamoDB wire name), ``table``, ``code``,
``index`` labels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .series import LATENCY_BUCKETS

if TYPE_CHECKING:
    from .series import MetricsView

__all__ = ["DynamoMetricsExporter", "prometheus_text"]

PREFIX = "aiodynamo_patterns"
_OP = ["operation", "table"]


def _buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    cumulative = 0
    result: list[tuple[str, float]] = []
    for bound, n in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
        cumulative += n
        result.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return result


class DynamoMetricsExporter(Collector):
    """A ``prometheus_client`` collector reading a MetricsCollector at scrape time."""

    def __init__(self, collector: MetricsView) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
        c = self._collector
        series = c.series()
        requests = CounterMetricFamily(
            f"{PREFIX}_requests", "Logical calls measured (retries inside one call).", labels=_OP
        )
        errors = CounterMetricFamily(
            f"{PREFIX}_request_errors",
            "Calls that failed, by final error code.",
            labels=[*_OP, "code"],
        )
        retries = CounterMetricFamily(f"{PREFIX}_retries", "Resent requests.", labels=_OP)
        throttles = CounterMetricFamily(
            f"{PREFIX}_throttles", "Requests refused by throttling.", labels=_OP
        )
        local = CounterMetricFamily(
            f"{PREFIX}_served_locally",
            "Calls answered by a layer without a DynamoDB request (cache hits).",
            labels=_OP,
        )
        resends = CounterMetricFamily(
            f"{PREFIX}_protocol_resends",
            "Requests the library sent again as a step of its own protocol (not calls, not errors).",
            labels=_OP,
        )
        read = CounterMetricFamily(
            f"{PREFIX}_consumed_read_capacity_units",
            "Read capacity units DynamoDB reported as consumed.",
            labels=_OP,
        )
        write = CounterMetricFamily(
            f"{PREFIX}_consumed_write_capacity_units",
            "Write capacity units DynamoDB reported as consumed.",
            labels=_OP,
        )
        latency = HistogramMetricFamily(
            f"{PREFIX}_request_duration_seconds",
            "Latency of a logical call, retries and backoff included.",
            labels=_OP,
        )
        for s in series:
            labels = [s.operation, s.table]
            requests.add_metric(labels, s.count)
            for code, n in sorted(s.errors.items()):
                errors.add_metric([*labels, code], n)
            retries.add_metric(labels, s.retries)
            throttles.add_metric(labels, s.throttles)
            local.add_metric(labels, s.served_locally)
            resends.add_metric(labels, s.protocol_resends)
            read.add_metric(labels, s.read_units)
            write.add_metric(labels, s.write_units)
            latency.add_metric(labels, _buckets(s.buckets), s.histogram.total)
        yield from (requests, errors, retries, throttles, local, resends, read, write, latency)

        index_read = CounterMetricFamily(
            f"{PREFIX}_table_consumed_read_capacity_units",
            'Read capacity units per table (index="" is the table total, indexes included).',
            labels=["table", "index"],
        )
        index_write = CounterMetricFamily(
            f"{PREFIX}_table_consumed_write_capacity_units",
            'Write capacity units per table (index="" is the table total, indexes included).',
            labels=["table", "index"],
        )
        for (table, index), (r, w) in sorted(c.capacity().items()):
            index_read.add_metric([table, index], r)
            index_write.add_metric([table, index], w)
        yield from (index_read, index_write)

        cache = CounterMetricFamily(
            f"{PREFIX}_cache_lookups", "Cache lookups by result.", labels=["table", "result"]
        )
        cache_latency = HistogramMetricFamily(
            f"{PREFIX}_cache_duration_seconds", "Latency of a cache lookup.", labels=["table"]
        )
        for cs in c.cache_series():
            cache.add_metric([cs.table, "hit"], cs.hits)
            cache.add_metric([cs.table, "miss"], cs.misses)
            cache_latency.add_metric([cs.table], _buckets(cs.buckets), cs.histogram.total)
        yield from (cache, cache_latency)

        yield from _pool_metrics(c.pool_stats())
        yield from _layer_metrics(c.layer_stats())


def _pool_metrics(pools: list[dict[str, float | int]]) -> Iterator[Metric]:
    gauges = {
        "in_flight": GaugeMetricFamily(f"{PREFIX}_pool_in_flight", "Requests holding a slot."),
        "waiting": GaugeMetricFamily(f"{PREFIX}_pool_waiting", "Requests waiting for a slot."),
        "peak_in_flight": GaugeMetricFamily(
            f"{PREFIX}_pool_peak_in_flight", "Most requests in flight at once."
        ),
        "max_concurrency": GaugeMetricFamily(
            f"{PREFIX}_pool_max_concurrency", "Request slots (the semaphore bound)."
        ),
    }
    wait = CounterMetricFamily(
        f"{PREFIX}_pool_wait_seconds", "Time spent waiting for a request slot."
    )
    timeouts = CounterMetricFamily(
        f"{PREFIX}_pool_acquire_timeouts", "Requests that gave up waiting for a slot."
    )
    if pools:
        for name, family in gauges.items():
            family.add_metric([], sum(float(p[name]) for p in pools))
        wait.add_metric([], sum(float(p["total_wait_seconds"]) for p in pools))
        timeouts.add_metric([], sum(float(p["acquire_timeouts"]) for p in pools))
        yield from gauges.values()
        yield from (wait, timeouts)


def _layer_metrics(layers: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    stat = GaugeMetricFamily(
        f"{PREFIX}_layer_stat",
        "Numeric statistics reported by layers (retry, circuit breaker, cache).",
        labels=["layer", "stat"],
    )
    state = GaugeMetricFamily(
        f"{PREFIX}_layer_state",
        "Current state of a layer (1 for the state it is in), e.g. a circuit breaker.",
        labels=["layer", "state"],
    )
    for layer, entry in sorted(layers.items()):
        for name, value in sorted(entry.items()):
            if name == "state":
                state.add_metric([layer, str(value)], 1)
            elif isinstance(value, bool | int | float):
                stat.add_metric([layer, name], float(value))
    yield from (stat, state)


def prometheus_text(collector: MetricsView) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DynamoMetricsExporter(collector))
    return generate_latest(registry).decode("utf-8")
