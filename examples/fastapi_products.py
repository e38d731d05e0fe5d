"""A FastAPI service on aiodynamo_patterns: one DynamoSession for the whole app, typed errors as HTTP.

Run it on an embedded moto server (the ``examples`` extra installs everything it needs)::

    python -m examples.fastapi_products            # http://127.0.0.1:8000/docs

Ctrl-C (SIGINT) and SIGTERM both shut it down cleanly, the embedded server's child included.

or against any endpoint / real DynamoDB (standard AWS credential chain)::

    DYNAMODB_ENDPOINT_URL=http://localhost:8000 PRODUCTS_TABLE=products \\
        uvicorn examples.fastapi_products:app

The session is opened in the lifespan and shared by every request: its semaphore bounds the
requests in flight for the whole process and its one aiohttp pool is reused. Every library error
goes through ONE exception handler that maps the error class to a status code. ``/health`` answers
503 "degraded" while a circuit breaker is not closed, naming the circuit and the failure that
opened it; prices are always JSON numbers with a fraction (``9.99``, ``1.0``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from types import FrameType
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
    """The circuit breaker's state per circuit (None when the session has no breaker).

    A circuit is named after its table with ``BreakerConfig(per_table=True)``, else ``session``;
    ``last_failure`` says what failed last (error class, operation, table; never a value).
    """
    if session.breaker is None:
        return None
    return {
        name: {
            "state": snap.state.value,
            "consecutive_failures": snap.consecutive_failures,
            "last_failure": snap.last_failure,
        }
        for name, snap in session.breaker.states().items()
    } or {"session": {"state": "closed", "consecutive_failures": 0, "last_failure": None}}


def health_report(session: DynamoSession) -> tuple[int, dict[str, Any]]:
    """``/health``: 200 "ok", or 503 "degraded" naming every circuit that is not closed (open, or
    half-open while a probe decides), or 503 "closed" once the session has shut down."""
    breaker = breaker_state(session) or {}
    not_closed = sorted(name for name, circuit in breaker.items() if circuit["state"] != "closed")
    if not session.is_open:
        status = "closed"
    elif not_closed:
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "open_circuits": not_closed,
        "breaker": breaker or None,
        "pool": session.stats().as_dict(),
    }
    return (200 if status == "ok" else 503), body


def public(value: Any, *, key: str | None = None) -> Any:
    """A product (or any item) as JSON: ``price`` is always a float, any other number read
    back as a Decimal an int when integral, else a float, so one field keeps one JSON type."""
    if isinstance(value, dict):
        return {k: public(v, key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [public(v) for v in value]
    if key == "price" and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


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
        product: Item = public(await products_of(request).create_product(data))
        return product

    @app.get("/products/{product_id}")
    async def get_product(request: Request, product_id: str) -> Item:
        pid = _product_id(product_id)
        product = await products_of(request).get_product(pid)
        if product is None:
            raise ItemNotFound("no such product", operation="GetItem")
        found: Item = public(product)
        return found

    @app.post("/products/{product_id}/stock")
    async def change_stock(
        request: Request, product_id: str, delta: Annotated[Any, Body(embed=True)]
    ) -> Item:
        """Add ``delta`` (negative: decrease). 409 when it would oversell, 404 when missing."""
        changed = await products_of(request).update_product_stock(_product_id(product_id), delta)
        updated: Item = public(changed)
        return updated

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
        return {"items": public(page.items), "next_cursor": encode_cursor(page.last_key)}

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        status, body = health_report(request.app.state.session)
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> str:
        return metrics_text(request.app.state.session)

    return app


def configure_logging() -> None:
    """Show the library's warnings (breaker transitions, failed calls) on stderr.

    The library only adds a NullHandler, and uvicorn configures its own loggers, not the root:
    without this an outage would leave nothing in the app's log. Does nothing when the
    application already configured the root logger.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def __getattr__(name: str) -> Any:
    # `uvicorn examples.fastapi_products:app` builds the app only when asked for it.
    if name == "app":
        configure_logging()
        return create_app()
    raise AttributeError(name)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down on SIGTERM, restores this handler and raises the signal again: exiting
    # through SystemExit (not the default handler's abrupt death) lets the `with` below stop the
    # embedded server's child, as KeyboardInterrupt does for Ctrl-C.
    raise SystemExit(128 + signum)


def main() -> None:
    import uvicorn

    from aiodynamo_patterns import EmbeddedDynamo

    configure_logging()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with EmbeddedDynamo() as server:
        print(
            f"embedded moto server at {server.endpoint_url} (pid {server.pid})",
            file=sys.stderr,
            flush=True,
        )
        app = create_app(lambda: server.session())
        uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":  # pragma: no cover
    main()
