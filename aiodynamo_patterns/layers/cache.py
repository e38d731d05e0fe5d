"""ReadCache: a TTL + LRU item cache with single-flight misses and write-safe invalidation.

Entries live in a :class:`cachetools.TLRUCache` (a size bound, least recently used first among
live entries, a time-to-use per entry) whose timer is the injected clock, so tests move time by
hand. An entry is keyed by ``(table, key, projection)``: the canonical wire key and the sorted
projection (``"*"`` for the whole item). Values are wire items (DynamoDB JSON), or ``None`` for a
negative entry ("no such item") when negative caching is on.

Three guarantees:

* **Single-flight.** Concurrent misses of the same entry share ONE fetch: the first starts a task,
  the others await it through :func:`asyncio.shield`, so cancelling one waiter never cancels the
  fetch the others wait for. A failure reaches every waiter and is not cached.
* **Never stale after a write through the library.** :meth:`ReadCache.invalidate` drops every
  cached projection of a key (and its negative entries), detaches the key's in-flight fetches so
  later readers start a fresh one, and bumps the key's generation. A fetch stores its result only
  if the generation it started under is still current, so a read that was in flight when the write
  happened cannot put the older value back.
* **Honest statistics.** Expirations (TTL) and evictions (size) are counted apart, by overriding
  the cachetools hooks that remove entries (``expire`` and ``popitem``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from cachetools import TLRUCache

from .._stats import StatsRecord
from ..clock import Clock, SystemClock
from ..errors import SessionClosed, ValidationError

__all__ = ["CacheStats", "GetOutcome", "ReadCache"]

logger = logging.getLogger("aiodynamo_patterns")

WireItem = dict[str, Any]
#: (table, canonical wire key)
ItemKey = tuple[str, str]
#: (table, canonical wire key, canonical projection)
EntryKey = tuple[str, str, str]
Fetch = Callable[[], Awaitable[WireItem | None]]

WHOLE_ITEM: Final = "*"


class _Absent:
    __slots__ = ()


ABSENT: Final = _Absent()


@dataclass(frozen=True, slots=True)
class CacheStats(StatsRecord):
    derived = ("hit_rate_percent",)

    """Counters since the cache was made. Every cacheable lookup is a hit, a miss or coalesced."""

    hits: int
    misses: int
    coalesced: int
    bypassed: int
    expirations: int
    evictions: int
    invalidations: int
    stale_discarded: int
    size: int
    maxsize: int

    @property
    def lookups(self) -> int:
        return self.hits + self.misses + self.coalesced

    @property
    def hit_rate_percent(self) -> float:
        return 100.0 * self.hits / self.lookups if self.lookups else 0.0


class _Counters:
    __slots__ = (
        "bypassed",
        "coalesced",
        "evictions",
        "expirations",
        "hits",
        "invalidations",
        "misses",
        "stale_discarded",
    )

    def __init__(self) -> None:
        self.hits = self.misses = self.coalesced = self.bypassed = 0
        self.expirations = self.evictions = self.invalidations = self.stale_discarded = 0


class _Entries(TLRUCache[EntryKey, WireItem | None]):
    """TLRUCache that reports what leaves it and why (TTL versus size)."""

    def __init__(
        self,
        maxsize: int,
        ttu: Callable[[EntryKey, WireItem | None, float], float],
        timer: Callable[[], float],
        on_removed: Callable[[EntryKey], None],
        counters: _Counters,
    ) -> None:
        super().__init__(maxsize, ttu, timer)
        self._on_removed = on_removed
        self._counters = counters

    def expire(self, time: float | None = None) -> list[tuple[EntryKey, WireItem | None]]:
        expired = list(super().expire(time))
        for key, _ in expired:
            self._counters.expirations += 1
            self._on_removed(key)
        return expired

    def popitem(self) -> tuple[EntryKey, WireItem | None]:
        # cachetools calls popitem only to make room; it expires dead entries first (counted
        # above), so what it returns is a live entry evicted for size.
        key, value = super().popitem()
        self._counters.evictions += 1
        self._on_removed(key)
        return key, value


@dataclass(slots=True)
class _KeyState:
    """Per-key bookkeeping while reads of the key are running; dropped when none is."""

    generation: int = 0
    reads: int = 0
    flights: dict[str, asyncio.Task[WireItem | None]] = field(default_factory=dict)


class ReadCache:
    """The cache behind :class:`CachedRepository`; one may be shared by several repositories.

    ``ttl`` seconds for an item, ``negative_ttl`` for "no such item" (``None``: misses are not
    cached), ``maxsize`` entries in all, ``jitter`` a fraction (0 to 0.5) by which each entry's TTL
    is shortened at random so entries filled together do not expire together.
    """

    def __init__(
        self,
        *,
        ttl: float = 60.0,
        maxsize: int = 10_000,
        negative_ttl: float | None = None,
        jitter: float = 0.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValidationError("must be a positive number of seconds", field="ttl")
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValidationError("must be a positive int", field="maxsize")
        if negative_ttl is not None and (
            isinstance(negative_ttl, bool)
            or not isinstance(negative_ttl, int | float)
            or not negative_ttl > 0
        ):
            raise ValidationError("must be None or a positive number", field="negative_ttl")
        if (
            isinstance(jitter, bool)
            or not isinstance(jitter, int | float)
            or not 0 <= jitter <= 0.5
        ):
            raise ValidationError("must be between 0 and 0.5", field="jitter")
        self.ttl = float(ttl)
        self.negative_ttl = None if negative_ttl is None else float(negative_ttl)
        self.maxsize = maxsize
        self.jitter = float(jitter)
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._counters = _Counters()
        self._entries = _Entries(maxsize, self._ttu, self.clock.now, self._forget, self._counters)
        # cached projections of each key, so an invalidation finds all of them
        self._index: dict[ItemKey, set[str]] = {}
        self._keys: dict[ItemKey, _KeyState] = {}
        self._tasks: set[asyncio.Task[WireItem | None]] = set()
        self._closed = False

    # -- cachetools hooks -----------------------------------------------------------------

    def _ttu(self, key: EntryKey, value: WireItem | None, now: float) -> float:
        ttl = self.ttl if value is not None else (self.negative_ttl or self.ttl)
        if self.jitter:
            ttl *= 1.0 - self.jitter * self._rng.random()
        return now + ttl

    def _forget(self, key: EntryKey) -> None:
        item_key = (key[0], key[1])
        projections = self._index.get(item_key)
        if projections is not None:
            projections.discard(key[2])
            if not projections:
                del self._index[item_key]

    # -- reads ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def lookup(self, table: str, key: str, projection: str) -> WireItem | _Absent | None:
        """The cached value (a wire item, or ``None`` for a negative entry) or ``ABSENT``.

        Counts a hit when found; a caller that then fetches counts the miss itself.
        """
        value = self._entries.get((table, key, projection), ABSENT)
        if value is not ABSENT:
            self._counters.hits += 1
        return value

    async def get(self, table: str, key: str, projection: str, fetch: Fetch) -> GetOutcome:
        """The entry, from the cache, from a fetch already in flight, or from ``fetch()``.

        ``fetch`` is called at most once per flight, in a task of the cache's own: cancelling
        this caller does not cancel it (other callers may be waiting for it).
        """
        value = self.lookup(table, key, projection)
        if value is not ABSENT:
            assert not isinstance(value, _Absent)
            return GetOutcome(value, "hit")
        if self._closed:
            self._counters.bypassed += 1
            return GetOutcome(await fetch(), "bypassed")
        item_key = (table, key)
        state = self._keys.get(item_key)
        flight = state.flights.get(projection) if state is not None else None
        if flight is not None:
            self._counters.coalesced += 1
            outcome = "coalesced"
        else:
            self._counters.misses += 1
            self._entries.expire()  # count what expired now, not at some later insertion
            flight = self._start(item_key, projection, fetch)
            outcome = "miss"
        return GetOutcome(await self.join(flight), outcome)

    async def join(self, flight: asyncio.Task[WireItem | None]) -> WireItem | None:
        """Wait for a fetch in flight without being able to cancel it for the others.

        A fetch stopped by :meth:`aclose` reaches its waiters as ``SessionClosed``; a waiter
        that is itself cancelled gets its ``CancelledError``.
        """
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.cancelled() and task is not None and not task.cancelling():
                # The fetch was cancelled by aclose(), not this caller.
                raise SessionClosed("the read cache was closed during the read") from None
            raise

    def _start(
        self, item_key: ItemKey, projection: str, fetch: Fetch
    ) -> asyncio.Task[WireItem | None]:
        state, generation = self.begin_read(item_key)
        task = asyncio.get_running_loop().create_task(
            self._fill(item_key, projection, state, generation, fetch)
        )
        state.flights[projection] = task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[WireItem | None]) -> None:
        self._tasks.discard(task)
        # Mark a failure as retrieved even if every waiter was cancelled; each waiter that is
        # still there gets it through its shield.
        if not task.cancelled():
            task.exception()

    async def _fill(
        self, item_key: ItemKey, projection: str, state: _KeyState, generation: int, fetch: Fetch
    ) -> WireItem | None:
        try:
            value = await fetch()
            self.store(item_key, projection, value, state, generation)
            return value
        finally:
            if state.flights.get(projection) is asyncio.current_task():
                del state.flights[projection]
            self.end_read(item_key, state)

    # -- the generation guard (also used by batch reads, which fetch without a flight) -----

    def begin_read(self, item_key: ItemKey) -> tuple[_KeyState, int]:
        """Register a read of ``item_key`` about to be sent; returns its state and generation."""
        state = self._keys.get(item_key)
        if state is None:
            state = self._keys[item_key] = _KeyState()
        state.reads += 1
        return state, state.generation

    def end_read(self, item_key: ItemKey, state: _KeyState) -> None:
        state.reads -= 1
        if state.reads == 0 and self._keys.get(item_key) is state:
            del self._keys[item_key]

    def store(
        self,
        item_key: ItemKey,
        projection: str,
        value: WireItem | None,
        state: _KeyState,
        generation: int,
    ) -> bool:
        """Cache what a read returned, unless a write invalidated the key since it started."""
        if state.generation != generation:
            self._counters.stale_discarded += 1
            return False
        if value is None and self.negative_ttl is None:
            return False
        if self._closed:
            return False
        self._entries[(item_key[0], item_key[1], projection)] = value
        self._index.setdefault(item_key, set()).add(projection)
        return True

    def count_miss(self, n: int = 1) -> None:
        self._counters.misses += n

    def count_coalesced(self, n: int = 1) -> None:
        self._counters.coalesced += n

    def count_bypassed(self, n: int = 1) -> None:
        self._counters.bypassed += n

    def flight(self, table: str, key: str, projection: str) -> asyncio.Task[WireItem | None] | None:
        state = self._keys.get((table, key))
        return state.flights.get(projection) if state is not None else None

    # -- writes ---------------------------------------------------------------------------

    def invalidate(self, table: str, key: str) -> int:
        """Forget every projection of ``key`` (negative entries too) and outdate reads in flight.

        Returns the number of cached entries dropped.
        """
        item_key = (table, key)
        state = self._keys.get(item_key)
        if state is not None:
            state.generation += 1
            # Readers arriving from now on must not join a read sent before the write.
            state.flights.clear()
        dropped = 0
        for projection in self._index.pop(item_key, ()):
            if self._entries.pop((table, key, projection), ABSENT) is not ABSENT:
                dropped += 1
        self._counters.invalidations += dropped
        return dropped

    def invalidate_many(self, keys: Iterable[ItemKey]) -> int:
        return sum(self.invalidate(table, key) for table, key in keys)

    def clear(self) -> None:
        """Drop every entry and outdate every read in flight."""
        for state in self._keys.values():
            state.generation += 1
            state.flights.clear()
        self._counters.invalidations += len(self._entries)
        self._entries.clear()
        self._index.clear()

    # -- lifecycle and figures ------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel the fetches still in flight and wait for them; later reads bypass the cache."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._entries.clear()
        self._index.clear()

    def stats(self) -> CacheStats:
        self._entries.expire()
        c = self._counters
        return CacheStats(
            hits=c.hits,
            misses=c.misses,
            coalesced=c.coalesced,
            bypassed=c.bypassed,
            expirations=c.expirations,
            evictions=c.evictions,
            invalidations=c.invalidations,
            stale_discarded=c.stale_discarded,
            size=len(self._entries),
            maxsize=self.maxsize,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<ReadCache ttl={self.ttl:g}s maxsize={self.maxsize} size={len(self._entries)}>"


@dataclass(frozen=True, slots=True)
class GetOutcome:
    value: WireItem | None
    #: "hit", "miss", "coalesced" or "bypassed"
    source: str
