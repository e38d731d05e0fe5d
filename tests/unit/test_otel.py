"""OpenTelemetryLayer on the package's fakes: spans, events from the layers below, the histogram."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.metrics import NoOpHistogram, NoOpMeter, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aiodynamo_patterns import CircuitOpen, ServiceUnavailable, Throttled, ValidationError
from aiodynamo_patterns.layers.breaker import BreakerConfig, BreakerLayer
from aiodynamo_patterns.layers.retry import RetryLayer, RetryPolicy
from aiodynamo_patterns.otel import DURATION_BUCKETS, OpenTelemetryLayer
from aiodynamo_patterns.pipeline import CALL_OBSERVER, Call, Layer, Request, Result, compose, report
from aiodynamo_patterns.testing import ManualClock, ScriptedCall

SECRET = "s3cr3t-value"


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def durations(self) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        points: list[HistogramDataPoint] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "db.client.operation.duration":
                        assert metric.unit == "s"
                        points.extend(p for p in metric.data.data_points)  # type: ignore[misc]  # histogram points
        return points


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(spans, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def layer_of(telemetry: Telemetry, clock: ManualClock) -> OpenTelemetryLayer:
    return OpenTelemetryLayer(telemetry.tracer_provider, telemetry.meter_provider, clock=clock)


def get_item(**extra: Any) -> Request:
    params = {"TableName": "Orders", "Key": {"PK": {"S": SECRET}}, **extra}
    return Request("GetItem", params, True, endpoint="http://127.0.0.1:8123")


def everything_said(span: ReadableSpan) -> str:
    return repr(
        (span.name, dict(span.attributes or {}), [(e.name, e.attributes) for e in span.events])
    )


async def test_one_client_span_per_call_carries_the_semconv_attributes(
    telemetry: Telemetry,
) -> None:
    """A GetItem is one CLIENT span "GetItem Orders" with the database conventions' attributes."""
    clock = ManualClock()
    answer = {
        "Item": {"PK": {"S": SECRET}},
        "ConsumedCapacity": {"TableName": "Orders", "CapacityUnits": 0.5},
        "ResponseMetadata": {"RequestId": "REQ123"},
    }
    call = compose([layer_of(telemetry, clock)], ScriptedCall([answer]))

    await call(get_item(ConsistentRead=True, ProjectionExpression="#n0, #n1"))

    [span] = telemetry.finished()
    assert span.name == "GetItem Orders"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["db.system.name"] == "aws.dynamodb"
    assert attributes["db.operation.name"] == "GetItem"
    assert attributes["aws.dynamodb.table_names"] == ("Orders",)
    assert attributes["aws.dynamodb.consistent_read"] is True
    assert attributes["aws.dynamodb.projection"] == "#n0, #n1"
    assert attributes["aws.dynamodb.consumed_capacity"] == (
        '{"CapacityUnits": 0.5, "TableName": "Orders"}',
    )
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == 8123
    assert attributes["aws.request_id"] == "REQ123"
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    assert SECRET not in everything_said(span)


async def test_query_span_names_the_index_and_limit_and_counts(telemetry: Telemetry) -> None:
    """A Query on an index records index name, limit and the counts of the answer."""
    clock = ManualClock()
    call = compose(
        [layer_of(telemetry, clock)], ScriptedCall([{"Items": [], "Count": 0, "ScannedCount": 3}])
    )

    await call(
        Request(
            "Query",
            {
                "TableName": "Orders",
                "IndexName": "GSI1",
                "Limit": 5,
                "KeyConditionExpression": "#n0 = :v0",
                "ExpressionAttributeValues": {":v0": {"S": SECRET}},
            },
            True,
        )
    )

    [span] = telemetry.finished()
    attributes = dict(span.attributes or {})
    assert attributes["aws.dynamodb.index_name"] == "GSI1"
    assert attributes["aws.dynamodb.limit"] == 5
    assert attributes["aws.dynamodb.scanned_count"] == 3
    assert "server.address" not in attributes  # no endpoint known: nothing invented
    assert SECRET not in everything_said(span)


