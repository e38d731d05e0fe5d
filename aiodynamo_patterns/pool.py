"""The session's request slots: an ``asyncio.Semaphore`` of ``max_concurrency``, closable.

One slot is held per attempt, from just before the request is sent until its answer (or failure)
is back; never across a backoff sleep. The semaphore is the "connection pool": the aiohttp
connector behind the client has the same size, so no request waits in a hidden second pool. It is
only ever awaited on the session's own loop (``DynamoSession.call`` refuses a call from another
loop before it gets here), so a mistaken caller cannot bind it to the wrong loop. Closing wakes
the queue: each waiter in turn finds the pool closed, passes the wake-up on and raises
``SessionClosed``; a request still queued when the session closes is never sent.
"""

from __future__ import annotations

import asyncio
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
    """``size`` request slots (one ``asyncio.Semaphore``) with the statistics
    ``DynamoSession.stats()`` reports."""

    __slots__ = (
        "_closed",
        "_peak",
        "_semaphore",
        "_timeouts",
        "_total",
        "_wait_max",
        "_wait_total",
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
        self._semaphore = asyncio.Semaphore(size)
        self._closed = False
        self.in_flight = 0
        self._peak = 0
        self._waiting = 0
        self._total = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0

    # -- one attempt ----------------------------------------------------------------------

    async def acquire(self, operation: str) -> None:
        """A slot for one attempt of ``operation``: ``PoolTimeout`` after ``acquire_timeout``,
        ``SessionClosed`` if the pool is or becomes closed first. Pair with :meth:`release`."""
        await self.occupy(operation)
        self.in_flight += 1
        self._total += 1
        if self.in_flight > self._peak:
            self._peak = self.in_flight

    def release(self) -> None:
        self.in_flight -= 1
        self._semaphore.release()

    async def occupy(self, operation: str = "-") -> None:
        """Take a slot without counting a request (tests hold slots this way, as stuck
        requests would); :meth:`vacate` gives it back."""
        self._refuse_if_closed(operation)
        if self._semaphore.locked():
            await self._wait(operation)
        else:
            await self._semaphore.acquire()  # free: returns without suspending
        if self._closed:
            self._semaphore.release()  # closed while this one waited: wake the next waiter
            self._refuse_if_closed(operation)

    def vacate(self) -> None:
        self._semaphore.release()

    def close(self) -> None:
        """Refuse every later acquire and wake the queue (each waiter raises SessionClosed and
        passes the wake-up on); slots given back later are simply kept."""
        if not self._closed:
            self._closed = True
            self._semaphore.release()

    def _refuse_if_closed(self, operation: str) -> None:
        if self._closed:
            raise SessionClosed(
                "the session was closed while the request waited for a slot; it was not sent",
                operation=operation,
            )

    async def _wait(self, operation: str) -> None:
        self._waiting += 1
        started = self.clock.now()
        try:
            async with asyncio.timeout(self.acquire_timeout):
                await self._semaphore.acquire()
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
