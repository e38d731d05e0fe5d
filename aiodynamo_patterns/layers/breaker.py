"""The circuit breaker layer: fail fast while the endpoint is down, probe, recover.

States (per session, or per table with ``BreakerConfig(per_table=True)``)::

    CLOSED --(N consecutive availability failures, or failure rate >= R over the sliding
              window once it holds >= minimum_calls)--> OPEN
    OPEN   --(reset_timeout passed; the next call)-------------------------> HALF_OPEN
    HALF_OPEN: exactly ``half_open_probes`` calls are let through; every other call is refused.
               all probes succeed -> CLOSED; any probe fails -> OPEN (the timer starts again)

Only availability failures count: ``TransportError`` and ``ServiceUnavailable`` (the endpoint
did not answer, or answered 5xx). An answer from the service, even an error (``ConditionFailed``,
``ValidationError``, ``ItemNotFound``, ``Throttled``: throttling is back-pressure for the retry
layer, not an outage), is a sign of life. While the circuit is open a call raises ``CircuitOpen``
at once, before the session's semaphore and without touching the network.

A 5xx is evidence of an outage only the first time a given request meets it. Servers answer some
malformed requests with a 500 every time (moto for an ``ExclusiveStartKey`` of the wrong type),
and one caller resending such a request (or the retry layer resending it) must not open the
circuit for every other caller. So a ``ServiceUnavailable`` for a request (operation and
parameters) that already met one in the last ``REPEAT_MEMORY_SECONDS`` gives no verdict: the
attempts of one logical call count once, and so do identical calls. An outage fails many different
requests and still opens the circuit; a transport failure (no answer at all) always counts.

Time comes from the injected clock. Every transition is logged at WARNING on the
``aiodynamo_patterns`` logger, naming the circuit and the cause: the last availability failure
as error class, code, operation and table, never a key or an item value. Transitions are also
reported to listeners: ``listener(old, new, snapshot)``.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from ..clock import Clock
from ..errors import CircuitOpen, DynamoError, ServiceUnavailable, TransportError, ValidationError
from ..pipeline import Call, Request, Result, report

__all__ = [
    "REPEAT_MEMORY_SECONDS",
    "BreakerConfig",
    "BreakerLayer",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "Ticket",
    "is_availability_failure",
]

logger = logging.getLogger("aiodynamo_patterns")

#: how long a request that met a 5xx is remembered (each repeat refreshes it)
REPEAT_MEMORY_SECONDS = 300.0
#: at most this many such requests are remembered per circuit (oldest forgotten first)
_REPEAT_MEMORY_SIZE = 1024


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When the breaker opens and how it recovers.

    Defaults: 10 consecutive availability failures (at 20% random connection loss a run of 10
    has a probability of 1e-7 per attempt) or >= 50% of at least 20 calls in the last 10 s open
    it; after 5 s one probe is let through.
    """

    failure_threshold: int = 10
    failure_rate_threshold: float = 0.5
    window: float = 10.0
    minimum_calls: int = 20
    reset_timeout: float = 5.0
    half_open_probes: int = 1
    per_table: bool = False

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "minimum_calls", "half_open_probes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValidationError("must be an int >= 1", field=name)
        if not 0.0 < self.failure_rate_threshold <= 1.0:
            raise ValidationError("must be in (0, 1]", field="failure_rate_threshold")
        if not self.window > 0:
            raise ValidationError("must be positive", field="window")
        if not self.reset_timeout > 0:
            raise ValidationError("must be positive", field="reset_timeout")


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted call: which state epoch admitted it, its number, whether it is a probe."""

    epoch: int
    seq: int
    probe: bool


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What ``state()`` reports: the state, its counters and clock timestamps."""

    name: str
    state: BreakerState
    consecutive_failures: int
    window_calls: int
    window_failures: int
    probes_in_flight: int
    probe_successes: int
    opened_at: float | None
    changed_at: float
    times_opened: int
    rejected: int
    transitions: int
    #: 5xx answers not counted because the same request had already met one
    repeats_ignored: int = 0
    #: the last availability failure, e.g. ``"TransportError on GetItem (table products)"``
    last_failure: str | None = None

    @property
    def failure_rate_percent(self) -> float:
        return 100.0 * self.window_failures / self.window_calls if self.window_calls else 0.0


Listener = Callable[[BreakerState, BreakerState, BreakerSnapshot], None]


def is_availability_failure(exc: BaseException) -> bool:
    return isinstance(exc, TransportError | ServiceUnavailable)


def _describe_failure(request: Request, exc: DynamoError) -> str:
    """What a failure was, for logs and ``/health``: class, code, operation and table only (the
    message is left out: a server's message may quote a key or a value)."""
    code = f" {exc.code}" if exc.code and exc.code != type(exc).__name__ else ""
    table = f" (table {request.table})" if request.table else ""
    return f"{type(exc).__name__}{code} on {request.operation}{table}"


