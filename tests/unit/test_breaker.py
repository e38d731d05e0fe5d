"""The circuit breaker's state machine, driven by a manual clock and fake calls."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from aiodynamo_patterns import (
    CircuitOpen,
    ConditionFailed,
    DynamoError,
    ItemNotFound,
    ServiceUnavailable,
    Throttled,
    TransportError,
    ValidationError,
)
from aiodynamo_patterns.layers.breaker import (
    REPEAT_MEMORY_SECONDS,
    BreakerConfig,
    BreakerLayer,
    BreakerSnapshot,
    BreakerState,
)
from aiodynamo_patterns.layers.retry import RetryLayer, RetryPolicy
from aiodynamo_patterns.pipeline import Request, Result
from aiodynamo_patterns.testing import ManualClock

_keys = itertools.count()


def request(table: str = "t", key: str | None = None) -> Request:
    """A GetItem of ``key``; by default a key no other request of the test reads."""
    key = key if key is not None else f"k{next(_keys)}"
    return Request("GetItem", {"TableName": table, "Key": {"PK": {"S": key}}}, True)


class Endpoint:
    """A fake innermost call that fails with ``error`` while it is set, and counts calls."""

    def __init__(self) -> None:
        self.error: DynamoError | None = None
        self.calls = 0

    async def __call__(self, req: Request) -> Result:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {}


def down() -> TransportError:
    return TransportError("refused", operation="GetItem", request_sent=False)


async def call(
    layer: BreakerLayer, endpoint: Endpoint, table: str = "t", key: str | None = None
) -> str:
    try:
        await layer(request(table, key), endpoint)
    except CircuitOpen:
        return "open"
    except DynamoError:
        return "error"
    return "ok"


def make(**config: object) -> tuple[BreakerLayer, ManualClock, Endpoint]:
    clock = ManualClock()
    return BreakerLayer(BreakerConfig(**config), clock=clock), clock, Endpoint()  # type: ignore[arg-type]


async def test_consecutive_availability_failures_open_the_circuit_at_the_threshold() -> None:
    """The Nth consecutive failure opens it; the next call fails fast without reaching the endpoint."""
    layer, _, endpoint = make(failure_threshold=5)
    endpoint.error = down()

    outcomes = [await call(layer, endpoint) for _ in range(5)]
    assert outcomes == ["error"] * 5
    assert layer.state().state is BreakerState.OPEN

    assert [await call(layer, endpoint) for _ in range(100)] == ["open"] * 100
    assert endpoint.calls == 5
    assert layer.state().rejected == 100


@pytest.mark.parametrize(
    "error",
    [
        ConditionFailed("no", operation="GetItem"),
        ValidationError("bad", field="x"),
        ItemNotFound("gone"),
        Throttled("slow down", operation="GetItem"),
    ],
    ids=["condition", "validation", "not-found", "throttled"],
)
async def test_caller_errors_and_throttling_never_open_it(error: DynamoError) -> None:
    """An answer from the service, even an error, is a sign of life."""
    layer, _, endpoint = make(failure_threshold=3, minimum_calls=5)
    endpoint.error = error

    outcomes = [await call(layer, endpoint) for _ in range(100)]

    assert outcomes == ["error"] * 100
    snap = layer.state()
    assert snap.state is BreakerState.CLOSED
    assert snap.window_failures == 0


async def test_failure_rate_over_the_window_opens_it_once_minimum_calls_are_seen() -> None:
    """Alternating failures never reach the consecutive threshold but do reach the rate."""
    layer, clock, endpoint = make(
        failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=10, window=10.0
    )
    for i in range(9):
        endpoint.error = ServiceUnavailable("500", status=500) if i % 2 else None
        await call(layer, endpoint)
        clock.advance(0.1)
    assert layer.state().state is BreakerState.CLOSED  # 4 of 9: too few calls and below 50%

    endpoint.error = ServiceUnavailable("500", status=500)
    await call(layer, endpoint)  # 5 of 10
    assert layer.state().state is BreakerState.OPEN


async def test_old_failures_leave_the_sliding_window() -> None:
    """Failures older than the window do not count towards the rate."""
    layer, clock, endpoint = make(
        failure_threshold=100, failure_rate_threshold=0.5, minimum_calls=4, window=1.0
    )
    endpoint.error = down()
    for _ in range(3):
        await call(layer, endpoint)
    clock.advance(2.0)
    endpoint.error = None
    for _ in range(3):
        await call(layer, endpoint)
    endpoint.error = down()
    await call(layer, endpoint)  # 1 failure of 4 in the window

    snap = layer.state()
    assert snap.state is BreakerState.CLOSED
    assert (snap.window_calls, snap.window_failures) == (4, 1)


async def test_after_reset_timeout_a_probe_success_closes_it() -> None:
    """Open -> half-open after reset_timeout; a successful probe closes the circuit."""
    layer, clock, endpoint = make(failure_threshold=2, reset_timeout=5.0)
    seen: list[tuple[BreakerState, BreakerState]] = []
    layer.add_listener(lambda old, new, snap: seen.append((old, new)))
    endpoint.error = down()
    await call(layer, endpoint)
    await call(layer, endpoint)
    clock.advance(4.9)
    assert await call(layer, endpoint) == "open"

    clock.advance(0.1)
    endpoint.error = None
    assert await call(layer, endpoint) == "ok"

    assert layer.state().state is BreakerState.CLOSED
    assert seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


async def test_a_failed_probe_reopens_it_and_restarts_the_timer() -> None:
    """A probe failure sends it back to open; the next probe waits a full reset_timeout."""
    layer, clock, endpoint = make(failure_threshold=1, reset_timeout=5.0)
    endpoint.error = down()
    await call(layer, endpoint)
    clock.advance(5.0)

    assert await call(layer, endpoint) == "error"  # the probe
    snap = layer.state()
    assert snap.state is BreakerState.OPEN
    assert snap.opened_at == clock.now()
    assert snap.times_opened == 2
    clock.advance(4.0)
    assert await call(layer, endpoint) == "open"
    assert endpoint.calls == 2


@pytest.mark.parametrize("probes", [1, 3])
async def test_exactly_the_configured_number_of_probes_run_under_concurrency(probes: int) -> None:
    """200 coroutines arrive together when half-open: exactly N reach the endpoint."""
    layer, clock, endpoint = make(failure_threshold=1, reset_timeout=1.0, half_open_probes=probes)
    endpoint.error = down()
    await call(layer, endpoint)
    clock.advance(1.0)
    endpoint.error = None
    release = asyncio.Event()
    reached = 0

    async def slow_endpoint(req: Request) -> Result:
        nonlocal reached
        reached += 1
        await release.wait()
        return {}

    async def one() -> str:
        try:
            await layer(request(), slow_endpoint)
        except CircuitOpen:
            return "open"
        return "ok"

    tasks = [asyncio.create_task(one()) for _ in range(200)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert reached == probes
    assert layer.state().probes_in_flight == probes
    release.set()
    outcomes = await asyncio.gather(*tasks)

    assert outcomes.count("ok") == probes
    assert outcomes.count("open") == 200 - probes
    assert layer.state().state is BreakerState.CLOSED


async def test_a_cancelled_probe_gives_its_slot_back() -> None:
    """Cancelling a probe neither closes nor re-opens the circuit; another probe may run."""
    layer, clock, endpoint = make(failure_threshold=1, reset_timeout=1.0)
    endpoint.error = down()
    await call(layer, endpoint)
    clock.advance(1.0)

    async def hang(req: Request) -> Result:
        await asyncio.Event().wait()
        return {}

    task = asyncio.create_task(layer(request(), hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert layer.state().state is BreakerState.HALF_OPEN
    endpoint.error = None
    assert await call(layer, endpoint) == "ok"
    assert layer.state().state is BreakerState.CLOSED


async def test_per_table_circuits_are_independent() -> None:
    """With per_table, one table's outage leaves the other table's circuit closed."""
    layer, _, endpoint = make(failure_threshold=2, per_table=True)
    endpoint.error = down()
    await call(layer, endpoint, "a")
    await call(layer, endpoint, "a")
    endpoint.error = None

    assert await call(layer, endpoint, "a") == "open"
    assert await call(layer, endpoint, "b") == "ok"
    assert {n: s.state for n, s in layer.states().items()} == {
        "a": BreakerState.OPEN,
        "b": BreakerState.CLOSED,
    }


async def test_transitions_are_logged_and_a_failing_listener_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An open transition logs a warning; a listener that raises does not break the call."""
    layer, _, endpoint = make(failure_threshold=1)
    snaps: list[BreakerSnapshot] = []

    def bad(old: BreakerState, new: BreakerState, snap: BreakerSnapshot) -> None:
        raise RuntimeError("listener bug")

    layer.add_listener(bad)
    layer.add_listener(lambda old, new, snap: snaps.append(snap))
    endpoint.error = down()

    with caplog.at_level("INFO", logger="aiodynamo_patterns"):
        assert await call(layer, endpoint) == "error"

    assert "circuit session opened" in caplog.text
    assert snaps[0].state is BreakerState.OPEN


