"""OpenTelemetry over HTTP, on every backend and both paths: the same spans and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from boto3.dynamodb.conditions import Key
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aiodynamo_patterns import CachedRepository, DynamoSession, Repository, TableNotFound
from aiodynamo_patterns.otel import OpenTelemetryLayer
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.tables import PRODUCT_GSI
from aiodynamo_patterns.testing import Fault, FaultProxy, ManualClock

SECRET = "v4lue-never-traced"


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def layer(self, session: DynamoSession | None = None) -> OpenTelemetryLayer:
        clock = session.clock if session is not None else None
        return OpenTelemetryLayer(self.tracer_provider, self.meter_provider, clock=clock)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def client_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.kind is SpanKind.CLIENT]

    def duration_points(self) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "db.client.operation.duration"
            for point in metric.data.data_points
        ]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    found = Telemetry()
    yield found
    found.tracer_provider.shutdown()
    found.meter_provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_every_repository_call_is_one_client_span_with_semconv_attributes(
    ddb_session: DynamoSession, repo: Repository, telemetry: Telemetry, ddb_endpoint: str
) -> None:
    """Put, get, query on the index and a batch read: one CLIENT span each, values never in them."""
    ddb_session.add_layer(telemetry.layer(ddb_session))
    table = repo.table_name
    item = {"PK": SECRET, "SK": "A", "GSI1PK": SECRET, "GSI1SK": "x", "secret": SECRET}

    await repo.put_item(item)
    await repo.get_item({"PK": SECRET, "SK": "A"}, consistent=True)
    await repo.query(Key("GSI1PK").eq(SECRET), index=PRODUCT_GSI)
    await repo.batch_get([{"PK": SECRET, "SK": "A"}])

    spans = telemetry.client_spans()
    assert [s.name for s in spans] == [
        f"PutItem {table}",
        f"GetItem {table}",
        f"Query {table}",
        f"BatchGetItem {table}",
    ]
    endpoint = urlsplit(ddb_endpoint)
    for span in spans:
        found = attributes(span)
        assert found["db.system.name"] == "aws.dynamodb"
        assert found["aws.dynamodb.table_names"] == (table,)
        assert found["server.address"] == endpoint.hostname
        assert found["server.port"] == endpoint.port
        assert isinstance(found["aws.request_id"], str) and found["aws.request_id"]
        assert found["aws.dynamodb.consumed_capacity"]  # the session's probe asked for it
        assert span.status.status_code is StatusCode.UNSET
        assert SECRET not in repr((found, span.events))
    get, query = attributes(spans[1]), attributes(spans[2])
    assert get["db.operation.name"] == "GetItem"
    assert get["aws.dynamodb.consistent_read"] is True
    assert query["aws.dynamodb.index_name"] == PRODUCT_GSI
    assert query["aws.dynamodb.count"] == 1


async def test_a_failed_call_has_error_type_and_the_duration_is_recorded(
    ddb_endpoint: str,
    ddb_credentials: dict[str, Any],
    ddb_session_mode: SessionMode,
    telemetry: Telemetry,
) -> None:
    """A layer given with layers=[...]: a GetItem on a missing table ends in error.type and ERROR."""
    async with DynamoSession(
        endpoint_url=ddb_endpoint,
        mode=ddb_session_mode,
        layers=[telemetry.layer()],
        **ddb_credentials,
    ) as session:
        assert session.fast_path_active is (ddb_session_mode == "fast")
        with pytest.raises(TableNotFound) as raised:
            await session.call("GetItem", {"TableName": "absent", "Key": {"PK": {"S": SECRET}}})

    [span] = telemetry.client_spans()
    found = attributes(span)
    assert found["error.type"] == raised.value.code
    assert span.status.status_code is StatusCode.ERROR
    assert SECRET not in repr((found, span.events))
    [point] = telemetry.duration_points()
    assert point.count == 1
    assert dict(point.attributes)["error.type"] == raised.value.code
    assert dict(point.attributes)["db.collection.name"] == "absent"


async def test_cache_fetches_nest_under_the_caller_that_started_them(
    ddb_session: DynamoSession, repo: Repository, telemetry: Telemetry
) -> None:
    """Two callers read one key at once: a miss and a coalesced lookup span, each under its own
    caller's span, and the one GetItem under the lookup that started the shared fetch."""
    ddb_session.add_layer(telemetry.layer(ddb_session))
    await repo.put_item({"PK": "p", "SK": "A"})
    cached = CachedRepository(repo)
    tracer = telemetry.tracer_provider.get_tracer("test")

    async def caller(name: str) -> None:
        with tracer.start_as_current_span(name):
            await cached.get_item({"PK": "p", "SK": "A"})

    await asyncio.gather(caller("first"), caller("second"))
    await caller("third")

    spans = telemetry.spans()
    by_name = {s.name: s for s in spans if s.name in ("first", "second", "third")}
    lookups = [s for s in spans if s.kind is SpanKind.INTERNAL and s.name.startswith("GetItem")]
    outcome = {
        attributes(s)["aiodynamo.cache.result"]: s
        for s in lookups
        if s.parent is not None and s.context is not None
    }
    assert set(outcome) == {"miss", "coalesced", "hit"}
    parents = {result: span.parent.span_id for result, span in outcome.items() if span.parent}
    assert parents["miss"] == by_name["first"].context.span_id
    assert parents["coalesced"] == by_name["second"].context.span_id
    assert parents["hit"] == by_name["third"].context.span_id
    [fetch] = [s for s in telemetry.client_spans() if s.name.startswith("GetItem")]
    assert fetch.parent is not None
    assert fetch.parent.span_id == outcome["miss"].context.span_id
    assert fetch.context.trace_id == by_name["first"].context.trace_id
    await CachedRepository.of(cached).aclose()


async def test_throttled_attempts_on_the_wire_are_retry_events_of_one_span(
    ddb_endpoint: str,
    ddb_credentials: dict[str, Any],
    ddb_session_mode: SessionMode,
    table: str,
    telemetry: Telemetry,
) -> None:
    """Two throttled answers through the fault proxy, then a success: one span, two retry events."""
    async with (
        FaultProxy(ddb_endpoint) as proxy,
        DynamoSession(
            endpoint_url=proxy.url, mode=ddb_session_mode, clock=ManualClock(), **ddb_credentials
        ) as session,
    ):
        session.add_layer(telemetry.layer(session))
        proxy.script([Fault.THROTTLE, Fault.THROTTLE])

        await Repository(session, table).get_item({"PK": "p", "SK": "s"})

    [span] = telemetry.client_spans()
    assert [e.name for e in span.events] == ["retry", "retry"]
    events = [dict(e.attributes or {}) for e in span.events]
    assert [e["aiodynamo.attempt"] for e in events] == [1, 2]
    assert {e["error.type"] for e in events} == {"ProvisionedThroughputExceededException"}
    assert all(isinstance(e["aiodynamo.delay_s"], float) for e in events)
    found = attributes(span)
    assert found["aiodynamo.attempts"] == 3
    assert found["server.port"] == urlsplit(proxy.url).port
    assert "error.type" not in found