class CircuitBreaker:
    """One circuit's state machine. Every method is synchronous: no await between a decision
    and its bookkeeping, so concurrent coroutines cannot both take the last probe slot.

    In the closed state calls are judged in admission order (a call's verdict counts once every
    call admitted before it has finished), so a burst whose fast failures return before its
    slower successes is not mistaken for a run of consecutive failures.
    """

    def __init__(
        self,
        config: BreakerConfig,
        *,
        clock: Clock,
        name: str = "session",
        listeners: list[Listener] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.name = name
        self._listeners = listeners if listeners is not None else []
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()
        self._window_failures = 0
        self._probes = 0
        self._probe_successes = 0
        # closed-state bookkeeping: calls are numbered on admission and judged in that order
        self._epoch = 0
        self._next_seq = 0
        self._cursor = 0
        self._verdicts: dict[int, bool | None] = {}
        self._opened_at: float | None = None
        self._changed_at = clock.now()
        self._times_opened = 0
        self._rejected = 0
        self._transitions = 0
        # fingerprints of requests that met a 5xx -> when they last did
        self._failed_requests: OrderedDict[int, float] = OrderedDict()
        self._repeats_ignored = 0
        self._last_failure: str | None = None
        self._rejected_before_outage = 0

    # -- the hooks the layer calls ------------------------------------------------------------

    def admit(self) -> Ticket | None:
        """A ticket if a call may go through now, else None. A ticket taken while half-open is
        one of the probe slots; every ticket is given back through :meth:`record`.
        """
        if self._state is BreakerState.CLOSED:
            seq = self._next_seq
            self._next_seq += 1
            return Ticket(self._epoch, seq, probe=False)
        if self._state is BreakerState.OPEN:
            assert self._opened_at is not None
            if self.clock.now() - self._opened_at < self.config.reset_timeout:
                self._rejected += 1
                return None
            self._transition(BreakerState.HALF_OPEN)
        # HALF_OPEN
        if self._probes + self._probe_successes >= self.config.half_open_probes:
            self._rejected += 1
            return None
        self._probes += 1
        return Ticket(self._epoch, -1, probe=True)

    def record(self, ticket: Ticket, failed: bool | None, cause: str | None = None) -> None:
        """The verdict of an admitted call: True for an availability failure, False for any
        answer, None when it was cancelled (no verdict; a probe slot is given back). ``cause``
        describes a failure (see :func:`_describe_failure`); it is logged when the circuit opens.
        """
        if failed and cause is not None:
            self._last_failure = cause
        if ticket.epoch != self._epoch:
            return  # admitted before the last transition: the state already moved on
        if ticket.probe:
            self._probes -= 1
            if failed is None:
                return
            if failed:
                self._transition(BreakerState.OPEN)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.config.half_open_probes:
                self._transition(BreakerState.CLOSED)
            return
        # Judge calls in the order they were admitted, not the order they finished: failures
        # that come back fast (a reset) would otherwise pile up ahead of the slower successes
        # of the same burst and look like a run of consecutive failures.
        self._verdicts[ticket.seq] = failed
        judged_failure = False
        while self._cursor in self._verdicts:
            verdict = self._verdicts.pop(self._cursor)
            self._cursor += 1
            if verdict is None:
                continue
            if verdict:
                self._consecutive += 1
                judged_failure = True
            else:
                self._consecutive = 0
            self._observe(verdict)
        if not judged_failure:
            return
        calls = len(self._window)
        if self._consecutive >= self.config.failure_threshold or (
            calls >= self.config.minimum_calls
            and self._window_failures >= self.config.failure_rate_threshold * calls
        ):
            self._transition(BreakerState.OPEN)

    def verdict(self, request: Request, exc: DynamoError) -> bool | None:
        """What a failed call tells about the endpoint: True for an availability failure, False
        for a sign of life, None for no evidence (a 5xx this very request already met)."""
        if isinstance(exc, TransportError):
            return True
        if not isinstance(exc, ServiceUnavailable):
            return False
        now = self.clock.now()
        memory = self._failed_requests
        while memory:
            oldest, seen = next(iter(memory.items()))
            if now - seen < REPEAT_MEMORY_SECONDS:
                break
            del memory[oldest]
        # Computed only for 5xx answers, so the cost of the repr stays off the success path.
        fingerprint = hash((request.operation, repr(request.params)))
        repeated = fingerprint in memory
        memory[fingerprint] = now
        memory.move_to_end(fingerprint)
        if len(memory) > _REPEAT_MEMORY_SIZE:
            memory.popitem(last=False)
        if repeated:
            self._repeats_ignored += 1
            return None
        return True

    # -- internals ----------------------------------------------------------------------------

    def _observe(self, failed: bool) -> None:
        now = self.clock.now()
        self._window.append((now, failed))
        if failed:
            self._window_failures += 1
        horizon = now - self.config.window
        while self._window and self._window[0][0] < horizon:
            _, old_failed = self._window.popleft()
            if old_failed:
                self._window_failures -= 1

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        if old is new:
            return
        now = self.clock.now()
        snapshot_before = self.state()
        self._state = new
        self._changed_at = now
        self._transitions += 1
        self._epoch += 1
        self._probes = 0
        self._probe_successes = 0
        self._verdicts.clear()
        self._cursor = self._next_seq
        cause = self._last_failure or "no failure recorded"
        if new is BreakerState.OPEN and old is BreakerState.HALF_OPEN:
            self._opened_at = now
            self._times_opened += 1
            logger.warning(
                "circuit %s opened again (half_open -> open): the probe failed with %s; "
                "failing fast for %gs",
                self.name,
                cause,
                self.config.reset_timeout,
            )
        elif new is BreakerState.OPEN:
            self._opened_at = now
            self._times_opened += 1
            self._rejected_before_outage = self._rejected
            logger.warning(
                "circuit %s opened (%s -> open) after %s: %d consecutive failures, %d of %d "
                "calls failed in the last %gs; failing fast for %gs",
                self.name,
                old.value,
                cause,
                snapshot_before.consecutive_failures,
                snapshot_before.window_failures,
                snapshot_before.window_calls,
                self.config.window,
                self.config.reset_timeout,
            )
        elif new is BreakerState.HALF_OPEN:
            logger.warning(
                "circuit %s half-open (open -> half_open): %gs after %s, letting %d probe(s) "
                "through",
                self.name,
                self.config.reset_timeout,
                cause,
                self.config.half_open_probes,
            )
        else:
            logger.warning(
                "circuit %s closed (%s -> closed): %d probe(s) succeeded after an outage "
                "caused by %s; %d call(s) refused meanwhile",
                self.name,
                old.value,
                self.config.half_open_probes,
                cause,
                self._rejected - self._rejected_before_outage,
            )
        if new is BreakerState.CLOSED:
            # recovered: what failed during the outage is not known to be bad by itself
            self._failed_requests.clear()
            self._opened_at = None
            self._consecutive = 0
            self._window.clear()
            self._window_failures = 0
        snapshot = self.state()
        for listener in list(self._listeners):
            try:
                listener(old, new, snapshot)
            except Exception:  # a listener must not break the request path
                logger.exception("circuit breaker listener %r failed", listener)

    @property
    def current(self) -> BreakerState:
        return self._state

    def state(self) -> BreakerSnapshot:
        return BreakerSnapshot(
            name=self.name,
            state=self._state,
            consecutive_failures=self._consecutive,
            window_calls=len(self._window),
            window_failures=self._window_failures,
            probes_in_flight=self._probes,
            probe_successes=self._probe_successes,
            opened_at=self._opened_at,
            changed_at=self._changed_at,
            times_opened=self._times_opened,
            rejected=self._rejected,
            transitions=self._transitions,
            repeats_ignored=self._repeats_ignored,
            last_failure=self._last_failure,
        )


class BreakerLayer:
    """A pipeline layer holding one :class:`CircuitBreaker` per session (or per table)."""

    def __init__(self, config: BreakerConfig | None = None, *, clock: Clock) -> None:
        self.config = config or BreakerConfig()
        self.clock = clock
        self._listeners: list[Listener] = []
        self._circuits: dict[str, CircuitBreaker] = {}

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(old_state, new_state, snapshot)`` on every transition of any circuit."""
        self._listeners.append(listener)

    def circuit(self, table: str | None = None) -> CircuitBreaker:
        name = (table or "session") if self.config.per_table else "session"
        breaker = self._circuits.get(name)
        if breaker is None:
            breaker = CircuitBreaker(
                self.config, clock=self.clock, name=name, listeners=self._listeners
            )
            self._circuits[name] = breaker
        return breaker

    def state(self, table: str | None = None) -> BreakerSnapshot:
        return self.circuit(table).state()

    def states(self) -> dict[str, BreakerSnapshot]:
        return {name: c.state() for name, c in self._circuits.items()}

    async def __call__(self, request: Request, call_next: Call) -> Result:
        breaker = self.circuit(request.table)
        ticket = breaker.admit()
        if ticket is None:
            snap = breaker.state()
            retry_in = (
                max(0.0, snap.opened_at + self.config.reset_timeout - self.clock.now())
                if snap.opened_at is not None
                else 0.0
            )
            report(
                "circuit_open",
                {"aiodynamo.circuit": breaker.name, "aiodynamo.retry_in_s": retry_in},
            )
            raise CircuitOpen(
                f"circuit {breaker.name} is {snap.state.value}: failing fast "
                f"(next probe in {retry_in:.2f}s)",
                operation=request.operation,
                code="CircuitOpen",
            )
        try:
            result = await call_next(request)
        except DynamoError as exc:
            verdict = breaker.verdict(request, exc)
            breaker.record(ticket, verdict, _describe_failure(request, exc) if verdict else None)
            raise
        except BaseException:
            breaker.record(ticket, None)
            raise
        breaker.record(ticket, False)
        return result
