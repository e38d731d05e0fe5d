"""The metrics collector at the choke point, driven through a fake innermost call and a manual clock."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiodynamo_patterns import (
    CallRecord,
    CircuitOpen,
    ConditionFailed,
    DynamoError,
    DynamoSession,
    MetricsCollector,
    MetricsLayer,
    Request,
    Throttled,
)
from aiodynamo_patterns.errors import error_for_code
from aiodynamo_patterns.pipeline import Call, Layer, Result, compose
from aiodynamo_patterns.testing import ManualClock, ScriptedCall

Outcome = Result | BaseException


def FakeDynamo(
    clock: ManualClock, outcomes: Sequence[Outcome] = (), latency: float = 0.01
) -> ScriptedCall:
    """The innermost call: takes ``latency`` seconds of manual time and plays scripted outcomes."""
    return ScriptedCall(outcomes, clock=clock, latency=latency)


class ResendOnRetryable:
    """A minimal retry layer (the real one lives in retry.py): up to ``attempts`` sends."""

    def __init__(self, attempts: int = 3) -> None:
        self.attempts = attempts

    async def __call__(self, request: Request, call_next: Call) -> Result:
        for attempt in range(self.attempts):
            request.attempt = attempt  # 0-based, as the retry layer sets it
            try:
                return await call_next(request)
            except DynamoError as exc:
                if not exc.retryable or attempt == self.attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stats(self) -> RetryCounters:
        return RetryCounters(calls=1, retries=2)


@dataclass(frozen=True)
class RetryCounters:
    calls: int
    retries: int

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "retries": self.retries}


class AnswerLocally:
    """A cache-like layer that answers without calling DynamoDB."""

    async def __call__(self, request: Request, call_next: Call) -> Result:
        return {"Item": {"PK": {"S": "cached"}}}


def pipeline(collector: MetricsCollector, fake: ScriptedCall, middle: Sequence[Layer] = ()) -> Call:
    outer, probe = collector.layers()
    return compose([outer, *middle, probe], fake)


def get(table: str = "products") -> Request:
    return Request("GetItem", {"TableName": table, "Key": {"PK": {"S": "p1"}}}, True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def collector(clock: ManualClock) -> MetricsCollector:
    return MetricsCollector(clock=clock)


async def test_without_the_probe_retries_come_from_request_attempt(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """A MetricsLayer used on its own reads the retry layer's 0-based request.attempt."""
    throttled = Throttled("slow down", code="ProvisionedThroughputExceededException")
    fake = FakeDynamo(clock, [throttled, {"Item": {}}])
    call = compose([MetricsLayer(collector), ResendOnRetryable()], fake)

    await call(get())

    op = collector.snapshot()["operations"]["GetItem"]
    assert (op["count"], op["retries"], op["throttles"]) == (1, 1, 0)


async def test_one_sample_per_logical_call_with_retries_inside(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """Two throttled sends then a success are one call, two retries, two throttles, 30 ms."""
    throttled = Throttled("slow down", code="ProvisionedThroughputExceededException")
    fake = FakeDynamo(clock, [throttled, throttled, {"Item": {}}])
    call = pipeline(collector, fake, [ResendOnRetryable()])

    await call(get())

    op = collector.snapshot()["operations"]["GetItem"]
    assert (op["count"], op["successes"], op["errors"]) == (1, 1, 0)
    assert (op["retries"], op["throttles"]) == (2, 2)
    assert op["max_ms"] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("wire_code", "error_class"),
    [
        ("ProvisionedThroughputExceededException", "Throttled"),
        ("ConditionalCheckFailedException", "ConditionFailed"),
        ("InternalServerError", "ServiceUnavailable"),
        ("ResourceNotFoundException", "TableNotFound"),
        ("TransactionConflictException", "TransactionConflict"),
    ],
)
async def test_errors_are_counted_by_wire_code(
    clock: ManualClock, collector: MetricsCollector, wire_code: str, error_class: str
) -> None:
    """An injected DynamoDB error is counted under its wire code, once per failed call."""
    error = error_for_code(wire_code, "injected", operation="GetItem")
    assert type(error).__name__ == error_class
    call = pipeline(collector, FakeDynamo(clock, [error, {}]))

    with pytest.raises(DynamoError):
        await call(get())
    await call(get())

    op = collector.snapshot()["operations"]["GetItem"]
    assert op["errors_by_code"] == {wire_code: 1}
    assert (op["count"], op["errors"], op["success_rate"]) == (2, 1, 0.5)


