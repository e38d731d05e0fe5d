"""The retry layer, driven by scripted failures and a manual clock (no network, no real sleep)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from aiodynamo_patterns import (
    Backoff,
    CircuitOpen,
    ConditionFailed,
    DynamoError,
    ItemNotFound,
    OutcomeUnknown,
    ServiceUnavailable,
    Throttled,
    TransactionConflict,
    TransportError,
    ValidationError,
)
from aiodynamo_patterns.layers.retry import RetryLayer, RetryPolicy
from aiodynamo_patterns.pipeline import Request
from aiodynamo_patterns.testing import ManualClock, ScriptedCall


def Script(failures: Sequence[BaseException | None]) -> ScriptedCall:
    """The innermost call: raises the scripted errors in turn (None answers), then ``{"ok": True}``."""
    return ScriptedCall(failures, default={"ok": True})


def throttled() -> Throttled:
    return Throttled(
        "slow down", operation="UpdateItem", code="ProvisionedThroughputExceededException"
    )


def layer(**policy: object) -> tuple[RetryLayer, ManualClock]:
    clock = ManualClock()
    kwargs = {"backoff": Backoff(base=0.025, cap=2.0, rng=random.Random(7)), **policy}
    return RetryLayer(RetryPolicy(**kwargs), clock=clock), clock  # type: ignore[arg-type]


def write(idempotent: bool = False) -> Request:
    return Request("UpdateItem", {"TableName": "t"}, idempotent)


@pytest.mark.parametrize(
    "error",
    [
        throttled(),
        TransactionConflict("busy", operation="UpdateItem"),
        ServiceUnavailable("500", operation="UpdateItem", status=500),
        TransportError("reset", operation="UpdateItem"),
        TransportError("refused", operation="UpdateItem", request_sent=False),
    ],
    ids=["throttled", "conflict", "5xx", "reset", "refused"],
)
async def test_retryable_errors_are_retried_for_idempotent_requests(error: DynamoError) -> None:
    """Every retryable failure of an idempotent request is resent until it succeeds."""
    retry, _ = layer()
    inner = Script([error, error])

    result = await retry(write(idempotent=True), inner)

    assert result == {"ok": True}
    assert inner.attempts == [0, 1, 2]
    assert retry.stats().retries == 2


@pytest.mark.parametrize(
    "error",
    [
        ConditionFailed("no", operation="UpdateItem"),
        ValidationError("bad", field="x"),
        ItemNotFound("gone"),
        CircuitOpen("open", operation="UpdateItem"),
        OutcomeUnknown("?", operation="UpdateItem"),
    ],
    ids=["condition", "validation", "not-found", "circuit-open", "unknown"],
)
async def test_definitive_answers_are_never_retried(error: DynamoError) -> None:
    """Caller errors and an open circuit end the call at the first attempt, unchanged."""
    retry, clock = layer()
    inner = Script([error])

    with pytest.raises(type(error)) as raised:
        await retry(write(idempotent=True), inner)

    assert raised.value is error
    assert inner.attempts == [0]
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (throttled(), True),
        (TransactionConflict("busy", operation="UpdateItem"), True),
        (TransportError("refused", operation="UpdateItem", request_sent=False), True),
        (TransportError("reset", operation="UpdateItem"), False),
        (TransportError("timeout", operation="UpdateItem", code="Timeout"), False),
        (ServiceUnavailable("500", operation="UpdateItem", status=500), False),
    ],
    ids=["throttled", "conflict", "refused", "reset", "timeout", "5xx"],
)
async def test_non_idempotent_writes_are_resent_only_when_provably_not_executed(
    error: DynamoError, retried: bool
) -> None:
    """A write that may have executed raises OutcomeUnknown instead of being applied twice."""
    retry, _ = layer()
    inner = Script([error])

    if retried:
        assert await retry(write(idempotent=False), inner) == {"ok": True}
        assert inner.attempts == [0, 1]
    else:
        with pytest.raises(OutcomeUnknown) as raised:
            await retry(write(idempotent=False), inner)
        assert raised.value.__cause__ is error
        assert inner.attempts == [0]
        assert retry.stats().outcome_unknown == 1


async def test_giving_up_reraises_the_last_error_with_a_note() -> None:
    """After max_attempts the last error itself is raised, annotated, never wrapped."""
    retry, clock = layer(max_attempts=4)
    errors = [throttled() for _ in range(4)]
    inner = Script(errors)

    with pytest.raises(Throttled) as raised:
        await retry(write(), inner)

    assert raised.value is errors[-1]
    assert any("gave up after 4 attempt(s)" in n for n in raised.value.__notes__)
    assert inner.attempts == [0, 1, 2, 3]
    assert len(clock.sleeps) == 3
    stats = retry.stats()
    assert (stats.calls, stats.attempts, stats.retries, stats.give_ups) == (1, 4, 3, 1)


async def test_backoff_is_full_jitter_below_the_exponential_ceiling() -> None:
    """Each wait is within [0, min(cap, base * 2**n)] and goes through the injected clock."""
    retry, clock = layer(max_attempts=10, backoff=Backoff(base=0.1, cap=1.0, rng=random.Random(1)))
    inner = Script([throttled() for _ in range(9)])

    await retry(write(), inner)

    assert len(clock.sleeps) == 9
    for n, delay in enumerate(clock.sleeps):
        assert 0.0 <= delay <= min(1.0, 0.1 * 2**n)


async def test_deadline_stops_retrying_before_a_sleep_that_would_cross_it() -> None:
    """No backoff sleep is begun when the next attempt would start after the call's deadline."""
    retry, clock = layer(
        max_attempts=100, deadline=1.0, backoff=Backoff(base=0.4, cap=0.4, rng=random.Random(3))
    )
    inner = Script([throttled() for _ in range(100)])

    with pytest.raises(Throttled) as raised:
        await retry(write(), inner)

    assert sum(clock.sleeps) < 1.0
    assert "deadline" in raised.value.__notes__[-1]
    assert retry.stats().deadline_exceeded == 1


