"""Repository: plain Python items in and out of one table, every request through the session.

Repositories build wire parameters and read results. They never retry a failed request, cache or
measure by hand: the session's layers do that for every call. The one loop here is DynamoDB's own
protocol for batches (``UnprocessedKeys`` / ``UnprocessedItems`` are partial successes, not
errors), which is resent with backoff until done or until the batch deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from boto3.dynamodb.conditions import Attr, ConditionBase

from .errors import (
    BatchIncomplete,
    ConditionFailed,
    ItemAlreadyExists,
    ItemNotFound,
    ValidationError,
    VersionConflict,
)
from .expressions import (
    Increment,
    Placeholders,
    item_from_wire,
    item_to_wire,
    projection,
    update_expression,
    validate_table_name,
)
from .layers.backoff import Backoff
from .session import DynamoSession

__all__ = [
    "Page",
    "Repository",
    "TransactCheck",
    "TransactDelete",
    "TransactPut",
    "TransactUpdate",
]

Item = dict[str, Any]
MANAGED = ("created_at", "updated_at", "version")
_BATCH_GET_MAX = 100
_BATCH_WRITE_MAX = 25
_TRANSACT_MAX = 100


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query or scan; pass ``last_key`` as ``start_key`` for the next one."""

    items: list[Item]
    last_key: Item | None
    count: int
    scanned_count: int


@dataclass(frozen=True, slots=True)
class TransactPut:
    item: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactUpdate:
    key: Mapping[str, Any]
    updates: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactDelete:
    key: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactCheck:
    key: Mapping[str, Any]
    condition: ConditionBase
    table: str | None = None


TransactAction = TransactPut | TransactUpdate | TransactDelete | TransactCheck


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _all_of(*conditions: ConditionBase | None) -> ConditionBase | None:
    result: ConditionBase | None = None
    for c in conditions:
        if c is not None:
            result = c if result is None else result & c
    return result


def _key_to_wire(key: Mapping[str, Any], field: str) -> dict[str, Any]:
    """Key attributes on the wire: each a non-empty string, a number or non-empty bytes."""
    wire = item_to_wire(key, field)
    for name, value in wire.items():
        if next(iter(value)) not in ("S", "N", "B") or value in ({"S": ""}, {"B": b""}):
            raise ValidationError(
                "key attributes must be non-empty strings, numbers or bytes",
                field=f"{field}.{name}",
            )
    return wire


