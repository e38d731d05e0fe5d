"""The request pipeline: layers around one call.

Every DynamoDB request is a :class:`Request` passed through ``layers`` (outermost first) down to
the session's innermost call, which holds the semaphore, talks to aiobotocore and translates
errors. A layer knows nothing of its neighbours::

    class Layer(Protocol):
        async def __call__(self, request: Request, call_next: Call) -> Result: ...

The request carries, besides the wire ``operation`` and ``params``, whether resending it after an
unknown outcome is safe (``idempotent``): the retry layer needs that and only the caller knows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

__all__ = [
    "DATA_PLANE_OPERATIONS",
    "READ_OPERATIONS",
    "Call",
    "Layer",
    "Request",
    "Result",
    "compose",
]

Result = dict[str, Any]

#: the operations on items (the rest are table management and rare extras)
DATA_PLANE_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

READ_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables"}
)


@dataclass(slots=True)
class Request:
    operation: str
    params: dict[str, Any]
    idempotent: bool
    attempt: int = 0
    #: free-form annotations layers may leave for each other (e.g. "cache": "hit")
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str | None:
        table = self.params.get("TableName")
        if table is None:
            items = self.params.get("RequestItems")
            if isinstance(items, dict) and len(items) == 1:
                table = next(iter(items))
        return table if isinstance(table, str) else None


Call = Callable[[Request], Awaitable[Result]]


class Layer(Protocol):
    async def __call__(self, request: Request, call_next: Call) -> Result: ...


def compose(layers: Sequence[Layer], innermost: Call) -> Call:
    """Wrap ``innermost`` in ``layers``; the first layer is the outermost."""
    call = innermost
    for layer in reversed(layers):
        call = partial(layer, call_next=call)
    return call
