"""Table set-up: create a table idempotently and wait until it is ACTIVE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DynamoError, TableNotFound, ValidationError
from .session import DynamoSession

__all__ = ["GlobalIndex", "create_table", "delete_table", "ensure_product_table"]

PRODUCT_GSI = "GSI1"


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    name: str
    partition_key: str
    sort_key: str | None = None
    key_type: str = "S"


def _attr_type(t: str, field: str) -> str:
    if t not in ("S", "N", "B"):
        raise ValidationError("key attribute type must be 'S', 'N' or 'B'", field=field)
    return t


async def create_table(
    session: DynamoSession,
    table_name: str,
    *,
    partition_key: tuple[str, str] = ("PK", "S"),
    sort_key: tuple[str, str] | None = ("SK", "S"),
    indexes: Sequence[GlobalIndex] = (),
    wait: bool = True,
    timeout: float = 60.0,  # noqa: ASYNC109  # measured on the session's injectable clock
) -> bool:
    """Create an on-demand table unless it exists; returns True if this call created it."""
    attrs: dict[str, str] = {partition_key[0]: _attr_type(partition_key[1], "partition_key")}
    schema: list[dict[str, str]] = [{"AttributeName": partition_key[0], "KeyType": "HASH"}]
    if sort_key is not None:
        attrs[sort_key[0]] = _attr_type(sort_key[1], "sort_key")
        schema.append({"AttributeName": sort_key[0], "KeyType": "RANGE"})
    gsis: list[dict[str, Any]] = []
    for i, gsi in enumerate(indexes):
        t = _attr_type(gsi.key_type, f"indexes[{i}].key_type")
        attrs.setdefault(gsi.partition_key, t)
        ks = [{"AttributeName": gsi.partition_key, "KeyType": "HASH"}]
        if gsi.sort_key:
            attrs.setdefault(gsi.sort_key, t)
            ks.append({"AttributeName": gsi.sort_key, "KeyType": "RANGE"})
        gsis.append(
            {"IndexName": gsi.name, "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}}
        )
    params: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in attrs.items()
        ],
        "KeySchema": schema,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsis:
        params["GlobalSecondaryIndexes"] = gsis
    created = True
    try:
        await session.call("CreateTable", params)
    except DynamoError as exc:
        if exc.code != "ResourceInUseException":
            raise
        created = False
    if wait:
        await wait_until_active(session, table_name, timeout=timeout)
    return created


async def wait_until_active(
    session: DynamoSession,
    table_name: str,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109  # measured on the session's injectable clock
) -> None:
    clock = session.clock
    deadline = clock.now() + timeout
    delay = 0.05
    while True:
        response = await session.call("DescribeTable", {"TableName": table_name})
        table = response["Table"]
        statuses = [table.get("TableStatus")] + [
            g.get("IndexStatus") for g in table.get("GlobalSecondaryIndexes", [])
        ]
        if all(s in (None, "ACTIVE") for s in statuses):
            return
        if clock.now() + delay > deadline:
            raise DynamoError(
                f"table {table_name} not ACTIVE after {timeout:g}s",
                operation="DescribeTable",
                code="TableNotActive",
            )
        await clock.sleep(delay)
        delay = min(delay * 2, 1.0)


async def delete_table(session: DynamoSession, table_name: str) -> bool:
    """Delete the table if it exists; returns True if this call deleted it."""
    try:
        await session.call("DeleteTable", {"TableName": table_name})
    except TableNotFound:
        return False
    return True


async def ensure_product_table(
    session: DynamoSession, table_name: str, *, wait: bool = True
) -> bool:
    """The product domain's single-table layout: PK/SK strings, GSI1 on GSI1PK/GSI1SK."""
    return await create_table(
        session,
        table_name,
        indexes=[GlobalIndex(PRODUCT_GSI, "GSI1PK", "GSI1SK")],
        wait=wait,
    )
