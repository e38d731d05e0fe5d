"""Metrics for every call, taken once at the session's choke point, in bounded memory.

Every :class:`~aiodynamo_patterns.DynamoSession` owns a :class:`MetricsCollector` by default
(``session.metrics``). The session wraps its layers in two small probes of the collector:

* :class:`MetricsLayer`, the **outermost** layer: one sample per logical call (retries, backoff
  sleeps and breaker refusals included in its latency), the outcome (success or error code), and
  the consumed capacity read from the response. It adds ``ReturnConsumedCapacity="INDEXES"`` to
  the operations that accept it, unless the caller chose a value.
* :class:`AttemptProbe`, the **innermost** layer: counts the requests that really went to
  DynamoDB, so retries and throttles are counted whatever retry layer sits in between. A call that
  no request left for (a cache hit) is counted as ``served_locally``, not as a DynamoDB latency;
  the cache records its own series with :meth:`MetricsCollector.record_cache`.

Per (operation, table) series keep counters and a fixed-size :class:`LatencyHistogram`; the number
of series is bounded by the operations and tables used, never by the number of calls.

``DynamoSession(metrics=MetricsCollector(...))`` passes a collector of your own (one collector can
serve several sessions); ``DynamoSession(metrics=None)`` switches metrics off entirely.

Failed calls are logged under the ``aiodynamo_patterns`` logger, one record each, with the
structured fields in ``extra`` (``ddb_operation``, ``ddb_table``, ``ddb_code``, ``ddb_attempts``,
``ddb_latency_ms``, ``ddb_request_id``, ``ddb_key``). Item values, key values and server messages
(which can quote them) are never logged unless ``log_keys=True``, which shows key values.

OpenTelemetry (or any other sink): :meth:`MetricsCollector.add_listener` calls a function with a
:class:`CallRecord` per recorded call; see the README's Monitoring section for a ten-line adapter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import (
    CircuitOpen,
    ConditionFailed,
    DynamoError,
    ItemNotFound,
    Throttled,
    TransactionCanceled,
    ValidationError,
)
from ..pipeline import CAPACITY_OPERATIONS, PROTOCOL_STEP, WRITE_OPERATIONS, Call, Request, Result
from .series import (
    LATENCY_BUCKETS,
    CacheSeries,
    CallRecord,
    OperationSeries,
    RecentWindow,
    StatsSource,
)
from .snapshot import build_snapshot, layer_entries

__all__ = [
    "CAPACITY_OPERATIONS",
    "LATENCY_BUCKETS",
    "AttemptProbe",
    "CacheSeries",
    "CallRecord",
    "OperationSeries",
    "MetricsCollector",
    "MetricsLayer",
    "consumed_capacity",
]

logger = logging.getLogger("aiodynamo_patterns")

# Outcomes the caller asked about (a condition, a missing item): logged at INFO, not WARNING.
# Logged at INFO, not WARNING: the caller's own outcome (a false condition, a missing item, bad
# input), and a refusal by an open circuit, whose opening the breaker logged once at WARNING with
# its cause (an outage would otherwise log one warning per refused call).
_INFO_ERRORS = (ConditionFailed, ItemNotFound, TransactionCanceled, ValidationError, CircuitOpen)
_ATTEMPTS = "metrics.attempts"
_THROTTLES = "metrics.throttles"
_CAPACITY = "metrics.capacity"
_CAPACITY_ADDED = "metrics.capacity_added"
NO_TABLE = "-"


class MetricsLayer:
    """The outermost layer: one sample per logical call into its :class:`MetricsCollector`.

    With an :class:`AttemptProbe` of the same collector innermost (``probed``, how a session
    wires them), the probe asks each attempt for its consumed capacity and takes it off the
    fresh response, so this layer copies nothing; alone, it asks and strips itself.
    """

    __slots__ = ("_clock", "_collector", "probed")

    def __init__(self, collector: MetricsCollector, *, probed: bool = False) -> None:
        self._collector = collector
        self._clock = collector.clock
        #: True when an :class:`AttemptProbe` of the same collector sits innermost
        self.probed = probed

    async def __call__(self, request: Request, call_next: Call) -> Result:
        added = not self.probed and _ask_capacity(request)
        clock = self._clock
        started = request.started_at(clock)
        try:
            result = await call_next(request)
        except asyncio.CancelledError:
            self._collector._record_cancelled(request)
            raise
        except Exception as exc:
            self._observe(request, started, clock.now(), exc, None)
            raise
        self._observe(request, started, clock.now(), None, result)
        if added and "ConsumedCapacity" in result:
            # measuring is invisible: the caller gets the response it asked for (a copy, since
            # a layer below may share the response object)
            result = {k: v for k, v in result.items() if k != "ConsumedCapacity"}
        return result

    def _observe(
        self,
        request: Request,
        started: float,
        ended: float,
        exc: Exception | None,
        result: Result | None,
    ) -> None:
        # measuring must never change the outcome of the call it measures
        try:
            self._collector._record(request, started, ended, exc, result, self.probed)
        except Exception:
            logger.exception("metrics could not record %s", request.operation)


def _protocol_step(exc: BaseException) -> str | None:
    """What the caller makes of ``exc`` when it is a step of its own protocol (see pipeline)."""
    step = PROTOCOL_STEP.get()
    return None if step is None else step(exc)


def _ask_capacity(request: Request) -> bool:
    """Add ``ReturnConsumedCapacity`` to ``request`` (a new params dict: the caller's stays as
    it was) when the operation takes it and the caller did not set it; True if added."""
    if request.operation in CAPACITY_OPERATIONS and "ReturnConsumedCapacity" not in request.params:
        request.params = {**request.params, "ReturnConsumedCapacity": "INDEXES"}
        return True
    return False


class AttemptProbe:
    """The innermost layer: counts requests really sent (and throttled) for the outer sample,
    and collects the consumed capacity of the attempt that answered."""

    __slots__ = ()

    async def __call__(self, request: Request, call_next: Call) -> Result:
        notes = request.notes
        notes[_ATTEMPTS] = notes.get(_ATTEMPTS, 0) + 1
        if _CAPACITY_ADDED not in notes:
            notes[_CAPACITY_ADDED] = _ask_capacity(request)
        try:
            result = await call_next(request)
        except Throttled:
            notes[_THROTTLES] = notes.get(_THROTTLES, 0) + 1
            raise
        # the response is the innermost call's own fresh object: taking a key off is safe
        consumed = (
            result.pop("ConsumedCapacity", None)
            if notes[_CAPACITY_ADDED]
            else result.get("ConsumedCapacity")
        )
        if consumed:
            notes[_CAPACITY] = consumed
        return result


def consumed_capacity(request: Request, result: Result) -> Any:
    """The ``ConsumedCapacity`` of a finished call, for observers outside the metrics layer:
    what the session's attempt probe took off the answer, or the answer's own."""
    return request.notes.get(_CAPACITY) or result.get("ConsumedCapacity")


Listener = Callable[[CallRecord], None]


class MetricsCollector:
    """Counters, latency histograms and consumed capacity per (operation, table); bounded memory.

    ``window_seconds`` sets the recent window of :meth:`snapshot`'s ``ops_per_second_recent``;
    ``log_keys=True`` puts key values (and the server's error message) into failure logs.
    """

    def __init__(
        self, *, clock: Clock | None = None, window_seconds: int = 60, log_keys: bool = False
    ) -> None:
        if not isinstance(window_seconds, int) or window_seconds < 1:
            raise ValidationError("must be a positive int", field="window_seconds")
        self.clock: Clock = clock or SystemClock()
        self.window_seconds = window_seconds
        self.log_keys = log_keys
        self._listeners: list[Listener] = []
        self._sessions: list[weakref.ref[StatsSource]] = []
        self.reset()

    # -- wiring ----------------------------------------------------------------------------

    def layers(self) -> tuple[MetricsLayer, AttemptProbe]:
        """The (outermost, innermost) pair a session wraps around its own layers."""
        return MetricsLayer(self, probed=True), AttemptProbe()

    def add_source(self, source: StatsSource) -> None:
        """Report ``source``'s pool and layer statistics in snapshots (held weakly)."""
        self._sessions = [ref for ref in self._sessions if ref() is not None]
        if all(ref() is not source for ref in self._sessions):
            self._sessions.append(weakref.ref(source))

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(CallRecord)`` after every recorded call (errors are logged, not raised)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # -- recording ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every sample and restart the clock of the ops/s figures."""
        self._series: dict[tuple[str, str], OperationSeries] = {}
        self._cache: dict[str, CacheSeries] = {}
        # (table, index or "") -> [read, write]; "" is the table's total, indexes included
        self._capacity: dict[tuple[str, str], list[float]] = {}
        self._started = self.clock.now()
        self._window = RecentWindow(self.window_seconds, self._started)

    def _series_for(self, operation: str, table: str) -> OperationSeries:
        series = self._series.get((operation, table))
        if series is None:
            series = self._series[(operation, table)] = OperationSeries(operation, table)
        return series

    def _record(
        self,
        request: Request,
        started: float,
        ended: float,
        exc: BaseException | None,
        result: Result | None,
        probed: bool,
    ) -> None:
        latency = ended - started
        operation = request.operation
        table = request.table or NO_TABLE
        series = self._series_for(operation, table)
        notes = request.notes
        # request.attempt is the retry layer's 0-based attempt index (0 without a retry layer)
        attempts: int = notes.get(_ATTEMPTS, 0) if probed else request.attempt + 1
        if probed and attempts == 0 and exc is None:
            # answered by a layer (a cache hit) without a request to DynamoDB
            series.served_locally += 1
            return
        throttles: int = notes.get(_THROTTLES, 0) if probed else int(isinstance(exc, Throttled))
        step = None if exc is None else _protocol_step(exc)
        if step == "resend":
            # the caller never sees this failure: the request goes again, counted as its call
            series.protocol_resends += 1
            series.attempts += attempts
            return
        if step == "success":  # an earlier attempt was applied (its answer lost): a success
            exc = None
        series.count += 1
        series.attempts += attempts
        if attempts > 1:
            series.retries += attempts - 1
        series.throttles += throttles
        series.observe(latency)
        self._window.add(ended)
        read = write = 0.0
        code: str | None = None
        if exc is None:
            series.successes += 1
            consumed = notes.get(_CAPACITY) if probed else None
            if consumed is None and result is not None:
                consumed = result.get("ConsumedCapacity")
            if consumed:
                read, write = self._add_capacity(series, consumed)
        else:
            code = step or getattr(exc, "code", None) or type(exc).__name__
            series.errors[code] = series.errors.get(code, 0) + 1
            self._log_failure(request, table, exc, code, attempts, latency)
        if self._listeners:
            self._notify(
                CallRecord(
                    operation,
                    table,
                    latency,
                    code,
                    attempts,
                    throttles,
                    read,
                    write,
                    getattr(exc, "request_id", None),
                )
            )

    def _record_cancelled(self, request: Request) -> None:
        self._series_for(request.operation, request.table or NO_TABLE).cancelled += 1

    def record_cache(self, table: str, hit: bool, latency_s: float) -> None:
        """Record one cache lookup (for the cache layer): its own series, not a DynamoDB call."""
        series = self._cache.get(table)
        if series is None:
            series = self._cache[table] = CacheSeries(table)
        if hit:
            series.hits += 1
        else:
            series.misses += 1
        series.histogram.record(latency_s)
        series.buckets[bisect_left(LATENCY_BUCKETS, latency_s)] += 1

    def _add_capacity(self, series: OperationSeries, consumed: Any) -> tuple[float, float]:
        entries = consumed if isinstance(consumed, list) else [consumed]
        is_write = series.operation in WRITE_OPERATIONS
        read_total = write_total = 0.0
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            table = entry.get("TableName") or series.table
            read, write = _units(entry, is_write)
            read_total += read
            write_total += write
            self._add_units(table, "", read, write)
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                indexes = entry.get(kind)
                if isinstance(indexes, Mapping):
                    for name, capacity in indexes.items():
                        if isinstance(capacity, Mapping):
                            self._add_units(table, str(name), *_units(capacity, is_write))
        series.read_units += read_total
        series.write_units += write_total
        return read_total, write_total

    def _add_units(self, table: str, index: str, read: float, write: float) -> None:
        units = self._capacity.get((table, index))
        if units is None:
            units = self._capacity[(table, index)] = [0.0, 0.0]
        units[0] += read
        units[1] += write

    def _notify(self, record: CallRecord) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                logger.warning("metrics listener %r failed", listener, exc_info=True)

    def _log_failure(
        self,
        request: Request,
        table: str,
        exc: BaseException,
        code: str,
        attempts: int,
        latency: float,
    ) -> None:
        level = logging.INFO if isinstance(exc, _INFO_ERRORS) else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        key = _describe_key(request.params.get("Key"), show_values=self.log_keys)
        extra: dict[str, Any] = {
            "ddb_operation": request.operation,
            "ddb_table": table,
            "ddb_code": code,
            "ddb_attempts": attempts,
            "ddb_latency_ms": round(latency * 1000, 3),
            "ddb_request_id": getattr(exc, "request_id", None),
            "ddb_key": key or "-",
        }
        if self.log_keys and isinstance(exc, DynamoError):
            extra["ddb_message"] = exc.message
        logger.log(
            level,
            "%s on %s failed: %s after %d attempt(s) in %.1f ms (key %s, request id %s)",
            request.operation,
            table,
            code,
            attempts,
            latency * 1000,
            key or "-",
            extra["ddb_request_id"],
            extra=extra,
        )

    # -- reading -----------------------------------------------------------------------------

    def series(self) -> list[OperationSeries]:
        """The live per-(operation, table) series (for exporters; do not mutate)."""
        return list(self._series.values())

    def cache_series(self) -> list[CacheSeries]:
        return list(self._cache.values())

    def capacity(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``{(table, index): (read_units, write_units)}``; index ``""`` is the table's total."""
        return {key: (units[0], units[1]) for key, units in self._capacity.items()}

    def pool_stats(self) -> list[dict[str, float | int]]:
        """``session.stats()`` of every attached session that is still alive."""
        pools = []
        for ref in self._sessions:
            session = ref()
            if session is not None:
                pools.append(session.stats().as_dict())
        return pools

    def layer_stats(self) -> dict[str, dict[str, Any]]:
        """``stats()`` / ``state`` of every layer that has them (retry, breaker, cache, ...)."""
        found: dict[str, dict[str, Any]] = {}
        for ref in self._sessions:
            session = ref()
            if session is None:
                continue
            for layer in session.layers:
                for name, entry in layer_entries(layer).items():
                    unique, suffix = name, 2
                    while unique in found:
                        unique = f"{name}#{suffix}"
                        suffix += 1
                    found[unique] = entry
        return found

    def uptime(self) -> float:
        """Seconds since the collector was created or last reset."""
        return max(self.clock.now() - self._started, 0.0)

    def recent_calls(self) -> int:
        """Calls recorded in the last ``window_seconds`` seconds."""
        return self._window.total(self.clock.now())

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain JSON-ready values (no per-call data)."""
        return build_snapshot(self)

    def export_json(self, *, indent: int | None = 2) -> str:
        """:meth:`snapshot` as a JSON string."""
        return json.dumps(self.snapshot(), indent=indent, default=str)

    def prometheus_text(self) -> str:
        """The Prometheus text exposition of every figure (needs ``prometheus-client``)."""
        from .prometheus import prometheus_text

        return prometheus_text(self)

    def __repr__(self) -> str:
        calls = sum(s.count for s in self._series.values())
        return f"<MetricsCollector {len(self._series)} series, {calls} calls>"


def _units(entry: Mapping[str, Any], is_write: bool) -> tuple[float, float]:
    read = entry.get("ReadCapacityUnits")
    write = entry.get("WriteCapacityUnits")
    if read is None and write is None:
        total = float(entry.get("CapacityUnits") or 0.0)
        return (0.0, total) if is_write else (total, 0.0)
    return float(read or 0.0), float(write or 0.0)


def _describe_key(key: Any, *, show_values: bool) -> str | None:
    """``PK=<S> SK=<S>`` (names and types only) or, with ``show_values``, ``PK='x' SK='y'``."""
    if not isinstance(key, Mapping):
        return None
    parts = []
    for name, wire in key.items():
        if isinstance(wire, Mapping) and len(wire) == 1:
            ((kind, value),) = wire.items()
            parts.append(f"{name}={value!r}" if show_values else f"{name}=<{kind}>")
        else:
            parts.append(f"{name}=<?>")
    return " ".join(parts)
