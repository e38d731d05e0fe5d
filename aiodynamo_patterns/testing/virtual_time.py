"""Virtual time for whole asyncio programs: sleeps take no wall time, yet timers keep their order.

:class:`VirtualTimeLoop` is an event loop whose clock jumps to the next timer whenever nothing is
ready to run, so ``asyncio.sleep(60)`` returns at once with ``loop.time()`` 60 s later; work
between awaits takes no virtual time. :class:`LoopClock` is the library's ``Clock`` on that loop's
time. Use ``run_virtual(main())`` in a test to run a coroutine on a fresh virtual-time loop.

Real I/O still works (the selector is polled without blocking), but nothing waits for it in
virtual time: use it with in-memory fakes.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopClock", "VirtualTimeLoop", "run_virtual"]

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            return super().select(None)  # nothing scheduled: a real wait
        events = super().select(0)
        if not events and timeout > 0:
            self._loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (starting at 0)."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


class LoopClock:
    """``now()`` is the running loop's time and ``sleep`` is ``asyncio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new :class:`VirtualTimeLoop` and close the loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