async def test_a_call_answered_by_a_layer_is_not_a_dynamodb_latency(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """A call no request left for (a cache hit) is counted as served locally, not as a GetItem."""
    call = pipeline(collector, FakeDynamo(clock), [AnswerLocally()])

    await call(get())

    op = collector.snapshot()["operations"]["GetItem"]
    assert (op["count"], op["served_locally"]) == (0, 1)


async def test_return_consumed_capacity_is_requested_without_touching_the_callers_params(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """Capacity is asked for on data operations only, a caller's own choice is kept, its dict untouched."""
    fake = FakeDynamo(clock)
    call = pipeline(collector, fake)
    mine = {"TableName": "products", "Key": {"PK": {"S": "p1"}}}

    await call(Request("GetItem", mine, True))
    await call(Request("DescribeTable", {"TableName": "products"}, True))
    await call(Request("Query", {"TableName": "products", "ReturnConsumedCapacity": "NONE"}, True))

    assert [r.get("ReturnConsumedCapacity") for r in fake.requests] == ["INDEXES", None, "NONE"]
    assert "ReturnConsumedCapacity" not in mine


async def test_consumed_capacity_is_summed_per_table_and_index(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """Capacity from single, batch and transactional responses adds up per operation, table and index."""
    responses: list[Outcome] = [
        {"ConsumedCapacity": {"TableName": "products", "CapacityUnits": 0.5}},
        {
            "ConsumedCapacity": {
                "TableName": "products",
                "CapacityUnits": 3.0,
                "Table": {"CapacityUnits": 1.0},
                "GlobalSecondaryIndexes": {"GSI1": {"CapacityUnits": 2.0}},
            }
        },
        {
            "ConsumedCapacity": [
                {"TableName": "products", "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
                {"TableName": "orders", "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0},
            ]
        },
    ]
    call = pipeline(collector, FakeDynamo(clock, responses))

    await call(get())
    await call(Request("PutItem", {"TableName": "products", "Item": {}}, False))
    await call(Request("TransactGetItems", {"TransactItems": []}, True))

    snap = collector.snapshot()
    assert snap["operations"]["GetItem"]["consumed_capacity"] == {
        "read_units": 0.5,
        "write_units": 0.0,
    }
    assert snap["operations"]["PutItem"]["consumed_capacity"]["write_units"] == 3.0
    assert snap["operations"]["TransactGetItems"]["consumed_capacity"]["read_units"] == 6.0
    assert snap["capacity"]["products"]["read_units"] == 4.5
    assert snap["capacity"]["products"]["write_units"] == 3.0
    assert snap["capacity"]["products"]["indexes"] == {
        "GSI1": {"read_units": 0.0, "write_units": 2.0}
    }
    assert snap["capacity"]["orders"]["read_units"] == 2.0


async def test_a_malformed_capacity_never_fails_the_call(
    clock: ManualClock, collector: MetricsCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """A response the collector cannot read is still returned to the caller; the slip is logged."""
    odd = {"Item": {}, "ConsumedCapacity": {"TableName": "products", "CapacityUnits": "lots"}}
    call = pipeline(collector, FakeDynamo(clock, [odd]))

    result = await call(get())

    assert result == {"Item": {}}  # the capacity the collector asked for is not passed on
    assert "metrics could not record GetItem" in caplog.text


async def test_cancelled_calls_propagate_and_are_not_errors(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """A cancelled call re-raises CancelledError and is counted as cancelled, not as a failure."""
    call = pipeline(collector, FakeDynamo(clock, [asyncio.CancelledError()]))

    with pytest.raises(asyncio.CancelledError):
        await call(get())

    op = collector.snapshot()["operations"]["GetItem"]
    assert (op["count"], op["errors"], op["cancelled"]) == (0, 0, 1)


async def test_listeners_get_one_record_per_call_and_cannot_break_it(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """Each call reaches every listener once; a listener that raises is logged and ignored."""
    records: list[CallRecord] = []

    def broken(record: CallRecord) -> None:
        raise RuntimeError("exporter down")

    collector.add_listener(broken)
    collector.add_listener(records.append)
    call = pipeline(collector, FakeDynamo(clock, [{"ConsumedCapacity": {"CapacityUnits": 0.5}}]))

    await call(get())

    (record,) = records
    assert record == CallRecord("GetItem", "products", record.latency_s, None, 1, 0, 0.5, 0.0, None)
    assert record.latency_s == pytest.approx(0.01)


async def test_ops_per_second_over_lifetime_and_recent_window(clock: ManualClock) -> None:
    """Ops/s covers the whole lifetime, the recent figure only the last window."""
    collector = MetricsCollector(clock=clock, window_seconds=10)
    call = pipeline(collector, FakeDynamo(clock, latency=0.0))
    for _ in range(100):
        await call(get())
    clock.advance(90)
    for _ in range(20):
        await call(get())
    clock.advance(5)

    overall = collector.snapshot()["overall"]

    assert overall["ops_per_second"] == pytest.approx(120 / 95, rel=1e-3)
    assert overall["ops_per_second_recent"] == pytest.approx(20 / 10)


async def test_reset_forgets_everything(clock: ManualClock, collector: MetricsCollector) -> None:
    """After reset() the snapshot has no operations, capacity or cache series."""
    call = pipeline(collector, FakeDynamo(clock, [{"ConsumedCapacity": {"CapacityUnits": 1}}]))
    await call(get())
    collector.record_cache("products", True, 0.0001)

    collector.reset()

    snap = collector.snapshot()
    assert (snap["operations"], snap["capacity"], snap["cache"]) == ({}, {}, {})
    assert snap["overall"]["count"] == 0


def test_cache_lookups_are_their_own_series(collector: MetricsCollector) -> None:
    """record_cache counts hits and misses per table with their own latency."""
    for hit in (True, True, True, False):
        collector.record_cache("products", hit, 0.0002)

    cache = collector.snapshot()["cache"]["products"]

    assert (cache["hits"], cache["misses"], cache["hit_rate"]) == (3, 1, 0.75)
    assert cache["p99_ms"] == pytest.approx(0.2, rel=0.01)


async def test_series_memory_is_bounded_by_operations_not_calls(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """100k calls leave one series with a histogram the size it had after the first call."""
    call = pipeline(collector, FakeDynamo(clock, latency=0.003))
    await call(get())
    (series,) = collector.series()
    size = sys.getsizeof(series.histogram._counts)

    for _ in range(100_000):
        await call(get())

    assert collector.series() == [series]
    assert sys.getsizeof(series.histogram._counts) == size
    assert series.count == 100_001


async def test_json_export_has_per_operation_figures_and_no_per_call_data(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """The JSON export keys operations by wire name with the issue's fields; its size does not grow."""
    call = pipeline(collector, FakeDynamo(clock))
    for _ in range(10):
        await call(get())
    small = collector.export_json()
    for _ in range(1000):
        await call(get())

    exported = json.loads(collector.export_json())

    op = exported["operations"]["GetItem"]
    for field in ("count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "consumed_capacity"):
        assert field in op
    assert op["count"] == 1010
    assert op["p50_ms"] == pytest.approx(10.0, rel=0.01)
    assert abs(len(collector.export_json()) - len(small)) < 100


async def test_prometheus_exposition_parses_back(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """The text exposition parses with prometheus_client's parser into the recorded figures."""
    error = error_for_code("ProvisionedThroughputExceededException", "x", operation="GetItem")
    responses: list[Outcome] = [
        {"ConsumedCapacity": {"TableName": "products", "CapacityUnits": 0.5}},
        error,
        {},
    ]
    call = pipeline(collector, FakeDynamo(clock, responses, latency=0.004))
    await call(get())
    with pytest.raises(Throttled):
        await call(get())
    await call(Request("PutItem", {"TableName": "products", "Item": {}}, False))
    collector.record_cache("products", True, 0.0001)

    families = {f.name: f for f in text_string_to_metric_families(collector.prometheus_text())}

    def value(family: str, sample: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise AssertionError(f"no {sample} {labels}")

    base = "aiodynamo_patterns"
    assert value(f"{base}_requests", f"{base}_requests_total", operation="GetItem") == 2
    assert families[f"{base}_requests"].type == "counter"
    errors = f"{base}_request_errors"
    assert value(errors, f"{errors}_total", code="ProvisionedThroughputExceededException") == 1
    assert value(f"{base}_throttles", f"{base}_throttles_total", operation="GetItem") == 1
    duration = f"{base}_request_duration_seconds"
    assert families[duration].type == "histogram"
    assert value(duration, f"{duration}_count", operation="GetItem") == 2
    assert value(duration, f"{duration}_bucket", operation="GetItem", le="0.0025") == 0
    assert value(duration, f"{duration}_bucket", operation="GetItem", le="0.005") == 2
    assert value(duration, f"{duration}_sum", operation="GetItem") == pytest.approx(0.008)
    read = f"{base}_consumed_read_capacity_units"
    assert value(read, f"{read}_total", operation="GetItem", table="products") == 0.5
    cache = f"{base}_cache_lookups"
    assert value(cache, f"{cache}_total", table="products", result="hit") == 1


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class CircuitSnapshot:
    name: str
    state: State
    rejected: int


class FakeBreaker:
    """A layer shaped like the circuit breaker: ``states()`` of snapshot dataclasses."""

    def states(self) -> dict[str, CircuitSnapshot]:
        return {"orders": CircuitSnapshot("orders", State.OPEN, 12)}

    async def __call__(self, request: Request, call_next: Call) -> Result:
        return await call_next(request)


class FakeCache:
    """A layer with a plain ``state`` attribute."""

    state = "warm"

    async def __call__(self, request: Request, call_next: Call) -> Result:
        return await call_next(request)


def test_session_metrics_report_pool_and_layer_statistics() -> None:
    """A session's collector shows its pool statistics and the stats/state of its layers."""
    session = DynamoSession(
        layers=[FakeCache(), ResendOnRetryable(), FakeBreaker()], endpoint_url="http://127.0.0.1:9"
    )
    assert session.metrics is not None

    snap = session.metrics.snapshot()
    text = session.metrics.prometheus_text()

    layers = snap["layers"]  # built-in layers of the session may be listed too
    assert layers["FakeCache"] == {"state": "warm"}
    assert layers["ResendOnRetryable"] == {"calls": 1, "retries": 2}
    assert layers["FakeBreaker[orders]"] == {"name": "orders", "state": "open", "rejected": 12}
    assert snap["pools"][0]["max_concurrency"] == 64
    assert 'aiodynamo_patterns_layer_state{layer="FakeBreaker[orders]",state="open"} 1.0' in text
    assert 'aiodynamo_patterns_layer_stat{layer="ResendOnRetryable",stat="retries"} 2.0' in text
    assert "aiodynamo_patterns_pool_in_flight 0.0" in text


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [(None, None), ("own", "own")],
)
def test_a_session_takes_a_collector_or_none(metrics: str | None, expected: str | None) -> None:
    """metrics=None switches metrics off; a collector passed in is the one used."""
    own = MetricsCollector()
    session = DynamoSession(metrics=own if metrics else None)

    assert session.metrics is (own if expected else None)


SECRET_VALUE = "card-4111-1111"
SECRET_KEY = "customer-alice@example.com"


async def test_failure_logs_are_structured_and_redacted(
    clock: ManualClock, collector: MetricsCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed call logs one record with its fields in extra, and no key or item value."""
    error = ConditionFailed(
        f"condition failed for {SECRET_KEY}",
        item={"PK": SECRET_KEY, "card": SECRET_VALUE},
        operation="PutItem",
        request_id="REQ123",
    )
    call = pipeline(collector, FakeDynamo(clock, [error]))
    params = {
        "TableName": "products",
        "Key": {"PK": {"S": SECRET_KEY}},
        "Item": {"PK": {"S": SECRET_KEY}, "card": {"S": SECRET_VALUE}},
    }
    caplog.set_level(logging.DEBUG, logger="aiodynamo_patterns")

    with pytest.raises(ConditionFailed):
        await call(Request("PutItem", params, False))

    (record,) = caplog.records
    assert record.name == "aiodynamo_patterns"
    fields = vars(record)
    assert fields["ddb_operation"] == "PutItem"
    assert fields["ddb_table"] == "products"
    assert fields["ddb_code"] == "ConditionalCheckFailedException"
    assert fields["ddb_attempts"] == 1
    assert fields["ddb_latency_ms"] == pytest.approx(10.0)
    assert fields["ddb_request_id"] == "REQ123"
    assert fields["ddb_key"] == "PK=<S>"
    everything = record.getMessage() + repr(fields)
    assert SECRET_VALUE not in everything
    assert SECRET_KEY not in everything


async def test_log_keys_shows_keys_but_never_items(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With log_keys=True the key value is in the record; item values still are not."""
    collector = MetricsCollector(clock=clock, log_keys=True)
    call = pipeline(collector, FakeDynamo(clock, [Throttled("x", operation="PutItem")]))
    params = {
        "TableName": "products",
        "Key": {"PK": {"S": SECRET_KEY}},
        "Item": {"card": {"S": SECRET_VALUE}},
    }
    caplog.set_level(logging.DEBUG, logger="aiodynamo_patterns")

    with pytest.raises(Throttled):
        await call(Request("PutItem", params, False))

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert SECRET_KEY in record.getMessage()
    assert SECRET_VALUE not in record.getMessage() + repr(vars(record))


async def test_capacity_asked_for_by_the_collector_is_not_passed_on(
    clock: ManualClock, collector: MetricsCollector
) -> None:
    """The caller gets ConsumedCapacity only when it asked; the collector still counts it."""

    def answer() -> Result:  # the innermost call answers with a fresh object, as the session's
        return {"Item": {}, "ConsumedCapacity": {"TableName": "products", "CapacityUnits": 0.5}}

    fake = FakeDynamo(clock, [answer(), answer()])
    call = pipeline(collector, fake)

    unasked = get()
    callers_params = unasked.params
    plain = await call(unasked)
    asked = get()
    asked.params["ReturnConsumedCapacity"] = "TOTAL"
    explicit = await call(asked)

    assert "ConsumedCapacity" not in plain
    assert explicit["ConsumedCapacity"]["CapacityUnits"] == 0.5
    assert collector.capacity()[("products", "")] == (1.0, 0.0)
    assert "ReturnConsumedCapacity" not in callers_params  # the caller's dict stays as it was
    assert fake.requests[0]["ReturnConsumedCapacity"] == "INDEXES"


async def test_calls_refused_by_an_open_circuit_are_logged_at_info_not_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage's refusals do not flood the log: the breaker logged the opening once."""
    collector = MetricsCollector(clock=ManualClock())
    layer = MetricsLayer(collector)
    call = compose([layer], ScriptedCall([CircuitOpen("open", operation="GetItem")] * 3))
    caplog.set_level(logging.INFO, logger="aiodynamo_patterns")
    for _ in range(3):
        with pytest.raises(CircuitOpen):
            await call(Request("GetItem", {"TableName": "t", "Key": {}}, True))
    levels = [r.levelno for r in caplog.records if "failed" in r.getMessage()]
    assert levels == [logging.INFO] * 3
    assert collector.snapshot()["operations"]["GetItem"]["errors_by_code"] == {"CircuitOpen": 3}
