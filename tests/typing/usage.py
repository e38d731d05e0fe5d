"""What users see in their editors: the public API used as documented, checked by mypy --strict.

Not a test module (pytest does not collect it); ``tests/unit/test_typing.py`` runs mypy on it.
``assert_type`` pins the types users get; each ``# type: ignore[code]`` marks a misuse mypy
must keep rejecting (``warn_unused_ignores`` fails the check if it ever stops).
"""

from __future__ import annotations

from typing import Any, assert_type

from boto3.dynamodb.conditions import Attr, Key

import aiodynamo_patterns as adp
from aiodynamo_patterns import (
    Call,
    ConditionFailed,
    DynamoError,
    DynamoSession,
    GlobalIndex,
    Increment,
    InsufficientStock,
    ItemNotFound,
    Page,
    PoolStats,
    ProductRepository,
    Repository,
    Request,
    Result,
    TransactPut,
    ValidationError,
    ensure_product_table,
)
from aiodynamo_patterns.testing import Dynalite, ManualClock


class CountingLayer:
    """A user-written layer: counts calls per operation."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def __call__(self, request: Request, call_next: Call) -> Result:
        self.calls[request.operation] = self.calls.get(request.operation, 0) + 1
        return await call_next(request)


async def products_tour(endpoint_url: str) -> None:
    layer = CountingLayer()
    async with DynamoSession(
        endpoint_url=endpoint_url, region_name="us-east-1", max_concurrency=32, layers=[layer]
    ) as session:
        assert_type(session, DynamoSession)
        assert_type(await ensure_product_table(session, "products"), bool)
        products = ProductRepository(session, "products")
        product = await products.create_product(
            {"name": "lamp", "price": 19.5, "stock": 3, "category": "lights"}
        )
        assert_type(product, dict[str, Any])
        assert_type(await products.get_product(product["product_id"]), dict[str, Any] | None)
        try:
            await products.update_product_stock(product["product_id"], -5)
        except InsufficientStock as exc:
            assert_type(exc.item, dict[str, Any] | None)
        except ItemNotFound as exc:
            assert_type(exc.operation, str | None)
        page = await products.get_products_by_category("lights", limit=10)
        assert_type(page, Page)
        assert_type(page.last_key, dict[str, Any] | None)
        stats = session.stats()
        assert_type(stats, PoolStats)
        assert_type(stats.utilization_percent, float)
        assert_type(await session.call("DescribeTable", {"TableName": "products"}), Result)

        await products.update_product_stock(product["product_id"], "1")  # type: ignore[arg-type]
        ProductRepository("not a session", "products")  # type: ignore[arg-type]


async def repository_tour(session: DynamoSession) -> None:
    repo = Repository(session, "events", key_names=("user_id", "ts"))
    await repo.create_item({"user_id": "u1", "ts": 1, "kind": "login"})
    updated = await repo.update_item(
        {"user_id": "u1", "ts": 1}, {"count": Increment(1)}, condition=Attr("kind").eq("login")
    )
    assert_type(updated, dict[str, Any])
    page = await repo.query(Key("user_id").eq("u1"), limit=25, descending=True)
    assert_type(page.items, list[dict[str, Any]])
    async for item in repo.query_all(Key("user_id").eq("u1")):
        assert_type(item, dict[str, Any])
    assert_type(await repo.batch_get([{"user_id": "u1", "ts": 1}]), list[dict[str, Any]])
    assert_type(await repo.transact_write([TransactPut({"user_id": "u2", "ts": 2})]), str)
    try:
        await repo.delete_item({"user_id": "u1", "ts": 1}, expected_version=3)
    except ConditionFailed as exc:
        assert_type(exc.item, dict[str, Any] | None)
    except ValidationError as exc:
        assert_type(exc.field, str | None)
    except DynamoError as exc:
        assert_type(exc.retryable, bool)
    await repo.query(Key("user_id").eq("u1"), limit="10")  # type: ignore[arg-type]


def support_tour() -> None:
    with Dynalite() as server:
        assert_type(server.endpoint_url, str)
    clock = ManualClock()
    assert_type(clock.now(), float)
    assert_type(GlobalIndex("by_email", "email").sort_key, str | None)
    assert_type(adp.__version__, str)


async def cached_products_tour(session: DynamoSession) -> None:
    products = ProductRepository(session, "products")
    async with adp.CachedRepository(products, ttl=30) as cached:
        assert_type(cached, ProductRepository)  # the wrapped type, every method typed exactly
        assert_type(await cached.get_product("p1"), dict[str, Any] | None)
        controls = adp.CachedRepository.of(cached)
        assert_type(controls.stats().hits, int)
        assert_type(controls.invalidate([{"PK": "PRODUCT#p1", "SK": "METADATA"}]), int)
        cached.stats()  # type: ignore[attr-defined]  # the controls are reached through .of()
