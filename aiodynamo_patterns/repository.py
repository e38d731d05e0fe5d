"""Repository: plain Python items in and out of one table, every request through the session.

Repositories build wire parameters and read results. They never retry a failed request, cache or
measure by hand: the session's layers do that for every call. The one loop here is DynamoDB's own
protocol for batches (``UnprocessedKeys`` / ``UnprocessedItems`` are partial successes, not
errors), which is resent with backoff until done or until the batch deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from boto3.dynamodb.conditions import Attr, ConditionBase

from ._creates import send_create
from .batches import Batches
from .errors import (
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
    update_expression,
    validate_table_name,
)
from .expressions import projection as projection_expression
from .keys import canonical, describe_key, key_to_wire, no_duplicate
from .layers.backoff import Backoff
from .queries import Page, Read, Reader
from .session import DynamoSession
from .transactions import (
    TransactAction,
    TransactCheck,
    TransactDelete,
    TransactPut,
    TransactUpdate,
    transact_request,
)

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


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _all_of(*conditions: ConditionBase | None) -> ConditionBase | None:
    result: ConditionBase | None = None
    for c in conditions:
        if c is not None:
            result = c if result is None else result & c
    return result


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
        self._reader = Reader(self.table_name, self.key_names)

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
        return key_to_wire(key, field)

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
        that parameter (dynalite) get a strongly consistent read, which can only see a later state.
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
            return ItemNotFound(f"no item with key {describe_key(key)}", **common)
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
        written = item_from_wire(wire_item)
        try:  # an answer lost in transit is resolved by reading the key back
            await send_create(self, params, written, key)
        except ConditionFailed as exc:
            old = await self._old_item(exc, key)
            if not overwrite and (old is not None or condition is None):
                raise ItemAlreadyExists(
                    f"an item with key {describe_key(key)} already exists",
                    item=old,
                    operation=exc.operation,
                    request_id=exc.request_id,
                ) from None
            raise ConditionFailed(exc.message, item=old, operation=exc.operation) from None
        return written

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
        proj = projection_expression(ph, projection, "projection")
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

    # -- queries: the options of each are one Read, made into parameters by the Reader -------

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
        return await self._reader.page(
            self.session,
            Read(
                key_condition, index, filter, projection, limit, start_key, consistent, descending
            ),
        )

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
        read = Read(
            key_condition, index, filter, projection, page_size, None, consistent, descending
        )
        async for item in self._reader.all(self.session, read):
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
        """One page of the table (or ``index``), filtered after reading."""
        return await self._reader.page(
            self.session, Read(None, index, filter, projection, limit, start_key, consistent)
        )

    async def scan_all(
        self,
        *,
        filter: ConditionBase | None = None,
        projection: Sequence[str] | None = None,
        page_size: int | None = None,
        index: str | None = None,
    ) -> AsyncIterator[Item]:
        """Every item of the table (or ``index``), page after page."""
        async for item in self._reader.all(
            self.session, Read(None, index, filter, projection, page_size)
        ):
            yield item

    # -- batches and transactions -----------------------------------------------------------

    def _batches(self) -> Batches:
        return Batches(self.session, self.table_name, self.batch_deadline, self.batch_backoff)

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
            unique.setdefault(canonical(wire), wire)
        if not unique:
            return []
        options: dict[str, Any] = {}
        if projection is not None:
            ph = Placeholders()
            extra = [k for k in self.key_names if k not in projection]
            options["ProjectionExpression"] = projection_expression(
                ph, [*projection, *extra], "projection"
            )
            options["ExpressionAttributeNames"] = dict(ph.names)
        if consistent:
            options["ConsistentRead"] = True
        found = await self._batches().get(list(unique.values()), options)
        by_key = {canonical({k: raw[k] for k in self.key_names if k in raw}): raw for raw in found}
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
            no_duplicate(seen, canonical(self._key_of(item, field)), field)
            requests.append({"PutRequest": {"Item": item_to_wire(item, field)}})
        for i, key_map in enumerate(deletes):
            field = f"deletes[{i}]"
            key = self._key(key_map, field)
            no_duplicate(seen, canonical(key), field)
            requests.append({"DeleteRequest": {"Key": key}})
        await self._batches().write(requests)

    async def transact_write(
        self, actions: Sequence[TransactAction], *, token: str | None = None
    ) -> str:
        """All-or-nothing writes. Returns the idempotency token sent (``ClientRequestToken``).

        Pass the same ``token`` to repeat a transaction safely within DynamoDB's 10-minute
        idempotency window.
        """
        params = transact_request(
            actions,
            token,
            table=self.table_name,
            key=self._key,
            key_of=self._key_of,
            key_names=self.key_names,
        )
        await self.session.call("TransactWriteItems", params, idempotent=True)
        return str(params["ClientRequestToken"])
