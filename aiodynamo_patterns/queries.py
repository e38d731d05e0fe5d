"""Queries and scans: one page (``Page``) or every item, following ``LastEvaluatedKey``.

A read's options (the keyword arguments of ``Repository.query`` / ``scan`` / ``query_all`` /
``scan_all``) are one object, ``Read``, turned into parameters in one place. A ``start_key`` is
checked before sending: DynamoDB takes only a page's ``last_key`` back (the table's key attributes
and, for an index, the index's one or two), and servers answer a made-up one with a 500 (moto) or
an error after the request was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import ConditionBase

from .errors import ValidationError
from .expressions import Placeholders, item_from_wire, projection
from .keys import key_to_wire

if TYPE_CHECKING:
    from .session import DynamoSession

__all__ = ["Page", "Read", "Reader"]

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query or scan; pass ``last_key`` as ``start_key`` for the next one."""

    items: list[Item]
    last_key: Item | None
    count: int
    scanned_count: int


@dataclass(frozen=True, slots=True)
class Read:
    """What one Query (with a ``key_condition``) or Scan (without) asks for."""

    key_condition: ConditionBase | None = None
    index: str | None = None
    filter: ConditionBase | None = None
    projection: Sequence[str] | None = None
    limit: int | None = None
    start_key: Mapping[str, Any] | None = None
    consistent: bool = False
    descending: bool = False

    @property
    def operation(self) -> str:
        return "Scan" if self.key_condition is None else "Query"


class Reader:
    """Reads of one table, sent through the session given (a repository's own, which a cache
    may have replaced); it remembers the key attributes' types its pages showed."""

    def __init__(self, table: str, key_names: Sequence[str]) -> None:
        self.table = table
        self.key_names = tuple(key_names)
        #: the wire type (S, N, B) of each key attribute, table's and indexes', as pages showed
        self.key_types: dict[str, str] = {}

    def params(self, read: Read) -> dict[str, Any]:
        params: dict[str, Any] = {"TableName": self.table}
        ph = Placeholders()
        if read.key_condition is not None:
            params["KeyConditionExpression"] = ph.condition(
                read.key_condition, "key_condition", key=True
            )
        if read.filter is not None:
            params["FilterExpression"] = ph.condition(read.filter, "filter")
        proj = projection(ph, read.projection, "projection")
        if proj is not None:
            params["ProjectionExpression"] = proj
        if read.index is not None:
            if not isinstance(read.index, str) or not read.index:
                raise ValidationError("index must be a non-empty string", field="index")
            params["IndexName"] = read.index
        if read.limit is not None:
            limit = read.limit
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValidationError("limit must be a positive int", field="limit")
            params["Limit"] = limit
        if read.start_key is not None:
            params["ExclusiveStartKey"] = self.start_key(read.start_key, read.index)
        if read.consistent:
            params["ConsistentRead"] = True
        if read.descending:
            params["ScanIndexForward"] = False
        return ph.apply(params)

    def start_key(self, start_key: object, index: str | None) -> dict[str, Any]:
        """``start_key`` as DynamoDB takes it: a page's ``last_key``, all of key types, each of
        the type this table's pages showed for it (a tampered cursor is refused here)."""
        if not isinstance(start_key, Mapping) or not start_key:
            raise ValidationError("start_key must be a Page.last_key", field="start_key")
        missing = [name for name in self.key_names if name not in start_key]
        if missing:
            raise ValidationError(
                f"a start key of {self.table} holds its key attribute {missing[0]}",
                field=f"start_key.{missing[0]}",
            )
        extra = [name for name in start_key if name not in self.key_names]
        if extra and (index is None or len(extra) > 2):
            where = "an index" if index is not None else "the table"
            raise ValidationError(
                f"{extra[-1]} is not a key attribute of {where}: pass a Page.last_key",
                field=f"start_key.{extra[-1]}",
            )
        wire = key_to_wire(start_key, "start_key")
        for name, value in wire.items():
            known = self.key_types.get(name)
            if known is not None and known not in value:
                raise ValidationError(
                    f"{name} is a key attribute of type {known} in this table's pages",
                    field=f"start_key.{name}",
                )
        return wire

    async def page(self, session: DynamoSession, read: Read) -> Page:
        response = await session.call(read.operation, self.params(read))
        last = response.get("LastEvaluatedKey")
        if last:  # the key attributes, typed as the schema has them: to check a start_key
            for name, value in last.items():
                if isinstance(value, dict) and len(value) == 1:
                    self.key_types[name] = next(iter(value))
        return Page(
            items=[item_from_wire(i) for i in response.get("Items", [])],
            last_key=item_from_wire(last) if last else None,
            count=int(response.get("Count", 0)),
            scanned_count=int(response.get("ScannedCount", 0)),
        )

    async def all(self, session: DynamoSession, read: Read) -> AsyncIterator[Item]:
        """Every item of ``read``, page after page (``limit`` is the page size)."""
        params = self.params(read)
        while True:
            response = await session.call(read.operation, params)
            for raw in response.get("Items", []):
                yield item_from_wire(raw)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params = {**params, "ExclusiveStartKey": last}