async def test_budget_refuses_retries_once_spent_and_refunds_resolved_calls() -> None:
    """Unresolved calls drain the bucket; a call ending in an answer gives its tokens back."""
    retry, _ = layer(max_attempts=3, budget_capacity=4, retry_cost=1, success_reward=0)

    # two unresolved calls spend 2 tokens each: the bucket is empty
    for _ in range(2):
        with pytest.raises(Throttled):
            await retry(write(), Script([throttled()] * 3))
    assert retry.budget.tokens == 0

    # the next call may not retry at all
    with pytest.raises(Throttled) as raised:
        await retry(write(), Script([throttled()]))
    assert "retry budget exhausted" in raised.value.__notes__[-1]
    assert retry.stats().budget_exhausted == 1


async def test_a_retried_call_that_succeeds_or_fails_definitively_refunds_its_cost() -> None:
    """Retries that end in a success or a ConditionFailed leave the budget where it was."""
    retry, _ = layer(budget_capacity=10, retry_cost=2, success_reward=0)

    await retry(write(), Script([throttled(), throttled()]))
    with pytest.raises(ConditionFailed):
        await retry(write(), Script([throttled(), ConditionFailed("no", operation="UpdateItem")]))

    stats = retry.stats()
    assert stats.budget_tokens == 10
    assert stats.budget_low_water == 6
    assert stats.retries == 3


async def test_concurrent_retries_never_overdraw_the_budget() -> None:
    """Many coroutines failing at once spend at most the bucket's capacity."""
    retry, _ = layer(max_attempts=5, budget_capacity=20, retry_cost=1)
    outcomes = await asyncio.gather(
        *(retry(write(), Script([throttled()] * 5)) for _ in range(50)), return_exceptions=True
    )

    assert all(isinstance(o, Throttled) for o in outcomes)
    stats = retry.stats()
    assert stats.retries == 20
    assert stats.budget_low_water == 0
    assert stats.budget_exhausted == 50  # every call met the empty bucket at some retry


