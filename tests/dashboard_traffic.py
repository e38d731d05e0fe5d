"""Traffic that makes every figure the Grafana dashboard reads appear in the exposition.

Shared by the dashboard tests: the name check (one round) and the real-Prometheus check (rounds
repeated while Prometheus scrapes). Item values here are fixed test data; nothing is asserted.
"""

from __future__ import annotations

import contextlib

from boto3.dynamodb.conditions import Key

from aiodynamo_patterns import CachedRepository, ItemAlreadyExists, Repository
from aiodynamo_patterns.tables import PRODUCT_GSI
from aiodynamo_patterns.testing.fault_proxy import Fault, FaultProxy


async def one_round(repo: Repository, cached: Repository, proxy: FaultProxy) -> None:
    """Writes, reads, a query on the index, a batch, a refused create, cache hits and misses,
    and a throttled read that the retry layer resends."""
    items = [{"PK": "p", "SK": f"s{i}", "GSI1PK": "g", "GSI1SK": f"s{i}"} for i in range(3)]
    for item in items:
        await repo.put_item(item)
    await repo.get_item({"PK": "p", "SK": "s0"})
    await repo.query(Key("PK").eq("p"))
    await repo.query(Key("GSI1PK").eq("g"), index=PRODUCT_GSI)
    await repo.batch_get([{"PK": "p", "SK": f"s{i}"} for i in range(3)])
    with contextlib.suppress(ItemAlreadyExists):  # counted under its wire code
        await repo.create_item(items[0])
    await cached.get_item({"PK": "p", "SK": "s1"})  # a miss, then hits
    await cached.get_item({"PK": "p", "SK": "s1"})
    await cached.get_item({"PK": "p", "SK": "s1"})
    proxy.script([Fault.THROTTLE])
    await repo.get_item({"PK": "p", "SK": "s2"})


def cached_view(repo: Repository) -> Repository:
    """The repository with reads through a read cache recording into ``session.metrics``."""
    return CachedRepository(repo, ttl=3600.0)
