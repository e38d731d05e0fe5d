"""Batch partial successes: UnprocessedKeys / UnprocessedItems are resent until done or deadline."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from aiodynamo_patterns import BatchIncomplete, DynamoSession, Repository
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.pipeline import Call, Request, Result
from aiodynamo_patterns.testing import ManualClock


class PartialBatches:
    """Processes only the first ``keep`` entries of each batch, as a throttled table does.

    ``stubborn`` makes it process nothing at all once ``stubborn`` is True.
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.calls: list[int] = []
        self.stubborn = False

    async def __call__(self, request: Request, call_next: Call) -> Result:
        if request.operation not in ("BatchGetItem", "BatchWriteItem"):
            return await call_next(request)
        ((table, body),) = request.params["RequestItems"].items()
        entries: list[Any] = body["Keys"] if request.operation == "BatchGetItem" else body
        self.calls.append(len(entries))
        keep = 0 if self.stubborn else self.keep
        done, left = entries[:keep], entries[keep:]
        if request.operation == "BatchGetItem":
            response = (
                await call_next(
                    Request(
                        request.operation,
                        {"RequestItems": {table: {**body, "Keys": done}}},
                        request.idempotent,
                    )
                )
                if done
                else {"Responses": {table: []}}
            )
            response["UnprocessedKeys"] = {table: {**body, "Keys": left}} if left else {}
        else:
            if done:
                await call_next(
                    Request(request.operation, {"RequestItems": {table: done}}, request.idempotent)
                )
            response = {"UnprocessedItems": {table: left} if left else {}}
        return response


async def test_unprocessed_keys_are_resent_until_every_item_is_read(
    ddb_endpoint: str, table: str
) -> None:
    """A table that reads only 30 keys per request still yields all 100 items, with backoff."""
    partial = PartialBatches(keep=30)
    clock = ManualClock()
    async with DynamoSession(
        endpoint_url=ddb_endpoint, layers=[partial], clock=clock, **DUMMY_CREDENTIALS
    ) as s:
        repo = Repository(s, table)
        await repo.batch_write(puts=[{"PK": "b", "SK": f"{i:03d}", "i": i} for i in range(100)])
        writes = list(partial.calls)
        partial.calls.clear()
        got = await repo.batch_get([{"PK": "b", "SK": f"{i:03d}"} for i in range(100)])
    assert [g["i"] for g in got] == list(range(100))
    assert partial.calls == [100, 70, 40, 10]
    assert writes == [25, 25, 25, 25]  # 25-item chunks, each done in one go
    assert len(clock.sleeps) == 3 and all(0 <= d <= 1.0 for d in clock.sleeps)


async def test_unprocessed_items_are_resent_until_written(ddb_endpoint: str, table: str) -> None:
    """A table that writes 10 of each 25 items per request still ends with all 60 written."""
    partial = PartialBatches(keep=10)
    async with DynamoSession(
        endpoint_url=ddb_endpoint, layers=[partial], clock=ManualClock(), **DUMMY_CREDENTIALS
    ) as s:
        repo = Repository(s, table)
        await repo.batch_write(puts=[{"PK": "w", "SK": f"{i:03d}"} for i in range(60)])
        items = (await repo.query(Key("PK").eq("w"))).items
    assert len(items) == 60
    assert sorted(partial.calls, reverse=True)[:3] == [25, 25, 15]


async def test_batch_gives_up_at_its_deadline(ddb_endpoint: str, table: str) -> None:
    """When nothing is ever processed, batch_get raises BatchIncomplete at the deadline."""
    partial = PartialBatches(keep=0)
    partial.stubborn = True
    clock = ManualClock()
    async with DynamoSession(
        endpoint_url=ddb_endpoint, layers=[partial], clock=clock, **DUMMY_CREDENTIALS
    ) as s:
        repo = Repository(s, table, batch_deadline=5.0)
        start = clock.now()
        with pytest.raises(BatchIncomplete) as info:
            await repo.batch_get([{"PK": "x", "SK": str(i)} for i in range(3)])
    assert clock.now() - start <= 5.0
    assert info.value.unprocessed and not info.value.retryable  # already resent until the deadline