async def test_batch_spans_list_every_table_they_touch(telemetry: Telemetry) -> None:
    """A BatchGetItem over two tables is named by its operation and lists both tables."""
    call = compose([layer_of(telemetry, ManualClock())], ScriptedCall())
    keys = {"Keys": [{"PK": {"S": SECRET}}]}

    await call(Request("BatchGetItem", {"RequestItems": {"B": keys, "A": keys}}, True))

    [span] = telemetry.finished()
    assert span.name == "BatchGetItem"
    assert dict(span.attributes or {})["aws.dynamodb.table_names"] == ("A", "B")


async def test_retries_are_events_of_the_one_span(telemetry: Telemetry) -> None:
    """Two throttled attempts then a success: one span, two retry events with code and delay."""
    clock = ManualClock()
    retry = RetryLayer(RetryPolicy(max_attempts=5), clock=clock)
    inner = ScriptedCall([Throttled("slow down"), Throttled("slow down"), {}])
    call = compose([layer_of(telemetry, clock), retry], inner)

    await call(get_item())

    [span] = telemetry.finished()
    assert [e.name for e in span.events] == ["retry", "retry"]
    first, second = (dict(e.attributes or {}) for e in span.events)
    assert (first["aiodynamo.attempt"], second["aiodynamo.attempt"]) == (1, 2)
    assert first["error.type"] == "Throttled"
    assert isinstance(first["aiodynamo.delay_s"], float)
    assert dict(span.attributes or {})["aiodynamo.attempts"] == 3


async def test_a_failed_call_sets_error_type_and_status(telemetry: Telemetry) -> None:
    """A call that fails ends its span with error.type = the error's code, status ERROR."""
    clock = ManualClock()
    failure = ValidationError(f"bad {SECRET}", operation="GetItem", request_id="REQ9")
    call = compose([layer_of(telemetry, clock)], ScriptedCall([failure]))

    with pytest.raises(ValidationError):
        await call(get_item())

    [span] = telemetry.finished()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == failure.code == "ValidationException"
    assert attributes["aws.request_id"] == "REQ9"
    assert span.status.status_code is StatusCode.ERROR
    assert SECRET not in everything_said(span)
    assert not span.events  # the exception (and its message) is not recorded


async def test_an_open_circuit_refusal_is_an_event(telemetry: Telemetry) -> None:
    """Once the breaker is open, the refused call's span carries a circuit_open event."""
    clock = ManualClock()
    breaker = BreakerLayer(BreakerConfig(failure_threshold=1), clock=clock)
    layers: list[Layer] = [layer_of(telemetry, clock), breaker]
    unavailable = ServiceUnavailable("5xx", operation="GetItem", status=503)
    call = compose(layers, ScriptedCall([unavailable]))
    with pytest.raises(ServiceUnavailable):
        await call(get_item())  # opens the circuit

    with pytest.raises(CircuitOpen):
        await call(get_item())

    refused = telemetry.finished()[-1]
    assert [e.name for e in refused.events] == ["circuit_open"]
    assert dict(refused.attributes or {})["error.type"] == "CircuitOpen"


async def test_the_duration_histogram_uses_the_semconv_buckets(telemetry: Telemetry) -> None:
    """Each call records its duration in seconds, by operation, table and error type."""
    clock = ManualClock()
    inner = ScriptedCall([{}, Throttled("slow")], clock=clock, latency=0.02)
    call = compose([layer_of(telemetry, clock)], inner)

    await call(get_item())
    with pytest.raises(Throttled):
        await call(get_item())

    points = {(p.attributes or {}).get("error.type"): p for p in telemetry.durations()}
    assert set(points) == {None, "Throttled"}
    ok = points[None]
    assert tuple(ok.explicit_bounds) == DURATION_BUCKETS
    assert ok.count == 1
    assert ok.sum == pytest.approx(0.02)
    assert ok.bucket_counts[DURATION_BUCKETS.index(0.05)] == 1  # (0.01, 0.05]
    assert dict(ok.attributes or {}) == {
        "db.system.name": "aws.dynamodb",
        "db.operation.name": "GetItem",
        "db.collection.name": "Orders",
        "server.address": "127.0.0.1",
        "server.port": 8123,
    }