def test_config_validates_its_settings() -> None:
    """Nonsense settings are refused with the offending field named."""
    with pytest.raises(ValidationError) as raised:
        BreakerConfig(half_open_probes=0)
    assert raised.value.field == "half_open_probes"


async def test_fast_failures_of_a_burst_are_judged_in_admission_order() -> None:
    """12 resets that return before the burst's 24 slower successes are not 12 in a row."""
    layer, _, _ = make(failure_threshold=10, minimum_calls=100)
    release = asyncio.Event()

    async def endpoint_for(i: int) -> Result:
        if i % 3 == 0:
            raise TransportError("reset", operation="GetItem")
        await release.wait()
        return {}

    async def one(i: int) -> str:
        try:
            await layer(request(), lambda req: endpoint_for(i))
        except DynamoError:
            return "error"
        return "ok"

    tasks = [asyncio.create_task(one(i)) for i in range(36)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert layer.state().state is BreakerState.CLOSED  # 12 failed, none judged alone yet
    release.set()
    outcomes = await asyncio.gather(*tasks)

    assert outcomes.count("error") == 12
    snap = layer.state()
    assert snap.state is BreakerState.CLOSED
    assert (snap.window_calls, snap.window_failures) == (36, 12)


def server_error() -> ServiceUnavailable:
    return ServiceUnavailable("internal error", operation="GetItem", status=500)


async def test_one_bad_request_repeated_50_times_never_opens_the_circuit() -> None:
    """A 500 that one request meets every time counts once; other callers are not failed fast."""
    layer, _, endpoint = make(failure_threshold=5, minimum_calls=5)

    class BadKey(Endpoint):
        async def __call__(self, req: Request) -> Result:
            self.calls += 1
            if req.params["Key"]["PK"]["S"] == "bad":
                raise server_error()
            return {}

    endpoint = BadKey()
    bad = [await call(layer, endpoint, key="bad") for _ in range(50)]
    others = [await call(layer, endpoint) for _ in range(20)]

    assert bad == ["error"] * 50
    assert others == ["ok"] * 20
    snap = layer.state()
    assert snap.state is BreakerState.CLOSED
    assert (snap.times_opened, snap.rejected, snap.repeats_ignored) == (0, 0, 49)
    assert endpoint.calls == 70


async def test_server_errors_of_many_different_requests_still_open_it() -> None:
    """An outage answers 500 to every request: distinct requests count and open the circuit."""
    layer, _, endpoint = make(failure_threshold=5)
    endpoint.error = server_error()

    assert [await call(layer, endpoint) for _ in range(6)] == ["error"] * 5 + ["open"]
    assert layer.state().repeats_ignored == 0


async def test_the_retries_of_one_call_meeting_500s_count_once() -> None:
    """A read retried ten times on 500s is one availability failure, not ten."""
    clock = ManualClock()
    breaker = BreakerLayer(BreakerConfig(failure_threshold=3), clock=clock)
    retry = RetryLayer(RetryPolicy(max_attempts=10, deadline=None), clock=clock)
    endpoint = Endpoint()
    endpoint.error = server_error()

    async def through_breaker(req: Request) -> Result:
        return await breaker(req, endpoint)

    with pytest.raises(ServiceUnavailable):
        await retry(request(key="same"), through_breaker)

    snap = breaker.state()
    assert endpoint.calls == 10
    assert snap.state is BreakerState.CLOSED
    assert (snap.consecutive_failures, snap.repeats_ignored) == (1, 9)


async def test_transport_failures_of_one_request_always_count() -> None:
    """No answer at all is not the request's fault: every attempt counts, repeated or not."""
    layer, _, endpoint = make(failure_threshold=5)
    endpoint.error = down()

    outcomes = [await call(layer, endpoint, key="same") for _ in range(6)]

    assert outcomes == ["error"] * 5 + ["open"]


async def test_a_repeated_request_is_forgotten_after_the_memory_period() -> None:
    """A request whose last 500 is older than REPEAT_MEMORY_SECONDS counts again."""
    layer, clock, endpoint = make(failure_threshold=2)
    endpoint.error = server_error()

    await call(layer, endpoint, key="bad")
    clock.advance(REPEAT_MEMORY_SECONDS - 1)
    await call(layer, endpoint, key="bad")  # a repeat (and the memory is refreshed)
    assert layer.state().consecutive_failures == 1
    clock.advance(REPEAT_MEMORY_SECONDS)
    await call(layer, endpoint, key="bad")

    assert layer.state().state is BreakerState.OPEN


async def test_every_transition_is_a_warning_naming_circuit_table_and_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Open, half-open and closed are each logged at WARNING with the circuit, the failing table
    and the cause (error class, operation), and no log line quotes the key."""
    layer, clock, endpoint = make(failure_threshold=2, reset_timeout=5.0, per_table=True)
    endpoint.error = down()

    with caplog.at_level("WARNING", logger="aiodynamo_patterns"):
        for _ in range(2):
            assert await call(layer, endpoint, "orders", key="secret-key-1") == "error"
        assert await call(layer, endpoint, "orders", key="secret-key-1") == "open"
        clock.advance(5.0)
        endpoint.error = None
        assert await call(layer, endpoint, "orders", key="secret-key-1") == "ok"

    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING"] * 3
    opened, half_open, closed = (m for _, m in messages)
    assert opened.startswith("circuit orders opened (closed -> open) after TransportError")
    assert "on GetItem (table orders)" in opened and "2 consecutive failures" in opened
    assert half_open.startswith("circuit orders half-open")
    assert closed.startswith("circuit orders closed (half_open -> closed)")
    assert "1 call(s) refused meanwhile" in closed
    assert not any("secret-key" in m for _, m in messages)
    assert layer.state("orders").last_failure == "TransportError on GetItem (table orders)"


async def test_a_failed_probe_logs_that_the_circuit_opened_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A probe that fails reopens the circuit with a WARNING naming the probe's failure."""
    layer, clock, endpoint = make(failure_threshold=1, reset_timeout=1.0)
    endpoint.error = down()
    assert await call(layer, endpoint) == "error"
    clock.advance(1.0)
    endpoint.error = ServiceUnavailable("down", operation="GetItem", code="InternalServerError")

    with caplog.at_level("WARNING", logger="aiodynamo_patterns"):
        assert await call(layer, endpoint) == "error"

    last = caplog.records[-1]
    assert last.levelname == "WARNING"
    assert last.getMessage().startswith(
        "circuit session opened again (half_open -> open): the probe failed with "
        "ServiceUnavailable InternalServerError on GetItem (table t)"
    )
    assert layer.state().state is BreakerState.OPEN
