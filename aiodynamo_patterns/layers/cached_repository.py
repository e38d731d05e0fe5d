"""CachedRepository: any Repository, with its reads served from a :class:`ReadCache`.

Composition at the session's choke point: the wrapper keeps a shallow copy of the repository whose
``session`` is a caching view of the real one. Every method of the wrapped repository (its own
and any a subclass adds, e.g. ``ProductRepository.update_product_stock``) therefore runs unchanged,
and the view sees each of its requests on the wire:

* ``GetItem`` (eventually consistent) is answered from the cache, or by one shared fetch.
* ``BatchGetItem`` serves the keys it has and sends only the misses (joining single reads that
  are already in flight for the same entry).
* Every write (``PutItem``, ``UpdateItem``, ``DeleteItem``, ``BatchWriteItem``,
  ``TransactWriteItems``) invalidates every key it touches once it has returned or failed (a
  failed write may still have been applied); any other operation that is not a read clears the
  whole cache, to be safe.
* ``ConsistentRead`` requests bypass the cache.

Writes sent through the same session by other repositories invalidate too: the first
CachedRepository on a session installs one :class:`CacheInvalidationLayer` there, which every
cached repository of that session registers with (weakly). Writes from other sessions or
processes are seen once the TTL has passed.

Misses are filled with strongly consistent reads by default (``consistent_fill=True``): with an
eventually consistent fill, DynamoDB may answer a read sent just after a write with the value from
before it, and the cache would then keep that for a whole TTL.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

from ..clock import Clock
from ..errors import ValidationError
from ..keys import canonical
from ..pipeline import WRITE_OPERATIONS, Call, Request, Result, is_read, observe_lookup
from ..repository import Repository
from .cache import WHOLE_ITEM, CacheStats, ItemKey, ReadCache, WireItem

if TYPE_CHECKING:
    from ..session import DynamoSession

__all__ = ["CacheInvalidationLayer", "CacheMetrics", "CachedRepository"]

logger = logging.getLogger("aiodynamo_patterns")


_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")


class CacheMetrics(Protocol):
    """What a metrics collector offers to record cache lookups as their own series."""

    def record_cache(self, table: str, hit: bool, latency_s: float) -> None: ...


def canonical_projection(expression: str | None, names: Mapping[str, str] | None) -> str:
    """The projection of a request as a cache-key part: placeholders resolved, paths sorted."""
    if not expression:
        return WHOLE_ITEM
    names = names or {}

    def resolve(match: re.Match[str]) -> str:
        name = names.get(match.group(0))
        # Quoted, so that an attribute named "a.b" differs from the path a -> b.
        return '"' + name.replace('"', '\\"') + '"' if name is not None else match.group(0)

    paths = {_PLACEHOLDER.sub(resolve, path.strip()) for path in expression.split(",")}
    return ",".join(sorted(paths))


def written_keys(
    operation: str, params: Mapping[str, Any], key_names: Sequence[str]
) -> list[ItemKey]:
    """``(table, canonical key)`` of every item a write request may change."""

    def key_of(item: Mapping[str, Any]) -> str:
        return canonical({k: item[k] for k in key_names if k in item})

    keys: list[ItemKey] = []
    if operation == "PutItem":
        keys.append((params["TableName"], key_of(params["Item"])))
    elif operation in ("UpdateItem", "DeleteItem"):
        keys.append((params["TableName"], canonical(params["Key"])))
    elif operation == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    keys.append((table, key_of(request["PutRequest"]["Item"])))
                elif "DeleteRequest" in request:
                    keys.append((table, canonical(request["DeleteRequest"]["Key"])))
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems", []):
            for kind, body in entry.items():
                if kind == "Put":
                    keys.append((body["TableName"], key_of(body["Item"])))
                elif kind in ("Update", "Delete"):
                    keys.append((body["TableName"], canonical(body["Key"])))
    return keys


class CacheInvalidationLayer:
    """Session layer: a write sent through the session by ANY repository invalidates the caches.

    A :class:`CachedRepository` installs one on its session (once per session, shared by every
    cached repository on it, which it holds weakly), so a write made through a plain repository
    on the same session does not leave a cached repository serving the old value.
    """

    def __init__(self) -> None:
        self._views: weakref.WeakSet[_CachingSession] = weakref.WeakSet()

    @classmethod
    def install(cls, session: DynamoSession) -> CacheInvalidationLayer:
        for layer in session.layers:
            if isinstance(layer, cls):
                return layer
        layer = cls()
        session.add_layer(layer)
        return layer

    def register(self, view: _CachingSession) -> None:
        self._views.add(view)

    async def __call__(self, request: Request, call_next: Call) -> Result:
        if is_read(request.operation) or not self._views:
            return await call_next(request)
        try:
            return await call_next(request)
        finally:
            for view in list(self._views):
                view.after_write(request.operation, request.params)


class _CachingSession:
    """The real session, except that reads of the cached table go through the cache."""

    def __init__(
        self,
        session: DynamoSession,
        cache: ReadCache,
        table: str,
        key_names: Sequence[str],
        metrics: CacheMetrics | None,
        consistent_fill: bool,
    ) -> None:
        self._session = session
        self._cache = cache
        self._table = table
        self._key_names = tuple(key_names)
        self._metrics = metrics
        self._consistent_fill = consistent_fill

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def call(
        self, operation: str, params: dict[str, Any], *, idempotent: bool | None = None
    ) -> Result:
        # before the cache: a flight started on another loop would poison every reader
        self._session.check_loop(operation)
        if operation == "GetItem" and params.get("TableName") == self._table:
            return await self._get_item(params)
        if operation == "BatchGetItem":
            tables = params.get("RequestItems", {})
            if list(tables) == [self._table]:
                return await self._batch_get(params)
        # A write is invalidated once, by the session's CacheInvalidationLayer (installed with
        # this view), when it returns or fails, whichever repository sent it.
        return await self._session.call(operation, params, idempotent=idempotent)

    def after_write(self, operation: str, params: Mapping[str, Any]) -> None:
        """Invalidate what a write (sent, failed or cancelled) may have changed."""
        if operation in WRITE_OPERATIONS:
            try:
                keys = written_keys(operation, params, self._key_names)
            except (KeyError, TypeError, AttributeError):
                pass  # a shape we cannot read: forget everything instead
            else:
                self._cache.invalidate_many(keys)
                return
        logger.debug("read cache cleared after %s", operation)
        self._cache.clear()

    # -- metrics hook ---------------------------------------------------------------------

    def _recorder(self) -> Callable[[str, bool, float], None] | None:
        metrics = self._metrics or getattr(self._session, "metrics", None)
        record = getattr(metrics, "record_cache", None)
        return record if callable(record) else None

    def _record(
        self,
        record: Callable[[str, bool, float], None] | None,
        hit: bool,
        started: float,
        n: int = 1,
    ) -> None:
        if record is None:
            return
        latency = self._session.clock.now() - started
        try:
            for _ in range(n):
                record(self._table, hit, latency)
        except Exception:  # an observer must not break reads
            logger.exception("metrics.record_cache failed")

    # -- reads ----------------------------------------------------------------------------

    async def _get_item(self, params: dict[str, Any]) -> Result:
        if params.get("ConsistentRead"):
            self._cache.count_bypassed()
            return await self._session.call("GetItem", params)
        record = self._recorder()
        started = self._session.clock.now() if record is not None else 0.0
        key = canonical(params["Key"])
        projection = canonical_projection(
            params.get("ProjectionExpression"), params.get("ExpressionAttributeNames")
        )
        fill = {**params, "ConsistentRead": True} if self._consistent_fill else params

        async def fetch() -> WireItem | None:
            response = await self._session.call("GetItem", fill)
            item: WireItem | None = response.get("Item")
            return item

        with observe_lookup(self._session.layers, "GetItem", self._table) as note:
            outcome = await self._cache.get(self._table, key, projection, fetch)
            note(outcome.source)
        self._record(record, outcome.source == "hit", started)
        # The repository only reads the wire item (item_from_wire builds new objects), so the
        # cached dict is handed out as it is.
        return {"Item": outcome.value} if outcome.value is not None else {}

    async def _batch_get(self, params: dict[str, Any]) -> Result:
        with observe_lookup(self._session.layers, "BatchGetItem", self._table) as note:
            return await self._batch_lookup(params, note)

    async def _batch_lookup(self, params: dict[str, Any], note: Callable[[str], None]) -> Result:
        table = self._table
        request: dict[str, Any] = params["RequestItems"][table]
        if request.get("ConsistentRead"):
            self._cache.count_bypassed(len(request.get("Keys", [])))
            note("bypassed")
            return await self._session.call("BatchGetItem", params)
        record = self._recorder()
        started = self._session.clock.now() if record is not None else 0.0
        projection = canonical_projection(
            request.get("ProjectionExpression"), request.get("ExpressionAttributeNames")
        )
        found: list[WireItem] = []
        joined = []
        missing: dict[str, dict[str, Any]] = {}
        for wire_key in request["Keys"]:
            key = canonical(wire_key)
            value = self._cache.lookup(table, key, projection)
            if isinstance(value, dict):
                found.append(value)
            elif value is None:
                pass  # a negative entry: known not to exist
            elif (flight := self._cache.flight(table, key, projection)) is not None:
                self._cache.count_coalesced()
                joined.append(flight)
            else:
                missing[key] = wire_key
        hits = len(request["Keys"]) - len(joined) - len(missing)
        note("miss" if missing else "coalesced" if joined else "hit")
        if hits:
            self._record(record, True, started, hits)
        unprocessed: dict[str, Any] = {}
        if missing:
            self._cache.count_miss(len(missing))
            unprocessed = await self._fetch_batch(request, missing, found)
        for flight in joined:
            item = await self._cache.join(flight)
            if item is not None:
                found.append(item)
        if missing or joined:
            self._record(record, False, started, len(missing) + len(joined))
        response: Result = {"Responses": {table: found}}
        if unprocessed:
            response["UnprocessedKeys"] = unprocessed
        return response

    async def _fetch_batch(
        self,
        request: dict[str, Any],
        missing: dict[str, dict[str, Any]],
        found: list[WireItem],
    ) -> dict[str, Any]:
        table, cache = self._table, self._cache
        projection = canonical_projection(
            request.get("ProjectionExpression"), request.get("ExpressionAttributeNames")
        )
        reads = {key: cache.begin_read((table, key)) for key in missing}
        try:
            send = {**request, "Keys": list(missing.values())}
            if self._consistent_fill:
                send["ConsistentRead"] = True
            response = await self._session.call("BatchGetItem", {"RequestItems": {table: send}})
            items: list[WireItem] = response.get("Responses", {}).get(table, [])
            unprocessed: dict[str, Any] = response.get("UnprocessedKeys") or {}
            left = {
                canonical(k) for k in unprocessed.get(table, {}).get("Keys", [])
            }  # not answered: neither found nor known to be absent
            returned = set()
            for item in items:
                key = canonical({k: item[k] for k in self._key_names if k in item})
                returned.add(key)
                if key in reads:
                    state, generation = reads[key]
                    cache.store((table, key), projection, item, state, generation)
                found.append(item)
            for key, (state, generation) in reads.items():
                if key not in returned and key not in left:
                    cache.store((table, key), projection, None, state, generation)
            if unprocessed.get(table):
                # Hand the original request shape back so the repository resends it as is.
                return {table: {**request, "Keys": unprocessed[table]["Keys"]}}
            return {}
        finally:
            for key, (state, _) in reads.items():
                cache.end_read((table, key), state)


R = TypeVar("R", bound=Repository)

_CACHED_TYPES: dict[type[Repository], type[Repository]] = {}


def _already_initialised(self: object, *args: object, **kwargs: object) -> None:
    """The ``__init__`` of a ``Cached<cls>`` type: :meth:`CachedRepository.__new__` did it."""


def _cached_type(cls: type[Repository]) -> type[Repository]:
    """``Cached<cls>``: a subclass of both :class:`CachedRepository` and ``cls`` (made once)."""
    made = _CACHED_TYPES.get(cls)
    if made is None:
        made = _CACHED_TYPES[cls] = type(
            f"Cached{cls.__name__}",
            (CachedRepository, cls),
            # CachedRepository.__new__ sets the copy up; the wrapped class's __init__ must not
            # run again on it with CachedRepository's arguments
            {"__module__": cls.__module__, "__init__": _already_initialised},
        )
    return made


class CachedRepository:
    """The repository it wraps, with reads served from a TTL + LRU cache.

    ``CachedRepository(products, ttl=30, maxsize=50_000)`` returns a copy of ``products`` whose
    session is a caching view of the real one: an instance of ``products``' own class (mypy sees
    a ``ProductRepository``, every method of it and of any subclass runs unchanged, nothing is
    forwarded or re-declared) and of this class, which adds the cache controls below. Writes go
    to DynamoDB and invalidate every cached projection of the keys they touch; reads go through
    the cache. ``negative_ttl`` also caches "no such item" (for a shorter time); ``jitter``
    shortens each TTL by up to that fraction at random; ``cache`` shares one :class:`ReadCache`
    between repositories (the other settings are then the cache's own). ``metrics`` (or else
    ``session.metrics``) receives ``record_cache(table, hit, latency_s)`` for every lookup.

    The controls (:meth:`stats`, :meth:`invalidate`, :attr:`cache`, :attr:`repository`) are
    there at run time; with mypy, reach them through ``CachedRepository.of(cached)``.
    """

    #: the repository that was wrapped (its session is the real one)
    repository: Repository
    #: the cache the reads go through
    cache: ReadCache
    _owns_cache: bool

    def __new__(  # type: ignore[misc]  # returns the wrapped type, on purpose: see the docstring
        cls,
        repository: R,
        *,
        ttl: float = 60.0,
        maxsize: int = 10_000,
        negative_ttl: float | None = None,
        jitter: float = 0.0,
        consistent_fill: bool = True,
        clock: Clock | None = None,
        cache: ReadCache | None = None,
        metrics: CacheMetrics | None = None,
    ) -> R:
        if not isinstance(repository, Repository):
            raise ValidationError("must be a Repository", field="repository")
        if isinstance(repository, CachedRepository):
            raise ValidationError("is cached already", field="repository")
        made = cast(CachedRepository, object.__new__(_cached_type(type(repository))))
        made.__dict__.update(vars(repository))
        made._attach(
            repository,
            ReadCache(
                ttl=ttl,
                maxsize=maxsize,
                negative_ttl=negative_ttl,
                jitter=jitter,
                clock=clock or repository.session.clock,
            )
            if cache is None
            else cache,
            owns_cache=cache is None,
            metrics=metrics,
            consistent_fill=consistent_fill,
        )
        return cast(R, made)

    def _attach(
        self,
        repository: Repository,
        cache: ReadCache,
        *,
        owns_cache: bool,
        metrics: CacheMetrics | None,
        consistent_fill: bool,
    ) -> None:
        self.repository = repository
        self._owns_cache = owns_cache
        session = repository.session
        self.cache = cache
        view = _CachingSession(
            session,
            self.cache,
            repository.table_name,
            repository.key_names,
            metrics,
            consistent_fill,
        )
        CacheInvalidationLayer.install(session).register(view)
        # Duck-typed: the view forwards everything it does not intercept to the real session.
        cast(Repository, self).session = cast("DynamoSession", view)

    @staticmethod
    def of(repository: Repository) -> CachedRepository:
        """``repository`` typed as the cached repository it is (for its cache controls)."""
        if not isinstance(repository, CachedRepository):
            raise ValidationError("is not a CachedRepository", field="repository")
        return repository

    def invalidate(self, keys: Iterable[Mapping[str, Any]]) -> int:
        """Drop the cached entries of ``keys`` by hand (after a write made elsewhere)."""
        inner = self.repository
        return self.cache.invalidate_many(
            (inner.table_name, canonical(inner._key(k))) for k in keys
        )

    def stats(self) -> CacheStats:
        return self.cache.stats()

    async def aclose(self) -> None:
        """Stop the reads still in flight (their waiters get ``SessionClosed``)."""
        if self._owns_cache:
            await self.cache.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        inner = self.repository
        return f"<CachedRepository {type(inner).__name__} {inner.table_name} {self.cache!r}>"
