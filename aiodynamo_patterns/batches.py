"""DynamoDB's batch protocol: BatchGetItem in chunks of 100 keys, BatchWriteItem in chunks of 25
writes, the chunks sent concurrently. ``UnprocessedKeys`` / ``UnprocessedItems`` are partial
successes, not errors: they are resent with backoff until none remain or the batch deadline has
passed (``BatchIncomplete``, holding what was left). The one loop of the repositories' layer;
every request goes through the session, so its layers retry, break and measure each one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import BatchIncomplete
from .layers.backoff import Backoff
from .session import DynamoSession

__all__ = ["BATCH_GET_MAX", "BATCH_WRITE_MAX", "Batches", "gather_all"]

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25

T = TypeVar("T")
Wire = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Batches:
    """Batch requests on one ``table``, resent until done or ``deadline`` seconds have passed."""

    session: DynamoSession
    table: str
    deadline: float
    backoff: Backoff

    async def get(self, keys: list[Wire], options: Wire) -> list[Wire]:
        """The raw items found for ``keys`` (unique, validated); ``options`` go with each chunk
        (``ProjectionExpression``, ``ExpressionAttributeNames``, ``ConsistentRead``)."""

        async def fetch(chunk: list[Wire]) -> list[Wire]:
            found: list[Wire] = []

            async def send(pending: Wire) -> Wire | None:
                response = await self.session.call("BatchGetItem", {"RequestItems": pending})
                found.extend(response.get("Responses", {}).get(self.table, []))
                left = response.get("UnprocessedKeys") or {}
                return left if left.get(self.table, {}).get("Keys") else None

            await self._drain({self.table: {"Keys": chunk, **options}}, send, "BatchGetItem")
            return found

        chunks = [keys[i : i + BATCH_GET_MAX] for i in range(0, len(keys), BATCH_GET_MAX)]
        return [raw for found in await gather_all([fetch(c) for c in chunks]) for raw in found]

    async def write(self, requests: list[Wire]) -> None:
        """Send ``requests`` (``PutRequest`` / ``DeleteRequest`` entries, validated)."""

        async def write(chunk: list[Wire]) -> None:
            async def send(pending: Wire) -> Wire | None:
                response = await self.session.call(
                    "BatchWriteItem", {"RequestItems": pending}, idempotent=True
                )
                left = response.get("UnprocessedItems") or {}
                return left if left.get(self.table) else None

            await self._drain({self.table: chunk}, send, "BatchWriteItem")

        size = BATCH_WRITE_MAX
        await gather_all([write(requests[i : i + size]) for i in range(0, len(requests), size)])

    async def _drain(
        self, pending: Wire, send: Callable[[Wire], Awaitable[Wire | None]], operation: str
    ) -> None:
        clock = self.session.clock
        deadline = clock.now() + self.deadline
        retry = 0
        left: Wire | None = pending
        while left is not None:
            left = await send(left)
            if left is None:
                return
            delay = self.backoff.delay(retry)
            retry += 1
            if clock.now() + delay > deadline:
                what = "UnprocessedKeys" if operation == "BatchGetItem" else "UnprocessedItems"
                raise BatchIncomplete(
                    f"{what} remained after {self.deadline:g}s",
                    unprocessed=[left],
                    operation=operation,
                )
            await clock.sleep(delay)


async def gather_all(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` concurrently; on the first failure cancel the rest, then raise it."""
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    return [t.result() for t in tasks]