class Repository:
    """Items of one table. ``key_names`` is the table's primary key (partition, then sort)."""

    def __init__(
        self,
        session: DynamoSession,
        table_name: str,
        *,
        key_names: Sequence[str] = ("PK", "SK"),
        batch_deadline: float = 30.0,
        batch_backoff: Backoff | None = None,
    ) -> None:
        validate_table_name(table_name)
        if not 1 <= len(key_names) <= 2:
            raise ValidationError("a primary key has one or two attributes", field="key_names")
        self.session = session
        self.table_name = table_name
        self.key_names = tuple(key_names)
        self.batch_deadline = batch_deadline
        self.batch_backoff = batch_backoff or Backoff(base=0.05, cap=1.0)
        #: learnt from the first condition failure that carried the old item (dynalite never
        #: does): then an answer without one means "no item", with no second read
        self._returns_old_items = False
        #: the wire type (S, N, B) of each key attribute, table's and indexes', as pages showed it
        self._key_types: dict[str, str] = {}

    # -- lifecycle: a plain repository holds nothing (the session is the caller's); a cached
    # one (CachedRepository) stops its reads in flight --------------------------------------

    async def aclose(self) -> None:
        """Release what the repository holds (nothing; see :class:`CachedRepository`)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- helpers --------------------------------------------------------------------------

    def _key(self, key: Mapping[str, Any], field: str = "key") -> dict[str, Any]:
        if not isinstance(key, Mapping):
            raise ValidationError("a key must be a mapping", field=field)
        if set(key) != set(self.key_names):
            raise ValidationError(
                f"a key of {self.table_name} has exactly {list(self.key_names)}, got {list(key)}",
                field=field,
            )
        return _key_to_wire(key, field)

    def _start_key(self, start_key: object, index: str | None) -> dict[str, Any]:
        """``start_key`` as DynamoDB takes it: a page's ``last_key``, which holds the table's key
        attributes (and, for an index, the index's one or two), all of key types. Checked here,
        since a server answers a malformed one with a 500 (moto) or a misleading error."""
        if not isinstance(start_key, Mapping) or not start_key:
            raise ValidationError("start_key must be a Page.last_key", field="start_key")
        missing = [name for name in self.key_names if name not in start_key]
        if missing:
            raise ValidationError(
                f"a start key of {self.table_name} holds its key attribute {missing[0]}",
                field=f"start_key.{missing[0]}",
            )
        extra = [name for name in start_key if name not in self.key_names]
        if extra and (index is None or len(extra) > 2):
            where = "an index" if index is not None else "the table"
            raise ValidationError(
                f"{extra[-1]} is not a key attribute of {where}: pass a Page.last_key",
                field=f"start_key.{extra[-1]}",
            )
        wire = _key_to_wire(start_key, "start_key")
        for name, value in wire.items():
            known = self._key_types.get(name)
            if known is not None and known not in value:
                raise ValidationError(
                    f"{name} is a key attribute of type {known} in this table's pages",
                    field=f"start_key.{name}",
                )
        return wire

    def _key_of(self, item: Mapping[str, Any], field: str) -> dict[str, Any]:
        missing = [k for k in self.key_names if k not in item]
        if missing:
            raise ValidationError(f"item lacks key attribute(s) {missing}", field=field)
        return self._key({k: item[k] for k in self.key_names}, field)

    def _exists(self) -> ConditionBase:
        return Attr(self.key_names[0]).exists()

    async def _old_item(self, exc: ConditionFailed, key: Mapping[str, Any]) -> Item | None:
        """The item as it was when the condition failed.

        DynamoDB returns it (``ReturnValuesOnConditionCheckFailure=ALL_OLD``); servers that ignore
        that parameter (dynalite) get a strongly consistent read instead, which can only see a
        later state of the item, never an earlier one.
        """
        if exc.item is not None:
            self._returns_old_items = True
            return item_from_wire(exc.item)
        if self._returns_old_items:
            # This server answers ALL_OLD (it did before): no item in the answer means there
            # was none at the moment of the failure. A read now could see a later writer's.
            return None
        return await self.get_item(key, consistent=True)

    async def _classify_condition_failure(
        self,
        exc: ConditionFailed,
        key: Mapping[str, Any],
        *,
        expected_version: int | None,
        must_exist: bool,
    ) -> ConditionFailed | ItemNotFound:
        """Tell "no such item" from "version moved" from "your condition was false"."""
        old_item = await self._old_item(exc, key)
        common = {"operation": exc.operation, "request_id": exc.request_id}
        if old_item is None and must_exist:
            return ItemNotFound(f"no item with key {_describe_key(key)}", **common)
        if (
            old_item is not None
            and expected_version is not None
            and old_item.get("version") != expected_version
        ):
            return VersionConflict(
                f"expected version {expected_version}, found {old_item.get('version')}",
                item=old_item,
                **common,
            )
        return ConditionFailed(exc.message, item=old_item, **common)

    # -- single items ---------------------------------------------------------------------

    async def create_item(
        self,
        item: Mapping[str, Any],
        *,
        condition: ConditionBase | None = None,
        overwrite: bool = False,
    ) -> Item:
        """Store a new item with ``created_at``/``updated_at`` and ``version = 1``.

        Refuses to replace an existing item (``ItemAlreadyExists``) unless ``overwrite``, and an
        item that sets a managed attribute itself (``ValidationError``).
        """
        if not isinstance(item, Mapping):
            raise ValidationError("an item must be a mapping", field="item")
        key = {k: item.get(k) for k in self.key_names}
        self._key_of(item, "item")
        managed = [name for name in MANAGED if name in item]
        if managed:  # as update_item: the repository sets them, a caller's would be replaced
            raise ValidationError(
                f"{managed[0]} is managed by the repository", field=f"item.{managed[0]}"
            )
        now = utc_now_iso()
        stored = {**item, "created_at": now, "updated_at": now, "version": 1}
        wire_item = item_to_wire(stored, "item")
        ph = Placeholders()
        cond = _all_of(None if overwrite else Attr(self.key_names[0]).not_exists(), condition)
        params: dict[str, Any] = {"TableName": self.table_name, "Item": wire_item}
        if cond is not None:
            params["ConditionExpression"] = ph.condition(cond, "condition")
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        ph.apply(params)
        try:
            await self.session.call("PutItem", params)
        except ConditionFailed as exc:
            old = await self._old_item(exc, key)
            if not overwrite and (old is not None or condition is None):
                raise ItemAlreadyExists(
                    f"an item with key {_describe_key(key)} already exists",
                    item=old,
                    operation=exc.operation,
                    request_id=exc.request_id,
                ) from None
            raise ConditionFailed(exc.message, item=old, operation=exc.operation) from None
        return item_from_wire(wire_item)

    async def put_item(
        self, item: Mapping[str, Any], *, condition: ConditionBase | None = None
    ) -> None:
        """Write ``item`` exactly as given (no managed attributes), replacing any existing one."""
        self._key_of(item, "item")
        params: dict[str, Any] = {"TableName": self.table_name, "Item": item_to_wire(item, "item")}
        ph = Placeholders()
        if condition is not None:
            params["ConditionExpression"] = ph.condition(condition, "condition")
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        ph.apply(params)
        try:
            await self.session.call("PutItem", params, idempotent=condition is None)
        except ConditionFailed as exc:
            old = await self._old_item(exc, {k: item[k] for k in self.key_names})
            raise ConditionFailed(exc.message, item=old, operation=exc.operation) from None

    async def get_item(
        self,
        key: Mapping[str, Any],
        *,
        projection: Sequence[str] | None = None,
        consistent: bool = False,
    ) -> Item | None:
        params: dict[str, Any] = {"TableName": self.table_name, "Key": self._key(key)}
        ph = Placeholders()
        proj = _projection(ph, projection)
        if proj is not None:
            params["ProjectionExpression"] = proj
        if consistent:
            params["ConsistentRead"] = True
        ph.apply(params)
        response = await self.session.call("GetItem", params)
        item = response.get("Item")
        return item_from_wire(item) if item is not None else None

    async def update_item(
        self,
        key: Mapping[str, Any],
        updates: Mapping[str, Any],
        *,
        condition: ConditionBase | None = None,
        expected_version: int | None = None,
        create: bool = False,
    ) -> Item:
        """Apply ``updates`` (names to values, :class:`Increment`, :class:`Remove`, ...).

        Sets ``updated_at`` and increments ``version``; returns the item as stored afterwards.
        Raises ``ItemNotFound`` rather than creating an item, unless ``create``; with
        ``expected_version``, ``VersionConflict`` when another writer got there first. An empty
        ``updates`` is refused (``ValidationError``): it would change nothing but the version.
        """
        wire_key = self._key(key)
        if isinstance(updates, Mapping) and not updates:
            # nothing to change: sending it would only bump version and updated_at, and make
            # every optimistic writer of the item fail its version check for a no-op
            raise ValidationError("no attribute to update", field="updates")
        if isinstance(updates, Mapping):
            managed = [name for name in MANAGED if name in updates]
            if managed:
                raise ValidationError(
                    f"{managed[0]} is managed by the repository", field=f"updates.{managed[0]}"
                )
        if expected_version is not None and (
            isinstance(expected_version, bool) or not isinstance(expected_version, int)
        ):
            raise ValidationError("expected_version must be an int", field="expected_version")
        ph = Placeholders()
        full = (
            {**updates, "updated_at": utc_now_iso(), "version": Increment(1)}
            if isinstance(updates, Mapping)
            else updates
        )
        expression = update_expression(ph, full, forbidden=self.key_names)
        version_cond = (
            Attr("version").eq(expected_version) if expected_version is not None else None
        )
        cond = _all_of(None if create else self._exists(), version_cond, condition)
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": wire_key,
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if cond is not None:
            params["ConditionExpression"] = ph.condition(cond, "condition")
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        ph.apply(params)
        try:
            response = await self.session.call("UpdateItem", params)
        except ConditionFailed as exc:
            raise await self._classify_condition_failure(
                exc, key, expected_version=expected_version, must_exist=not create
            ) from None
        return item_from_wire(response.get("Attributes", {}))

    async def delete_item(
        self,
        key: Mapping[str, Any],
        *,
        condition: ConditionBase | None = None,
        expected_version: int | None = None,
    ) -> Item | None:
        """Delete the item; returns it as it was, or None if there was none."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(key),
            "ReturnValues": "ALL_OLD",
        }
        version_cond = (
            Attr("version").eq(expected_version) if expected_version is not None else None
        )
        cond = _all_of(version_cond, condition)
        ph = Placeholders()
        if cond is not None:
            params["ConditionExpression"] = ph.condition(cond, "condition")
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        ph.apply(params)
        try:
            response = await self.session.call("DeleteItem", params, idempotent=cond is None)
        except ConditionFailed as exc:
            raise await self._classify_condition_failure(
                exc, key, expected_version=expected_version, must_exist=False
            ) from None
        old = response.get("Attributes")
        return item_from_wire(old) if old else None

    # -- queries --------------------------------------------------------------------------

    def _read_params(
        self,
        *,
        key_condition: ConditionBase | None,
        index: str | None,
        filter: ConditionBase | None,
        projection: Sequence[str] | None,
        limit: int | None,
        start_key: Mapping[str, Any] | None,
        consistent: bool,
        descending: bool = False,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"TableName": self.table_name}
        ph = Placeholders()
        if key_condition is not None:
            params["KeyConditionExpression"] = ph.condition(
                key_condition, "key_condition", key=True
            )
        if filter is not None:
            params["FilterExpression"] = ph.condition(filter, "filter")
        proj = _projection(ph, projection)
        if proj is not None:
            params["ProjectionExpression"] = proj
        if index is not None:
            if not isinstance(index, str) or not index:
                raise ValidationError("index must be a non-empty string", field="index")
            params["IndexName"] = index
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValidationError("limit must be a positive int", field="limit")
            params["Limit"] = limit
        if start_key is not None:
            params["ExclusiveStartKey"] = self._start_key(start_key, index)
        if consistent:
            params["ConsistentRead"] = True
        if descending:
            params["ScanIndexForward"] = False
        return ph.apply(params)

    async def _page(self, operation: str, params: dict[str, Any]) -> Page:
        response = await self.session.call(operation, params)
        last = response.get("LastEvaluatedKey")
        if last:  # the key attributes, typed as the schema has them: to check a start_key
            for name, value in last.items():
                if isinstance(value, dict) and len(value) == 1:
                    self._key_types[name] = next(iter(value))
        return Page(
            items=[item_from_wire(i) for i in response.get("Items", [])],
            last_key=item_from_wire(last) if last else None,
            count=int(response.get("Count", 0)),
            scanned_count=int(response.get("ScannedCount", 0)),
        )

    async def query(
        self,
        key_condition: ConditionBase,
        *,
        index: str | None = None,
        filter: ConditionBase | None = None,
        projection: Sequence[str] | None = None,
        limit: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        consistent: bool = False,
        descending: bool = False,
    ) -> Page:
        """One page of ``Key("PK").eq(...) & Key("SK").begins_with(...)``-style queries."""
        params = self._read_params(
            key_condition=key_condition,
            index=index,
            filter=filter,
            projection=projection,
            limit=limit,
            start_key=start_key,
            consistent=consistent,
            descending=descending,
        )
        return await self._page("Query", params)

    async def query_all(
        self,
        key_condition: ConditionBase,
        *,
        index: str | None = None,
        filter: ConditionBase | None = None,
        projection: Sequence[str] | None = None,
        page_size: int | None = None,
        consistent: bool = False,
        descending: bool = False,
    ) -> AsyncIterator[Item]:
        """Every matching item, following ``LastEvaluatedKey`` page after page."""
        params = self._read_params(
            key_condition=key_condition,
            index=index,
            filter=filter,
            projection=projection,
            limit=page_size,
            start_key=None,
            consistent=consistent,
            descending=descending,
        )
        async for item in self._all("Query", params):
            yield item

    async def scan(
        self,
        *,
        filter: ConditionBase | None = None,
        projection: Sequence[str] | None = None,
        limit: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        index: str | None = None,
        consistent: bool = False,
    ) -> Page:
        params = self._read_params(
            key_condition=None,
            index=index,
            filter=filter,
            projection=projection,
            limit=limit,
            start_key=start_key,
            consistent=consistent,
        )
        return await self._page("Scan", params)

    async def scan_all(
        self,
        *,
        filter: ConditionBase | None = None,
        projection: Sequence[str] | None = None,
        page_size: int | None = None,
        index: str | None = None,
    ) -> AsyncIterator[Item]:
        params = self._read_params(
            key_condition=None,
            index=index,
            filter=filter,
            projection=projection,
            limit=page_size,
            start_key=None,
            consistent=False,
        )
        async for item in self._all("Scan", params):
            yield item

    async def _all(self, operation: str, params: dict[str, Any]) -> AsyncIterator[Item]:
        while True:
            response = await self.session.call(operation, params)
            for raw in response.get("Items", []):
                yield item_from_wire(raw)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params = {**params, "ExclusiveStartKey": last}

    # -- batches --------------------------------------------------------------------------

    async def batch_get(
        self,
        keys: Sequence[Mapping[str, Any]],
        *,
        projection: Sequence[str] | None = None,
        consistent: bool = False,
    ) -> list[Item]:
        """Items for ``keys`` (duplicates removed), in the order of the keys; missing ones skipped.

        Key attributes are always part of the result, also with a ``projection``.
        """
        if isinstance(keys, Mapping | str) or not isinstance(keys, Sequence):
            raise ValidationError("keys must be a sequence of key mappings", field="keys")
        unique: dict[str, dict[str, Any]] = {}
        for i, key in enumerate(keys):
            wire = self._key(key, f"keys[{i}]")
            unique.setdefault(_canonical(wire), wire)
        if not unique:
            return []
        ph = Placeholders()
        proj = None
        if projection is not None:
            extra = [k for k in self.key_names if k not in projection]
            proj = _projection(ph, [*projection, *extra])
        wire_keys = list(unique.values())
        chunks = [
            wire_keys[i : i + _BATCH_GET_MAX] for i in range(0, len(wire_keys), _BATCH_GET_MAX)
        ]

        async def fetch(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            request: dict[str, Any] = {"Keys": chunk}
            if proj is not None:
                request["ProjectionExpression"] = proj
                request["ExpressionAttributeNames"] = dict(ph.names)
            if consistent:
                request["ConsistentRead"] = True
            found: list[dict[str, Any]] = []

            async def send(pending: dict[str, Any]) -> dict[str, Any] | None:
                response = await self.session.call("BatchGetItem", {"RequestItems": pending})
                found.extend(response.get("Responses", {}).get(self.table_name, []))
                left = response.get("UnprocessedKeys") or {}
                return left if left.get(self.table_name, {}).get("Keys") else None

            await self._drain({self.table_name: request}, send, "UnprocessedKeys")
            return found

        results = await _gather_all([fetch(c) for c in chunks])
        by_key = {
            _canonical({k: raw[k] for k in self.key_names if k in raw}): raw
            for chunk in results
            for raw in chunk
        }
        return [item_from_wire(by_key[c]) for c in unique if c in by_key]

    async def batch_write(
        self,
        puts: Sequence[Mapping[str, Any]] = (),
        deletes: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Put whole items and delete keys, 25 per request, resending ``UnprocessedItems``.

        Every item and key is checked before the first request is sent; the same key twice in
        one call is refused (DynamoDB refuses it within a request, and across requests the
        outcome would depend on ordering).
        """
        requests: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for i, item in enumerate(puts):
            field = f"puts[{i}]"
            key = self._key_of(item, field)
            _no_duplicate(seen, _canonical(key), field)
            requests.append({"PutRequest": {"Item": item_to_wire(item, field)}})
        for i, key_map in enumerate(deletes):
            field = f"deletes[{i}]"
            key = self._key(key_map, field)
            _no_duplicate(seen, _canonical(key), field)
            requests.append({"DeleteRequest": {"Key": key}})
        chunks = [
            requests[i : i + _BATCH_WRITE_MAX] for i in range(0, len(requests), _BATCH_WRITE_MAX)
        ]

        async def write(chunk: list[dict[str, Any]]) -> None:
            async def send(pending: dict[str, Any]) -> dict[str, Any] | None:
                response = await self.session.call(
                    "BatchWriteItem", {"RequestItems": pending}, idempotent=True
                )
                left = response.get("UnprocessedItems") or {}
                return left if left.get(self.table_name) else None

            await self._drain({self.table_name: chunk}, send, "UnprocessedItems")

        await _gather_all([write(c) for c in chunks])

    async def _drain(self, pending: dict[str, Any], send: Any, what: str) -> None:
        clock = self.session.clock
        deadline = clock.now() + self.batch_deadline
        retry = 0
        left: dict[str, Any] | None = pending
        while left is not None:
            left = await send(left)
            if left is None:
                return
            delay = self.batch_backoff.delay(retry)
            retry += 1
            if clock.now() + delay > deadline:
                raise BatchIncomplete(
                    f"{what} remained after {self.batch_deadline:g}s",
                    unprocessed=[left],
                    operation="BatchGetItem" if what == "UnprocessedKeys" else "BatchWriteItem",
                )
            await clock.sleep(delay)

    # -- transactions ---------------------------------------------------------------------

    async def transact_write(
        self, actions: Sequence[TransactAction], *, token: str | None = None
    ) -> str:
        """All-or-nothing writes. Returns the idempotency token sent (``ClientRequestToken``).

        Pass the same ``token`` to repeat a transaction safely within DynamoDB's 10-minute
        idempotency window.
        """
        if not actions or len(actions) > _TRANSACT_MAX:
            raise ValidationError("a transaction has 1 to 100 actions", field="actions")
        if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 36):
            raise ValidationError("token must be 1 to 36 characters", field="token")
        items: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for i, action in enumerate(actions):
            field = f"actions[{i}]"
            table = action.table or self.table_name
            ph = Placeholders()
            body: dict[str, Any] = {"TableName": table}
            if isinstance(action, TransactPut):
                key = self._key_of(action.item, f"{field}.item")
                body["Item"] = item_to_wire(action.item, f"{field}.item")
                kind = "Put"
            elif isinstance(action, TransactUpdate):
                key = self._key(action.key, f"{field}.key")
                body["Key"] = key
                body["UpdateExpression"] = update_expression(
                    ph, action.updates, forbidden=self.key_names
                )
                kind = "Update"
            elif isinstance(action, TransactDelete):
                key = self._key(action.key, f"{field}.key")
                body["Key"] = key
                kind = "Delete"
            elif isinstance(action, TransactCheck):
                key = self._key(action.key, f"{field}.key")
                body["Key"] = key
                kind = "ConditionCheck"
            else:
                raise ValidationError(f"unknown action {type(action).__name__}", field=field)
            _no_duplicate(seen, table + "\x00" + _canonical(key), field)
            if action.condition is not None:
                body["ConditionExpression"] = ph.condition(action.condition, f"{field}.condition")
                body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            items.append({kind: ph.apply(body)})
        token = token or uuid.uuid4().hex
        await self.session.call(
            "TransactWriteItems",
            {"TransactItems": items, "ClientRequestToken": token},
            idempotent=True,
        )
        return token


def _projection(ph: Placeholders, attrs: Sequence[str] | None) -> str | None:
    return projection(ph, attrs, "projection")


def _canonical(wire: Mapping[str, Any]) -> str:
    return json.dumps(wire, sort_keys=True, default=str)


def _no_duplicate(seen: dict[str, str], canonical: str, field: str) -> None:
    if canonical in seen:
        raise ValidationError(f"the same key as {seen[canonical]}", field=field)
    seen[canonical] = field


def _describe_key(key: Mapping[str, Any]) -> str:
    # Key values may be personal data: only the attribute names are shown.
    return "{" + ", ".join(f"{k}=<redacted>" for k in key) + "}"


async def _gather_all(coros: Sequence[Any]) -> list[Any]:
    """Run ``coros`` concurrently; on the first failure cancel the rest, then raise it."""
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    return [t.result() for t in tasks]
