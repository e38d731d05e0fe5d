"""The retry layer: backoff with full jitter, a per-call deadline and a retry budget.

Which failures are retried (by the library's error classes, see ``errors``):

* ``Throttled`` (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``), ``TransactionConflict``, and a ``TransactionCanceled`` whose reasons
  are only conflicts or throttling: the server answered that it did not execute the request, so
  every request may be resent, writes included.
* ``TransportError`` with ``request_sent=False`` (connection refused, connect timeout): the request
  never left the client, so every request may be resent.
* ``ServiceUnavailable`` (5xx) and any other ``TransportError`` (reset, timeout, lost or corrupted
  response): the request may have executed. Only idempotent requests (reads, and writes that carry
  something that makes a replay harmless, see ``ProductRepository.update_product_stock``) are
  resent; a non-idempotent write raises ``OutcomeUnknown`` instead of risking a double apply.
* Everything else (``ConditionFailed``, ``ValidationError``, ``ItemNotFound``, ``TableNotFound``,
  ``AccessDenied``, ``CircuitOpen``, ...) is a definitive answer and is never retried.

The retry budget is a token bucket shared by every call of the session, in the spirit of botocore's
standard mode: a retry spends ``retry_cost`` tokens (``timeout_retry_cost`` after a timeout); when
the call ends in a definitive answer (a success or a non-retryable error from the server) the tokens
it spent are given back, and a success at the first attempt adds ``success_reward``. So the budget
drains only for calls that end unresolved, and a fleet whose endpoint is failing stops multiplying
its own load. When the budget is empty the call gives up at once and says so in a note.

On giving up the last error is re-raised as it is, with a note (``exc.add_note``) giving the
attempts and the reason; it is never wrapped. Waits go through the session's clock, so they are
cancellable and tests never really sleep.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from .._stats import StatsRecord
from ..clock import Clock
from ..errors import (
    CircuitOpen,
    DynamoError,
    OutcomeUnknown,
    PoolTimeout,
    Throttled,
    TransactionCanceled,
    TransactionConflict,
    TransportError,
    ValidationError,
)
from ..pipeline import Call, Request, Result, report
from .backoff import Backoff

__all__ = [
    "RetryBudget",
    "RetryLayer",
    "RetryPolicy",
    "RetryStats",
    "is_retryable",
    "provably_not_executed",
]

logger = logging.getLogger("aiodynamo_patterns")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a session retries. The defaults suit DynamoDB (botocore's legacy mode uses 10
    attempts for DynamoDB with a 25 ms base): with them 30% throttling and 20% lost responses
    are ridden out (0.3**10 = 6e-6 of calls would exhaust their attempts).
    """

    max_attempts: int = 10
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.025, cap=2.0))
    #: no new attempt starts (and no backoff sleep is begun) later than this after the call
    #: started; None for no deadline. A running attempt is bounded by the read timeout.
    deadline: float | None = 20.0
    budget_capacity: float = 500.0
    retry_cost: float = 1.0
    timeout_retry_cost: float = 2.0
    success_reward: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValidationError("must be an int >= 1", field="max_attempts")
        if self.deadline is not None and not self.deadline > 0:
            raise ValidationError("must be positive or None", field="deadline")
        for name in ("budget_capacity", "retry_cost", "timeout_retry_cost", "success_reward"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValidationError("must be a finite number >= 0", field=name)

    def max_call_duration(self, attempt_timeout: float) -> float:
        """An upper bound of the time between a call's start and the end of its last attempt."""
        sleeps: float = sum(
            min(self.backoff.cap, self.backoff.base * float(2 ** min(n, 32)))
            for n in range(self.max_attempts - 1)
        )
        waiting: float = sleeps + (self.max_attempts - 1) * attempt_timeout
        if self.deadline is not None:
            waiting = min(waiting, self.deadline)
        return waiting + attempt_timeout


@dataclass(frozen=True, slots=True)
class RetryStats(StatsRecord):
    derived = ("retry_rate_percent", "give_up_rate_percent", "budget_exhausted_percent")

    calls: int
    attempts: int
    retries: int
    successes: int
    successes_after_retry: int
    give_ups: int
    budget_exhausted: int
    deadline_exceeded: int
    outcome_unknown: int
    budget_tokens: float
    budget_low_water: float
    budget_capacity: float

    @property
    def retry_rate_percent(self) -> float:
        """Retries as a percentage of all attempts."""
        return 100.0 * self.retries / self.attempts if self.attempts else 0.0

    @property
    def give_up_rate_percent(self) -> float:
        """Calls that ended on a retryable error, as a percentage of all calls."""
        return 100.0 * self.give_ups / self.calls if self.calls else 0.0

    @property
    def budget_exhausted_percent(self) -> float:
        return 100.0 * self.budget_exhausted / self.calls if self.calls else 0.0


class RetryBudget:
    """A token bucket: ``spend`` refuses when too few tokens are left; ``refund`` caps at capacity."""

    __slots__ = ("capacity", "low_water", "tokens")

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.tokens = capacity
        self.low_water = capacity

    def spend(self, cost: float) -> bool:
        if cost > self.tokens:
            return False
        self.tokens -= cost
        self.low_water = min(self.low_water, self.tokens)
        return True

    def refund(self, amount: float) -> None:
        # rounded so that fractional rewards do not leave float dust in the figures
        self.tokens = round(min(self.capacity, self.tokens + amount), 6)


def is_retryable(exc: BaseException) -> bool:
    """Whether the retry layer resends ``exc``: exactly the error's own ``retryable`` flag
    (throttling, 5xx, conflicts, transport, a transaction cancelled only transiently)."""
    return isinstance(exc, DynamoError) and exc.retryable


def provably_not_executed(exc: BaseException) -> bool:
    """Whether the failure proves the request did not execute (safe to resend any write)."""
    if isinstance(exc, Throttled | TransactionConflict):
        return True
    if isinstance(exc, TransactionCanceled):
        return exc.retryable  # cancelled for conflicts or throttling only: nothing was applied
    return isinstance(exc, TransportError) and not exc.request_sent


class RetryLayer:
    """A pipeline layer that resends retryable failures according to a :class:`RetryPolicy`."""

    def __init__(self, policy: RetryPolicy | None = None, *, clock: Clock) -> None:
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.budget = RetryBudget(self.policy.budget_capacity)
        self._calls = 0
        self._attempts = 0
        self._retries = 0
        self._successes = 0
        self._successes_after_retry = 0
        self._give_ups = 0
        self._budget_exhausted = 0
        self._deadline_exceeded = 0
        self._outcome_unknown = 0
        self._exhausted_logged = False

    async def __call__(self, request: Request, call_next: Call) -> Result:
        started = request.started_at(self.clock)
        spent = 0.0  # budget tokens this call has spent on retries so far
        self._calls += 1
        attempt = 0
        while True:
            request.attempt = attempt
            self._attempts += 1
            try:
                result = await call_next(request)
            except DynamoError as exc:
                # raises when this failure ends the call; else the wait and the tokens it costs
                delay, cost = self._next_attempt(request, exc, attempt, started, spent)
                spent += cost
                self._retries += 1
                logger.debug(
                    "retrying %s (attempt %d failed with %s) in %.3fs",
                    request.operation,
                    attempt + 1,
                    exc.code,
                    delay,
                )
                report(
                    "retry",
                    {
                        "aiodynamo.attempt": attempt + 1,
                        "error.type": exc.code,
                        "aiodynamo.delay_s": delay,
                    },
                )
                await self.clock.sleep(delay)
                attempt += 1
                continue
            self._succeeded(attempt, spent)
            return result

    def _next_attempt(
        self, request: Request, exc: DynamoError, attempt: int, started: float, spent: float
    ) -> tuple[float, float]:
        """``(delay, cost)`` of the retry after ``exc``, or raise what the call ends with."""
        if not is_retryable(exc):
            if not isinstance(exc, CircuitOpen | PoolTimeout):
                # A definitive answer: the tokens this call spent come back. (An open
                # circuit or a full pool is no answer: the call ends unresolved.)
                self.budget.refund(spent)
            raise exc
        if not request.idempotent and not provably_not_executed(exc):
            self._outcome_unknown += 1
            unknown = OutcomeUnknown(
                f"{request.operation} is not idempotent and failed after it may have "
                f"been sent ({exc.code}); it may or may not have been applied",
                operation=request.operation,
                code="OutcomeUnknown",
                request_id=exc.request_id,
            )
            unknown.add_note(f"attempt {attempt + 1}; not resent to avoid a double apply")
            raise unknown from exc
        reason = self._reason_to_stop(exc, attempt, started)
        if reason is not None:
            self._give_up(
                exc,
                f"gave up after {attempt + 1} attempt(s) in "
                f"{self.clock.now() - started:.3f}s: {reason}",
            )
            logger.debug(
                "giving up %s after %d attempt(s): %s", request.operation, attempt + 1, reason
            )
            raise exc
        policy = self.policy
        cost = policy.timeout_retry_cost if exc.code == "Timeout" else policy.retry_cost
        if not self.budget.spend(cost):
            self._budget_exhausted += 1
            self._give_up(
                exc,
                f"gave up after {attempt + 1} attempt(s): retry budget exhausted "
                f"({self.budget.tokens:g} of {self.budget.capacity:g} tokens left)",
            )
            if not self._exhausted_logged:  # once per drain, not once per call
                self._exhausted_logged = True
                logger.warning(
                    "retry budget exhausted: %s and later calls are not retried (%s)",
                    request.operation,
                    exc.code,
                )
            raise exc
        delay = policy.backoff.delay(attempt)
        if policy.deadline is not None:
            remaining = policy.deadline - (self.clock.now() - started)
            if delay >= remaining:
                self.budget.refund(cost)
                self._deadline_exceeded += 1
                self._give_up(
                    exc,
                    f"gave up after {attempt + 1} attempt(s): the next attempt would "
                    f"start after the {policy.deadline:g}s deadline",
                )
                raise exc
        return delay, cost

    def _give_up(self, exc: DynamoError, why: str) -> None:
        self._give_ups += 1
        exc.add_note(f"aiodynamo_patterns retry: {why}")

    def _succeeded(self, attempt: int, spent: float) -> None:
        self._successes += 1
        if self._exhausted_logged and self.budget.tokens >= self.budget.capacity / 2:
            self._exhausted_logged = False
        if attempt:
            self._successes_after_retry += 1
            self.budget.refund(spent)
        else:
            self.budget.refund(self.policy.success_reward)

    def _reason_to_stop(self, exc: DynamoError, attempt: int, started: float) -> str | None:
        policy = self.policy
        if attempt + 1 >= policy.max_attempts:
            return f"max_attempts={policy.max_attempts} reached (last error {exc.code})"
        if policy.deadline is not None and self.clock.now() - started >= policy.deadline:
            self._deadline_exceeded += 1
            return f"deadline of {policy.deadline:g}s passed"
        return None

    def stats(self) -> RetryStats:
        return RetryStats(
            calls=self._calls,
            attempts=self._attempts,
            retries=self._retries,
            successes=self._successes,
            successes_after_retry=self._successes_after_retry,
            give_ups=self._give_ups,
            budget_exhausted=self._budget_exhausted,
            deadline_exceeded=self._deadline_exceeded,
            outcome_unknown=self._outcome_unknown,
            budget_tokens=self.budget.tokens,
            budget_low_water=self.budget.low_water,
            budget_capacity=self.budget.capacity,
        )

    def __repr__(self) -> str:
        return f"<RetryLayer {self.policy!r}>"