async def test_cancellation_during_backoff_propagates_at_once() -> None:
    """Cancelling a call while it sleeps between attempts raises CancelledError promptly."""

    sleeping = asyncio.Event()

    class BlockingClock(ManualClock):
        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            sleeping.set()
            await asyncio.Event().wait()  # a backoff that would never end by itself

    clock = BlockingClock()
    retry = RetryLayer(RetryPolicy(), clock=clock)
    inner = Script([throttled()])
    task = asyncio.create_task(retry(write(), inner))
    await sleeping.wait()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner.attempts == [0]


def test_policy_validates_its_settings() -> None:
    """Nonsense settings are refused with the offending field named."""
    with pytest.raises(ValidationError) as raised:
        RetryPolicy(max_attempts=0)
    assert raised.value.field == "max_attempts"
    with pytest.raises(ValidationError):
        RetryPolicy(deadline=-1)


def test_max_call_duration_bounds_the_retry_window() -> None:
    """The duration bound includes the deadline and one attempt timeout."""
    assert RetryPolicy(deadline=20.0).max_call_duration(10.0) == 30.0
    assert RetryPolicy(max_attempts=1).max_call_duration(10.0) == 10.0


async def test_a_call_ended_by_an_open_circuit_keeps_its_retry_cost_spent() -> None:
    """An open circuit is no answer from the service: the call's tokens are not refunded."""
    retry, _ = layer(budget_capacity=10, retry_cost=1, success_reward=0)

    with pytest.raises(CircuitOpen):
        await retry(write(), Script([throttled(), throttled(), CircuitOpen("open")]))

    assert retry.budget.tokens == 8


@pytest.mark.parametrize(
    ("codes", "retried"),
    [
        (["None", "TransactionConflict"], True),
        (["ThrottlingError", "None"], True),
        (["ConditionalCheckFailed", "TransactionConflict"], False),
        (["None", "ValidationError"], False),
    ],
)
async def test_a_transaction_cancelled_only_by_conflicts_is_resent(
    codes: list[str], retried: bool
) -> None:
    """Conflict/throttle cancellations applied nothing: resent even though writes; others not."""
    from aiodynamo_patterns import CancellationReason, TransactionCanceled

    retry, _ = layer()
    cancelled = TransactionCanceled(
        "cancelled", operation="TransactWriteItems", reasons=[CancellationReason(c) for c in codes]
    )
    inner = Script([cancelled])

    if retried:
        assert await retry(write(idempotent=False), inner) == {"ok": True}
    else:
        with pytest.raises(TransactionCanceled):
            await retry(write(idempotent=False), inner)
    assert len(inner.attempts) == (2 if retried else 1)


def _one_of_each() -> list[DynamoError]:
    import aiodynamo_patterns.errors as errors

    made: list[DynamoError] = []
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, DynamoError):
            made.append(cls("x", operation="UpdateItem"))
    conflict = errors.CancellationReason(code="TransactionConflict")
    innocent = errors.CancellationReason(code="None")
    made.append(errors.TransactionCanceled("x", reasons=[innocent, conflict]))
    made.append(
        errors.TransactionCanceled(
            "x", reasons=[errors.CancellationReason("ConditionalCheckFailed"), conflict]
        )
    )
    return made


@pytest.mark.parametrize("error", _one_of_each(), ids=lambda e: f"{type(e).__name__}-{e.retryable}")
async def test_the_retry_layer_resends_exactly_the_errors_marked_retryable(
    error: DynamoError,
) -> None:
    """An idempotent call is resent after an error if and only if the error says retryable."""
    retry, _ = layer()
    script = Script([error])

    if error.retryable:
        assert await retry(write(idempotent=True), script) == {"ok": True}
        assert script.attempts == [0, 1]
    else:
        with pytest.raises(type(error)):
            await retry(write(idempotent=True), script)
        assert script.attempts == [0]


def test_batch_incomplete_is_not_retryable_since_the_batch_was_already_resent() -> None:
    """BatchIncomplete comes after the repository's own resends: it is not marked retryable."""
    from aiodynamo_patterns import BatchIncomplete

    assert BatchIncomplete("left over", unprocessed=[{"PK": {"S": "k"}}]).retryable is False