async def test_cache_lookups_get_a_short_span_with_their_outcome(telemetry: Telemetry) -> None:
    """The layer's cache_lookup wraps a lookup in an INTERNAL span naming its outcome."""
    layer = layer_of(telemetry, ManualClock())

    with layer.cache_lookup("GetItem", "Orders") as note:
        note("hit")

    [span] = telemetry.finished()
    assert span.name == "GetItem Orders"
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {})["aiodynamo.cache.result"] == "hit"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_importing_the_package_never_imports_opentelemetry() -> None:
    """``import aiodynamo_patterns`` leaves opentelemetry unimported."""
    done = _python(
        "import sys, aiodynamo_patterns; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_the_extra_the_import_error_names_it() -> None:
    """Without opentelemetry installed, importing the module raises an ImportError naming 'otel'."""
    done = _python(
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n    import aiodynamo_patterns.otel\n"
        "except ImportError as exc:\n    print(exc)\n"
    )

    assert done.returncode == 0, done.stderr
    assert "'otel' extra" in done.stdout
    assert "aiodynamo-patterns[otel]" in done.stdout


async def test_a_transaction_span_lists_the_tables_of_its_items(telemetry: Telemetry) -> None:
    """TransactWriteItems over two tables names both in aws.dynamodb.table_names, no values."""
    call = compose([layer_of(telemetry, ManualClock())], ScriptedCall())
    put = {"Put": {"TableName": "Orders", "Item": {"PK": {"S": SECRET}}}}
    check = {"ConditionCheck": {"TableName": "Stock", "Key": {"PK": {"S": SECRET}}}}

    await call(Request("TransactWriteItems", {"TransactItems": [put, check]}, False))

    [span] = telemetry.finished()
    assert span.name == "TransactWriteItems"
    assert dict(span.attributes or {})["aws.dynamodb.table_names"] == ("Orders", "Stock")
    assert SECRET not in everything_said(span)


async def test_the_call_observer_is_gone_once_the_call_ends(telemetry: Telemetry) -> None:
    """Layers below see the span's observer during the call; after it, report() reaches nobody."""
    seen: list[object] = []

    class Peek:
        async def __call__(self, request: Request, call_next: Call) -> Result:
            seen.append(CALL_OBSERVER.get())
            return await call_next(request)

    call = compose([layer_of(telemetry, ManualClock()), Peek()], ScriptedCall())

    await call(get_item())
    report("retry", {"aiodynamo.attempt": 1})  # outside any call: dropped, no error

    assert seen[0] is not None
    assert CALL_OBSERVER.get() is None
    [span] = telemetry.finished()
    assert not span.events


async def test_a_failed_lookup_marks_its_cache_span_without_the_message(
    telemetry: Telemetry,
) -> None:
    """An error inside a cache lookup ends its span with error.type, no exception event."""
    layer = layer_of(telemetry, ManualClock())

    with pytest.raises(ValidationError), layer.cache_lookup("GetItem", "Orders"):
        raise ValidationError(f"bad {SECRET}", operation="GetItem")

    [span] = telemetry.finished()
    assert dict(span.attributes or {})["error.type"] == "ValidationException"
    assert span.status.status_code is StatusCode.ERROR
    assert SECRET not in everything_said(span)


class _BrokenHistogram(NoOpHistogram):
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter bug")


class _BrokenMeter(NoOpMeter):
    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> NoOpHistogram:
        return _BrokenHistogram(name)


class _BrokenMeterProvider(NoOpMeterProvider):
    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> NoOpMeter:
        return _BrokenMeter(name)


async def test_a_failing_meter_never_changes_the_call(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """A histogram that raises is logged; the caller still gets the answer."""
    layer = OpenTelemetryLayer(telemetry.tracer_provider, _BrokenMeterProvider())
    call = compose([layer], ScriptedCall([{"Item": {}}]))

    assert await call(get_item()) == {"Item": {}}
    assert "could not record a duration" in caplog.text
