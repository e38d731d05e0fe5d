"""Shared test doubles for the request pipeline: a scripted innermost call and a counting layer.

They let a suite test its own layers (or the library's) without a server::

    call = compose([MyLayer()], ScriptedCall([Throttled("slow down"), {"Item": {}}]))
    assert await call(Request("GetItem", {"TableName": "t"}, True)) == {"Item": {}}

For tests against a real server over HTTP, use the ``ddb_*`` fixtures and :class:`FaultProxy`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..pipeline import Call, Request, Result
from .clock import ManualClock

__all__ = ["CountingLayer", "ScriptedCall"]


class ScriptedCall:
    """An innermost call that plays ``outcomes`` in turn (an exception is raised, a mapping is
    answered as a fresh dict), then answers ``default`` for every later request.

    With a :class:`ManualClock` and ``latency``, each request takes that long in manual time.
    ``requests`` keeps a copy of every request's parameters, ``attempts`` its attempt index.
    """

    def __init__(
        self,
        outcomes: Iterable[BaseException | Mapping[str, Any] | None] = (),
        *,
        default: Mapping[str, Any] | None = None,
        clock: ManualClock | None = None,
        latency: float = 0.0,
    ) -> None:
        self.outcomes = list(outcomes)
        self.default: Mapping[str, Any] = {} if default is None else default
        self.clock = clock
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.attempts: list[int] = []

    async def __call__(self, request: Request) -> Result:
        self.requests.append(dict(request.params))
        self.attempts.append(request.attempt)
        if self.clock is not None and self.latency:
            self.clock.advance(self.latency)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return dict(self.default if outcome is None else outcome)

    @property
    def calls(self) -> int:
        return len(self.requests)


class CountingLayer:
    """A pass-through layer that counts the requests going through it, by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, request: Request, call_next: Call) -> Result:
        self.calls[request.operation] += 1
        return await call_next(request)
