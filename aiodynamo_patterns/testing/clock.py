"""A clock that only moves when told to: tests of timeouts and TTLs never really sleep."""

from __future__ import annotations

import asyncio

__all__ = ["ManualClock"]


class ManualClock:
    """``now()`` returns the manual time; ``sleep(s)`` advances it by ``s`` and yields once.

    Sleeping advances time at once (so retry backoffs and batch deadlines run instantly in
    tests) and records every requested delay in ``sleeps``.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)
