"""OpenTelemetry spans and the client duration histogram, on the fast path as on aiobotocore's.

The standard botocore instrumentation hooks botocore's event system, which the data-plane fast
path bypasses; this layer sits at the session's choke point instead, so both paths look the
same::

    from aiodynamo_patterns.otel import OpenTelemetryLayer

    session = DynamoSession(layers=[OpenTelemetryLayer()])  # or session.add_layer(...)

Per logical call (retries inside it), one ``CLIENT`` span named ``"{operation} {table}"`` with
the database semantic conventions: ``db.system.name="aws.dynamodb"``, ``db.operation.name``,
``aws.dynamodb.table_names``, ``aws.dynamodb.index_name``, ``limit``, ``projection``,
``consistent_read``, ``consumed_capacity``, ``server.address``/``server.port``, ``error.type``
and ``aws.request_id``. Attribute names and table names only: never an item or key value. Retries
(attempt, error code, backoff delay) and refusals by an open circuit are span events, reported
by those layers through :func:`aiodynamo_patterns.pipeline.report`; reads a
:class:`~aiodynamo_patterns.CachedRepository` answers get a short span of their own with
``aiodynamo.cache.result`` (``hit``, ``miss``, ``coalesced``, ``bypassed``), under which the
fetch of a miss nests. Every call also records ``db.client.operation.duration`` (seconds, the
semantic conventions' buckets) with low-cardinality attributes.

The spans use OpenTelemetry's context, which asyncio copies into every task: a fetch the cache
runs in a task of its own nests under the span of the caller that started it.

Needs the ``otel`` extra (``opentelemetry-api``); ``import aiodynamo_patterns`` never imports it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise ImportError(
        "aiodynamo_patterns.otel needs the 'otel' extra: pip install 'aiodynamo-patterns[otel]'",
        name=exc.name,
    ) from exc

from . import __version__
from .clock import Clock, SystemClock
from .errors import DynamoError
from .metrics.collector import consumed_capacity
from .pipeline import CALL_OBSERVER, Call, Request, Result

__all__ = ["DURATION_BUCKETS", "OpenTelemetryLayer"]

logger = logging.getLogger("aiodynamo_patterns")

#: the bucket boundaries the database semantic conventions advise for the duration histogram
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
DB_SYSTEM = "aws.dynamodb"
_SCOPE = "aiodynamo_patterns"
_SCHEMA = "https://opentelemetry.io/schemas/1.28.0"

#: request parameter -> span attribute, for the parameters that are names or numbers, never values
_PARAMETERS = (
    ("IndexName", "aws.dynamodb.index_name"),
    ("Limit", "aws.dynamodb.limit"),
    ("ProjectionExpression", "aws.dynamodb.projection"),
    ("ConsistentRead", "aws.dynamodb.consistent_read"),
    ("Select", "aws.dynamodb.select"),
    ("Segment", "aws.dynamodb.segment"),
    ("TotalSegments", "aws.dynamodb.total_segments"),
    ("ScanIndexForward", "aws.dynamodb.scan_forward"),
)
_COUNTS = (("Count", "aws.dynamodb.count"), ("ScannedCount", "aws.dynamodb.scanned_count"))


def _table_names(request: Request) -> list[str]:
    table = request.table
    if table is not None:
        return [table]
    params = request.params
    names: set[str] = set()
    items = params.get("RequestItems")
    if isinstance(items, dict):
        names.update(name for name in items if isinstance(name, str))
    for entry in params.get("TransactItems") or ():
        if isinstance(entry, dict):
            for body in entry.values():
                if isinstance(body, dict) and isinstance(body.get("TableName"), str):
                    names.add(body["TableName"])
    return sorted(names)


def _capacity(consumed: Any) -> list[str]:
    """``aws.dynamodb.consumed_capacity``: one JSON string per table (the conventions' form)."""
    entries = consumed if isinstance(consumed, list) else [consumed]
    return [json.dumps(entry, sort_keys=True) for entry in entries if isinstance(entry, dict)]


def _error_type(exc: BaseException) -> str:
    return exc.code if isinstance(exc, DynamoError) else type(exc).__qualname__


def _failed(span: trace.Span, exc: BaseException, error: str) -> None:
    """Mark ``span`` failed: the error's code and request id, never its message (a server may
    quote values in it)."""
    span.set_attribute("error.type", error)
    if isinstance(exc, DynamoError) and exc.request_id:
        span.set_attribute("aws.request_id", exc.request_id)
    span.set_status(Status(StatusCode.ERROR, error))


class OpenTelemetryLayer:
    """A session layer: one span and one duration sample per logical call.

    ``tracer_provider`` and ``meter_provider`` default to the global ones (as set up by the
    application's OpenTelemetry SDK); ``clock`` times the histogram (the session's, in tests).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(
            _SCOPE, __version__, tracer_provider=tracer_provider, schema_url=_SCHEMA
        )
        meter = metrics.get_meter(
            _SCOPE, __version__, meter_provider=meter_provider, schema_url=_SCHEMA
        )
        self._duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._clock = clock or SystemClock()
        self._servers: dict[str | None, dict[str, str | int]] = {}
        self._shapes: dict[
            tuple[str, str, str | None], tuple[str, dict[str, Any], dict[str, Any]]
        ] = {}

    def _server(self, endpoint: str | None) -> dict[str, str | int]:
        found = self._servers.get(endpoint)
        if found is None:
            found = {}
            if endpoint:
                parts = urlsplit(endpoint)
                if parts.hostname:
                    found["server.address"] = parts.hostname
                port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
                if port is not None:
                    found["server.port"] = port
            self._servers[endpoint] = found
        return found

    def _shape(
        self, operation: str, tables: Sequence[str], endpoint: str | None
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The span's name, the low-cardinality attributes shared by the span and the histogram,
        and the span's attributes that come from the call's shape (not its parameters)."""
        base: dict[str, Any] = {"db.system.name": DB_SYSTEM, "db.operation.name": operation}
        if len(tables) == 1:
            base["db.collection.name"] = tables[0]
        base.update(self._server(endpoint))
        span = dict(base)
        if tables:
            span["aws.dynamodb.table_names"] = list(tables)
        name = f"{operation} {tables[0]}" if len(tables) == 1 else operation
        return name, base, span

    def _describe(self, request: Request) -> tuple[str, dict[str, Any], dict[str, Any]]:
        table = request.table
        if table is None:  # several tables or none: rare, not worth a cache entry
            return self._shape(request.operation, _table_names(request), request.endpoint)
        # one entry per operation, table and endpoint: bounded like the metrics series
        key = (request.operation, table, request.endpoint)
        found = self._shapes.get(key)
        if found is None:
            found = self._shapes[key] = self._shape(request.operation, [table], request.endpoint)
        return found

    async def __call__(self, request: Request, call_next: Call) -> Result:
        name, base, shape = self._describe(request)
        attributes = dict(shape)
        params = request.params
        for parameter, key in _PARAMETERS:
            value = params.get(parameter)
            if value is not None:
                attributes[key] = value
        started = request.started_at(self._clock)
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,  # an error's message is not the span's business
            set_status_on_exception=False,
        ) as span:
            token = CALL_OBSERVER.set(span.add_event) if span.is_recording() else None
            try:
                result = await call_next(request)
            except BaseException as exc:
                error = _error_type(exc)
                if span.is_recording():
                    _failed(span, exc, error)
                    span.set_attribute("aiodynamo.attempts", request.attempt + 1)
                self._measure(base, started, error)
                raise
            finally:
                if token is not None:
                    CALL_OBSERVER.reset(token)
            if span.is_recording():
                try:
                    self._describe_result(span, request, result)
                except Exception:  # observing must never change the outcome of the call
                    logger.exception("tracing could not describe %s", request.operation)
            self._measure(base, started, None)
            return result

    def _describe_result(self, span: trace.Span, request: Request, result: Result) -> None:
        span.set_attribute("aiodynamo.attempts", request.attempt + 1)
        consumed = consumed_capacity(request, result)
        if consumed:
            span.set_attribute("aws.dynamodb.consumed_capacity", _capacity(consumed))
        for name, key in _COUNTS:
            value = result.get(name)
            if isinstance(value, int):
                span.set_attribute(key, value)
        metadata = result.get("ResponseMetadata")
        if isinstance(metadata, Mapping):
            request_id = metadata.get("RequestId")
            if isinstance(request_id, str):
                span.set_attribute("aws.request_id", request_id)

    def _measure(self, base: Mapping[str, Any], started: float, error: str | None) -> None:
        attributes = base if error is None else {**base, "error.type": error}
        try:
            self._duration.record(max(0.0, self._clock.now() - started), attributes)
        except Exception:  # observing must never change the outcome of the call
            logger.exception("tracing could not record a duration")

    @contextmanager
    def cache_lookup(self, operation: str, table: str) -> Iterator[Callable[[str], None]]:
        """A short span around a read a cache answers (see :class:`~.pipeline.CacheObserver`)."""
        attributes = {
            "db.system.name": DB_SYSTEM,
            "db.operation.name": operation,
            "db.collection.name": table,
            "aws.dynamodb.table_names": [table],
        }
        with self._tracer.start_as_current_span(
            f"{operation} {table}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            def note(outcome: str) -> None:
                span.set_attribute("aiodynamo.cache.result", outcome)

            try:
                yield note
            except BaseException as exc:
                _failed(span, exc, _error_type(exc))
                raise

    def __repr__(self) -> str:
        return "<OpenTelemetryLayer>"
