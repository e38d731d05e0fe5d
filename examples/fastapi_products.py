"""A FastAPI service on aiodynamo_patterns: one DynamoSession for the whole app, typed errors as HTTP.

Run it on an embedded moto server (needs the ``examples`` extra: fastapi, uvicorn)::

    python -m examples.fastapi_products            # http://127.0.0.1:8000/docs

or against any endpoint / real DynamoDB (standard AWS credential chain)::

    DYNAMODB_ENDPOINT_URL=http://localhost:8000 PRODUCTS_TABLE=products \\
        uvicorn examples.fastapi_products:app

The session is opened in the lifespan and shared by every request: its semaphore bounds the
requests in flight for the whole process and its one aiohttp pool is reused. Every library error
goes through ONE exception handler that maps the error class to a status code.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from aiodynamo_patterns import (
    CachedRepository,
    CircuitOpen,
    ConditionFailed,
    DynamoError,
    DynamoSession,
    ItemNotFound,
    OutcomeUnknown,
    PoolTimeout,
    ProductRepository,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    TransportError,
    ValidationError,
    ensure_product_table,
)

Item = dict[str, Any]
_CURSOR_KEYS = {"PK", "SK", "GSI1PK", "GSI1SK"}


def metrics_text(session: DynamoSession) -> str:
    """Prometheus text for ``/metrics``: every DynamoDB call of the session, the pool, the cache.

    Uses the session's :class:`MetricsCollector` (the ``prometheus`` extra); a session made with
    ``metrics=None`` exposes its pool statistics only.
    """
    if session.metrics is not None:
        return session.metrics.prometheus_text()
    lines = []
    for name, value in session.stats().as_dict().items():
        metric = f"aiodynamo_patterns_pool_{name}"
        lines += [f"# TYPE {metric} gauge", f"{metric} {value}"]
    return "\n".join(lines) + "\n"


def breaker_state(session: DynamoSession) -> dict[str, Any] | None:
    """The circuit breaker's state per circuit (None when the session has no breaker)."""
    if session.breaker is None:
        return None
    return {
        name: {"state": snap.state.value, "consecutive_failures": snap.consecutive_failures}
        for name, snap in session.breaker.states().items()
    } or {"session": {"state": "closed", "consecutive_failures": 0}}


# -- cursors --------------------------------------------------------------------------------


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    """An opaque, URL-safe cursor for ``Page.last_key`` (base64url of its JSON)."""
    if last_key is None:
        return None
    raw = json.dumps(dict(last_key), sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, category: str) -> dict[str, Any] | None:
    """The ``start_key`` a cursor stands for; a tampered or foreign cursor is a ValidationError."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValidationError("not a cursor this API returned", field="cursor") from None
    if (
        not isinstance(key, dict)
        or set(key) != _CURSOR_KEYS
        or not all(isinstance(v, str) for v in key.values())
        or key["GSI1PK"] != f"CATEGORY#{category}"
    ):
        raise ValidationError("not a cursor of this category", field="cursor")
    return key


def _product_id(raw: str) -> str:
    # The id travels in the path without its '#' (which would start a URL fragment).
    return raw if raw.startswith("PRODUCT#") else f"PRODUCT#{raw}"


# -- errors -> HTTP -------------------------------------------------------------------------

# First match wins: subclasses before their bases.
_STATUS: list[tuple[type[DynamoError], int]] = [
    (ValidationError, 422),
    (ItemNotFound, 404),
    (ConditionFailed, 409),  # InsufficientStock, ItemAlreadyExists, VersionConflict
    (CircuitOpen, 503),
    (Throttled, 503),
    (ServiceUnavailable, 503),
    (PoolTimeout, 503),
    (TransportError, 503),
    (OutcomeUnknown, 504),
    (TableNotFound, 500),
]


def status_for(exc: DynamoError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _from_request_validation(exc: RequestValidationError) -> ValidationError:
    # FastAPI's own checks (body not an object, limit out of range) answer like the library's.
    first = exc.errors()[0] if exc.errors() else {}
    where = [str(part) for part in first.get("loc", ())]
    loc = [part for part in where if part not in ("body", "query", "path")] or where[:1]
    return ValidationError(str(first.get("msg", "invalid request")), field=".".join(loc) or None)


async def error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The one place errors become HTTP responses: the error class decides the status."""
    if isinstance(exc, RequestValidationError):
        exc = _from_request_validation(exc)
    assert isinstance(exc, DynamoError)
    status = status_for(exc)
    body: dict[str, Any] = {"error": type(exc).__name__, "message": exc.message}
    field = getattr(exc, "field", None)
    if field is not None:
        body["field"] = field
    if status >= 500:
        body["retryable"] = exc.retryable
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


# -- the app --------------------------------------------------------------------------------


def create_app(
    session_factory: Callable[[], DynamoSession] | None = None,
    *,
    table_name: str | None = None,
    create_table: bool = True,
) -> FastAPI:
    """The service. ``session_factory`` makes the one session (default: from the environment)."""
    table = table_name or os.environ.get("PRODUCTS_TABLE", "products")

    def default_session() -> DynamoSession:
        return DynamoSession(endpoint_url=os.environ.get("DYNAMODB_ENDPOINT_URL"))

    factory = session_factory or default_session

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with factory() as session:
            if create_table:
                await ensure_product_table(session, table)
            # Reads of single products are served by the cache; every write goes through the
            # same object, so a read after a write never sees the old value.
            async with CachedRepository(ProductRepository(session, table), ttl=30) as products:
                app.state.session = session
                app.state.products = products
                yield

    app = FastAPI(title="products", lifespan=lifespan)
    app.add_exception_handler(DynamoError, error_handler)
    app.add_exception_handler(RequestValidationError, error_handler)

    def products_of(request: Request) -> ProductRepository:
        products: ProductRepository = request.app.state.products
        return products

    @app.post("/products", status_code=201)
    async def create_product(request: Request, data: Annotated[dict[str, Any], Body()]) -> Item:
        return await products_of(request).create_product(data)

    @app.get("/products/{product_id}")
    async def get_product(request: Request, product_id: str) -> Item:
        pid = _product_id(product_id)
        product = await products_of(request).get_product(pid)
        if product is None:
            raise ItemNotFound("no such product", operation="GetItem")
        return product

    @app.post("/products/{product_id}/stock")
    async def change_stock(
        request: Request, product_id: str, delta: Annotated[Any, Body(embed=True)]
    ) -> Item:
        """Add ``delta`` (negative: decrease). 409 when it would oversell, 404 when missing."""
        return await products_of(request).update_product_stock(_product_id(product_id), delta)

    @app.get("/categories/{category}/products")
    async def list_category(
        request: Request,
        category: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = await products_of(request).get_products_by_category(
            category, limit=limit, start_key=decode_cursor(cursor, category)
        )
        return {"items": page.items, "next_cursor": encode_cursor(page.last_key)}

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        session: DynamoSession = request.app.state.session
        return {
            "status": "ok" if session.is_open else "closed",
            "breaker": breaker_state(session),
            "pool": session.stats().as_dict(),
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> str:
        return metrics_text(request.app.state.session)

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn examples.fastapi_products:app` builds the app only when asked for it.
    if name == "app":
        return create_app()
    raise AttributeError(name)


def main() -> None:  # pragma: no cover - interactive
    import uvicorn

    from aiodynamo_patterns import EmbeddedDynamo

    with EmbeddedDynamo() as server:
        app = create_app(lambda: server.session())
        uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":  # pragma: no cover
    main()
