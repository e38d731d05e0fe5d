"""The session's request slots: ``max_concurrency`` of them, first come first served, closable.

One slot is held per attempt, from just before the request is sent until its answer (or failure)
is back; never across a backoff sleep. Unlike ``asyncio.Semaphore`` the pool never binds itself to
whichever event loop first waits (each waiter's future comes from the session's own loop), and
:meth:`RequestPool.close` answers every waiter at once, so a call still queued when the session
closes gets ``SessionClosed`` instead of a slot on a closed client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from dataclasses import dataclass

from ._stats import StatsRecord
from .clock import Clock
from .errors import PoolTimeout, SessionClosed

__all__ = ["PoolStats", "RequestPool"]


@dataclass(frozen=True, slots=True)
class PoolStats(StatsRecord):
    derived = ("utilization_percent",)

    max_concurrency: int
    in_flight: int
    peak_in_flight: int
    waiting: int
    total_requests: int
    acquire_timeouts: int
    total_wait_seconds: float
    max_wait_seconds: float

    @property
    def utilization_percent(self) -> float:
        return 100.0 * self.in_flight / self.max_concurrency


class RequestPool:
    """``size`` request slots with the statistics ``DynamoSession.stats()`` reports."""

    __slots__ = (
        "_free",
        "_peak",
        "_timeouts",
        "_total",
        "_wait_max",
        "_wait_total",
        "_waiters",
        "_waiting",
        "acquire_timeout",
        "clock",
        "in_flight",
        "size",
    )

    def __init__(self, size: int, *, acquire_timeout: float, clock: Clock) -> None:
        self.size = size
        self.acquire_timeout = acquire_timeout
        self.clock = clock
        self._free = size
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self.in_flight = 0
        self._peak = 0
        self._waiting = 0
        self._total = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0

    # -- slots ----------------------------------------------------------------------------

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody is queued for it (no await, not counted)."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    def give(self) -> None:
        """Hand a slot to the first waiter still waiting, else put it back."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1

    def close(self) -> None:
        """Answer every waiter "closed"; slots given back later are simply kept."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)

    async def _take(self, loop: asyncio.AbstractEventLoop) -> bool:
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.give()  # handed over just as this waiter gave up: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    # -- one attempt ----------------------------------------------------------------------

    async def acquire(self, operation: str, loop: asyncio.AbstractEventLoop) -> None:
        """A slot for one attempt of ``operation``: ``PoolTimeout`` after ``acquire_timeout``,
        ``SessionClosed`` if the pool closes first. Pair with :meth:`release`."""
        if not self.try_take():
            await self._wait(operation, loop)
        self.in_flight += 1
        self._total += 1
        if self.in_flight > self._peak:
            self._peak = self.in_flight

    def release(self) -> None:
        self.in_flight -= 1
        self.give()

    async def _wait(self, operation: str, loop: asyncio.AbstractEventLoop) -> None:
        self._waiting += 1
        started = self.clock.now()
        try:
            async with asyncio.timeout(self.acquire_timeout):
                granted = await self._take(loop)
            if not granted:
                raise SessionClosed(
                    "the session was closed while the request waited for a slot; it was not sent",
                    operation=operation,
                )
        except TimeoutError:
            self._timeouts += 1
            raise PoolTimeout(
                f"no request slot free after {self.acquire_timeout:g}s ({self.size} in flight)",
                operation=operation,
            ) from None
        finally:
            self._waiting -= 1
            waited = self.clock.now() - started
            self._wait_total += waited
            self._wait_max = max(self._wait_max, waited)

    def stats(self) -> PoolStats:
        return PoolStats(
            max_concurrency=self.size,
            in_flight=self.in_flight,
            peak_in_flight=self._peak,
            waiting=self._waiting,
            total_requests=self._total,
            acquire_timeouts=self._timeouts,
            total_wait_seconds=self._wait_total,
            max_wait_seconds=self._wait_max,
        )
