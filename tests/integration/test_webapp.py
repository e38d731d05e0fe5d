"""The FastAPI example in-process over httpx: one shared session, errors as statuses, exact stock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from aiodynamo_patterns import DynamoSession
from examples.fastapi_products import create_app, decode_cursor, encode_cursor

PRODUCT = {"name": "lamp", "price": 19.5, "stock": 50, "category": "lights"}


class App:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, sessions: list[DynamoSession]):
        self.app, self.client, self.sessions = app, client, sessions

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/products", json={**PRODUCT, **overrides})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def path_id(product: dict[str, Any]) -> str:
    return str(product["product_id"]).removeprefix("PRODUCT#")


@pytest_asyncio.fixture
async def web(ddb_endpoint: str, ddb_credentials: dict[str, Any], table: str) -> AsyncIterator[App]:
    sessions: list[DynamoSession] = []

    def factory() -> DynamoSession:
        sessions.append(DynamoSession(endpoint_url=ddb_endpoint, **ddb_credentials))
        return sessions[-1]

    app = create_app(factory, table_name=table, create_table=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield App(app, client, sessions)
    assert all(not s.is_open for s in sessions)


async def test_create_then_get(web: App) -> None:
    """A created product is returned with its id and read back by id (with or without prefix)."""
    created = await web.create()
    for pid in (path_id(created), created["product_id"].replace("#", "%23")):
        response = await web.client.get(f"/products/{pid}")
        assert response.status_code == 200
        assert response.json() == created


@pytest.mark.parametrize(
    ("request_args", "status", "field"),
    [
        (("POST", "/products", {**PRODUCT, "price": "cheap"}), 422, "price"),
        (("POST", "/products", {k: v for k, v in PRODUCT.items() if k != "stock"}), 422, "stock"),
        (("POST", "/products", [1, 2]), 422, "body"),
        (("GET", "/products/00ff", None), 404, None),
        (("POST", "/products/00ff/stock", {"delta": -1}), 404, None),
        (("POST", "/products/00ff/stock", {"delta": 1.5}), 422, "delta"),
        (("GET", "/categories/lights/products?limit=0", None), 422, "limit"),
        (("GET", "/categories/lights/products?cursor=%%%", None), 422, "cursor"),
    ],
)
async def test_errors_map_to_statuses_naming_the_field(
    web: App, request_args: tuple[str, str, Any], status: int, field: str | None
) -> None:
    """Bad input is 422 naming the field; a missing product is 404; the body names the error."""
    method, url, body = request_args
    response = await web.client.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert response.json().get("field") == field
    assert response.json()["error"] == ("ValidationError" if status == 422 else "ItemNotFound")


async def test_oversell_is_409_and_changes_nothing(web: App) -> None:
    """Decreasing stock 2 by 3 answers 409 InsufficientStock and the stock stays 2."""
    product = await web.create(stock=2)
    response = await web.client.post(f"/products/{path_id(product)}/stock", json={"delta": -3})
    assert (response.status_code, response.json()["error"]) == (409, "InsufficientStock")
    assert (await web.client.get(f"/products/{path_id(product)}")).json()["stock"] == 2


async def test_200_concurrent_decreases_on_stock_50(web: App) -> None:
    """200 concurrent HTTP decreases of 1 on stock 50: exactly 50 succeed, 150 are 409, stock 0."""
    product = await web.create(stock=50)
    url = f"/products/{path_id(product)}/stock"
    responses = await asyncio.gather(
        *(web.client.post(url, json={"delta": -1}) for _ in range(200))
    )
    assert Counter(r.status_code for r in responses) == {200: 50, 409: 150}
    assert sorted(r.json()["stock"] for r in responses if r.status_code == 200) == list(range(50))
    final = await web.client.get(f"/products/{path_id(product)}")
    assert final.json()["stock"] == 0
    assert len(web.sessions) == 1  # every request went through the one lifespan session
    assert web.sessions[0].stats().total_requests >= 202


async def test_category_pages_with_opaque_cursor(web: App) -> None:
    """Paging a category 3 at a time with next_cursor returns all 7 products once."""
    ids = {(await web.create(category="pages", name=f"p{i}"))["product_id"] for i in range(7)}
    await web.create(category="other")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await web.client.get("/categories/pages/products", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [p["product_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert "=" not in cursor and "{" not in cursor
    assert sorted(seen) == sorted(ids)


def test_cursor_of_another_category_is_refused() -> None:
    """A cursor round-trips, and one taken from another category is a ValidationError."""
    key = {"PK": "PRODUCT#1", "SK": "DETAILS", "GSI1PK": "CATEGORY#a", "GSI1SK": "PRODUCT#1"}
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, "a") == key
    with pytest.raises(Exception, match="cursor"):
        decode_cursor(cursor, "b")


async def test_health_and_metrics(web: App) -> None:
    """/health reports the open session, the pool and a closed breaker; /metrics is Prometheus text."""
    health = (await web.client.get("/health")).json()
    assert health["status"] == "ok"
    assert {c["state"] for c in health["breaker"].values()} == {"closed"}
    assert health["pool"]["max_concurrency"] == web.sessions[0].max_concurrency
    metrics = await web.client.get("/metrics")
    assert metrics.status_code == 200
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert "aiodynamo_patterns_pool_in_flight" in families
    assert any(name.startswith("aiodynamo_patterns_request") for name in families), families


async def test_health_shows_an_open_breaker(web: App) -> None:
    """After the breaker's failure threshold is reached, /health reports it open."""
    breaker = web.sessions[0].breaker
    assert breaker is not None
    circuit = breaker.circuit()
    for _ in range(breaker.config.failure_threshold):
        ticket = circuit.admit()
        assert ticket is not None
        circuit.record(ticket, True)
    health = (await web.client.get("/health")).json()
    assert health["breaker"]["session"]["state"] == "open"


def test_module_level_app_for_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uvicorn examples.fastapi_products:app` finds a FastAPI app configured from the environment."""
    import examples.fastapi_products as module

    monkeypatch.setenv("PRODUCTS_TABLE", "shop")
    assert isinstance(module.app, FastAPI)
    assert {"/products", "/health", "/metrics"} <= {
        getattr(r, "path", "") for r in module.app.routes
    }
