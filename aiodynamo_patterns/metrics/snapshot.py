"""The plain, JSON-ready picture of a :class:`~aiodynamo_patterns.MetricsCollector`."""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .histogram import RELATIVE_ERROR, LatencyHistogram

if TYPE_CHECKING:
    from .series import MetricsView, OperationSeries

__all__ = ["QUANTILES", "build_snapshot", "layer_entries"]

logger = logging.getLogger("aiodynamo_patterns")

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
)


def build_snapshot(collector: MetricsView) -> dict[str, Any]:
    """Overall, per-operation (and per-table), capacity, cache, pool and layer figures."""
    uptime = collector.uptime()
    recent_span = min(float(collector.window_seconds), uptime)
    recent = collector.recent_calls()
    all_series = collector.series()
    by_operation: dict[str, list[OperationSeries]] = {}
    for series in all_series:
        by_operation.setdefault(series.operation, []).append(series)
    overall = _summary(all_series)
    overall["ops_per_second"] = round(overall["count"] / uptime, 3) if uptime > 0 else 0.0
    overall["ops_per_second_recent"] = round(recent / recent_span, 3) if recent_span > 0 else 0.0
    overall["window_seconds"] = collector.window_seconds
    operations = {}
    for operation in sorted(by_operation):
        group = by_operation[operation]
        entry = _summary(group)
        entry["tables"] = {s.table: _summary([s]) for s in group}
        operations[operation] = entry
    capacity: dict[str, dict[str, Any]] = {}
    for (table, index), (read, write) in sorted(collector.capacity().items()):
        slot = capacity.setdefault(table, {"read_units": 0.0, "write_units": 0.0, "indexes": {}})
        if index:
            slot["indexes"][index] = {"read_units": read, "write_units": write}
        else:
            slot["read_units"], slot["write_units"] = read, write
    cache = {}
    for series_ in sorted(collector.cache_series(), key=lambda c: c.table):
        table = series_.table
        lookups = series_.hits + series_.misses
        cache[table] = {
            "hits": series_.hits,
            "misses": series_.misses,
            "hit_rate": round(series_.hits / lookups, 4) if lookups else 0.0,
            **_latency(series_.histogram),
        }
    return {
        "uptime_seconds": round(uptime, 3),
        "histogram_relative_error": RELATIVE_ERROR,
        "overall": overall,
        "operations": operations,
        "capacity": capacity,
        "cache": cache,
        "pools": collector.pool_stats(),
        "layers": collector.layer_stats(),
    }


def _latency(histogram: LatencyHistogram) -> dict[str, float]:
    values = histogram.percentiles([q for _, q in QUANTILES])
    figures = {
        f"{name}_ms": round(v * 1000, 3) for (name, _), v in zip(QUANTILES, values, strict=True)
    }
    figures["max_ms"] = round(histogram.max * 1000, 3)
    figures["mean_ms"] = round(histogram.mean * 1000, 3)
    return figures


def _summary(group: list[OperationSeries]) -> dict[str, Any]:
    count = sum(s.count for s in group)
    successes = sum(s.successes for s in group)
    errors: dict[str, int] = {}
    for s in group:
        for code, n in s.errors.items():
            errors[code] = errors.get(code, 0) + n
    histogram = (
        group[0].histogram
        if len(group) == 1
        else LatencyHistogram.merged(s.histogram for s in group)
    )
    return {
        "count": count,
        "successes": successes,
        "errors": count - successes,
        "success_rate": round(successes / count, 4) if count else 1.0,
        "errors_by_code": dict(sorted(errors.items())),
        "retries": sum(s.retries for s in group),
        "throttles": sum(s.throttles for s in group),
        "cancelled": sum(s.cancelled for s in group),
        "served_locally": sum(s.served_locally for s in group),
        "protocol_resends": sum(s.protocol_resends for s in group),
        **_latency(histogram),
        "consumed_capacity": {
            "read_units": sum(s.read_units for s in group),
            "write_units": sum(s.write_units for s in group),
        },
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a layer's stats value."""
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return _plain(as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def layer_entries(layer: object) -> dict[str, dict[str, Any]]:
    """Duck-typed statistics of one layer, keyed by a display name.

    ``stats()`` (a mapping, a dataclass or anything with ``as_dict()``) gives the layer's
    figures; ``states()`` (name -> snapshot) gives one entry per circuit, ``Layer[name]``;
    otherwise ``state`` (an attribute or a method) gives its state. Snapshots are flattened, so
    a breaker's ``{"state": "open", "rejected": 3, ...}`` reads as the layer's own figures.
    """
    base = type(layer).__name__
    found: dict[str, dict[str, Any]] = {}
    try:
        entry: dict[str, Any] = {}
        stats = getattr(layer, "stats", None)
        if callable(stats):
            value = _plain(stats())
            entry.update(value if isinstance(value, dict) else {"stats": value})
        states = getattr(layer, "states", None)
        if callable(states):
            circuits = {
                f"{base}[{name}]": _as_state(_plain(snap)) for name, snap in states().items()
            }
        else:
            circuits = {}
            state = getattr(layer, "state", None)
            if callable(state):
                state = state()
            if state is not None:
                entry.update(_as_state(_plain(state)))
        if entry:
            found[base] = entry
        found.update(circuits)
    except Exception:
        logger.debug("stats of layer %r could not be read", layer, exc_info=True)
    return found


def _as_state(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"state": value}
