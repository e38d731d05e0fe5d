"""The request pipeline: layers around one call.

Every DynamoDB request is a :class:`Request` passed through ``layers`` (outermost first) down to
the session's innermost call, which holds the semaphore, talks to aiobotocore and translates
errors. A layer knows nothing of its neighbours::

    class Layer(Protocol):
        async def __call__(self, request: Request, call_next: Call) -> Result: ...

The request carries, besides the wire ``operation`` and ``params``, whether resending it after an
unknown outcome is safe (``idempotent``): the retry layer needs that and only the caller knows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .clock import Clock

__all__ = [
    "CALL_OBSERVER",
    "CAPACITY_OPERATIONS",
    "DATA_PLANE_OPERATIONS",
    "READ_OPERATIONS",
    "PROTOCOL_STEP",
    "TABLE_OPERATIONS",
    "WRITE_OPERATIONS",
    "CacheObserver",
    "Call",
    "Layer",
    "Request",
    "Result",
    "compose",
    "is_read",
    "observe_lookup",
    "report",
]

Result = dict[str, Any]

#: Set by a caller around one call whose condition may fail on purpose, as a step of the caller's
#: own protocol (the replay record of :mod:`aiodynamo_patterns.products.replay`). Given the call's
#: failure, it answers what the caller makes of it: ``"resend"`` (the request goes again in another
#: form: not a call of its own, not an error), ``"success"`` (an earlier attempt was applied: the
#: caller sees a success), the name of the error the caller gets instead (``"InsufficientStock"``)
#: or None (the failure as it is). The metrics count what callers saw.
PROTOCOL_STEP: ContextVar[Callable[[BaseException], str | None] | None] = ContextVar(
    "aiodynamo_patterns_protocol_step", default=None
)

#: the operations on items (the rest are table management and rare extras)
DATA_PLANE_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

#: the operations that only read (``is_read`` adds every other Describe*/List*/Get* one)
READ_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables"}
)

#: the operations that write items (what a read cache must invalidate on)
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)

#: the data-plane operations that name exactly one table in ``TableName``
TABLE_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"})

#: the operations that accept ``ReturnConsumedCapacity``
CAPACITY_OPERATIONS = DATA_PLANE_OPERATIONS | frozenset(
    {"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}
)


def is_read(operation: str) -> bool:
    """Whether ``operation`` only reads: safe to resend after an unknown outcome, and never a
    reason to invalidate a cache. The one definition of "read" in the library."""
    return operation in READ_OPERATIONS or operation.startswith(("Describe", "List", "Get"))


@dataclass(slots=True)
class Request:
    operation: str
    params: dict[str, Any]
    idempotent: bool
    attempt: int = 0
    #: free-form annotations layers may leave for each other (e.g. "cache": "hit")
    notes: dict[str, Any] = field(default_factory=dict)
    #: the endpoint the session sends to (its URL), for observers; None when not known
    endpoint: str | None = None
    _table: str | None = field(default=None, init=False, repr=False, compare=False)
    _table_known: bool = field(default=False, init=False, repr=False, compare=False)
    _started: float = field(default=0.0, init=False, repr=False, compare=False)
    _started_on: Clock | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def table(self) -> str | None:
        """The one table the request addresses (None for several or none), derived once."""
        if not self._table_known:
            found = self.params.get("TableName")
            if found is None:
                items = self.params.get("RequestItems")
                if isinstance(items, dict) and len(items) == 1:
                    found = next(iter(items))
            self._table = found if isinstance(found, str) else None
            self._table_known = True
        return self._table

    def started_at(self, clock: Clock) -> float:
        """When the logical call started on ``clock``: read once, by the outermost layer that
        asks, and shared by every layer below that runs on the same clock."""
        if self._started_on is clock:
            return self._started
        now = clock.now()
        if self._started_on is None:
            self._started, self._started_on = now, clock
        return now


Call = Callable[[Request], Awaitable[Result]]


class Layer(Protocol):
    async def __call__(self, request: Request, call_next: Call) -> Result: ...


def compose(layers: Sequence[Layer], innermost: Call) -> Call:
    """Wrap ``innermost`` in ``layers``; the first layer is the outermost."""
    call = innermost
    for layer in reversed(layers):
        call = partial(layer, call_next=call)
    return call


EventAttributes = Mapping[str, str | int | float | bool]

#: The observer of the logical call running in this context: set by a tracing layer around the
#: rest of the pipeline, told by the layers below what happens inside the call (:func:`report`).
#: A layer reports without knowing who listens; nobody listening costs one lookup.
CALL_OBSERVER: ContextVar[Callable[[str, EventAttributes], None] | None] = ContextVar(
    "aiodynamo_patterns_call_observer", default=None
)


def report(event: str, attributes: EventAttributes) -> None:
    """Tell the observer of the current call, if any, that ``event`` happened inside it (a retry
    and its backoff, a refusal by an open circuit). Attributes never carry item or key values."""
    observer = CALL_OBSERVER.get()
    if observer is not None:
        observer(event, attributes)


@runtime_checkable
class CacheObserver(Protocol):
    """A session layer that also wants the reads a cache answers before the session is reached
    (a :class:`~aiodynamo_patterns.CachedRepository`'s view asks the session's layers for it).

    ``cache_lookup`` wraps one lookup (and the fetch it may start); the view calls what it
    yields once with the outcome: ``"hit"``, ``"miss"``, ``"coalesced"`` or ``"bypassed"``.
    """

    def cache_lookup(
        self, operation: str, table: str
    ) -> AbstractContextManager[Callable[[str], None]]: ...


def _ignore(outcome: str) -> None:
    pass


def observe_lookup(
    layers: Sequence[object], operation: str, table: str
) -> AbstractContextManager[Callable[[str], None]]:
    """The :class:`CacheObserver` layers among ``layers`` around one cache lookup, as one context
    manager yielding the function that tells them its outcome (nothing to do without any)."""
    observers = [
        lookup for layer in layers if (lookup := getattr(layer, "cache_lookup", None)) is not None
    ]
    if not observers:
        return nullcontext(_ignore)
    if len(observers) == 1:
        found: AbstractContextManager[Callable[[str], None]] = observers[0](operation, table)
        return found
    return _all_of([observer(operation, table) for observer in observers])


@contextmanager
def _all_of(
    managers: list[AbstractContextManager[Callable[[str], None]]],
) -> Iterator[Callable[[str], None]]:
    with ExitStack() as stack:
        notes = [stack.enter_context(manager) for manager in managers]

        def note(outcome: str) -> None:
            for each in notes:
                each(outcome)

        yield note
