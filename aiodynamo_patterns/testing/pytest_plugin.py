"""pytest fixtures for suites that use aiodynamo_patterns (registered under ``pytest11``).

Five lines in a user's pytest-asyncio suite::

    async def test_stock(ddb_session, ddb_table_factory):
        table = await ddb_table_factory()              # product layout, deleted afterwards
        products = ProductRepository(ddb_session, table)
        p = await products.create_product({"name": "x", "price": 1, "stock": 2, "category": "c"})
        assert (await products.update_product_stock(p["product_id"], -1))["stock"] == 1

Fixtures: ``ddb_endpoint`` (URL of an embedded moto server on 127.0.0.1, one per test session,
or ``AIODYNAMO_PATTERNS_TEST_ENDPOINT`` if set), ``ddb_session`` (an open DynamoSession, in the
mode ``ddb_session_mode`` returns: ``AIODYNAMO_PATTERNS_MODE`` or ``"fast"``),
``ddb_table_factory`` (creates uniquely named tables and deletes them after the test). Real
``AWS_*`` variables are removed from the environment for every test so that a test can never
reach a real account by accident; moto is imported only when the endpoint fixture is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import pytest

from ..session import DynamoSession, SessionMode
from ..tables import PRODUCT_GSI, GlobalIndex, create_table, delete_table

F = TypeVar("F", bound=Callable[..., Any])
try:
    from pytest_asyncio import fixture as _pytest_asyncio_fixture
except ImportError:  # pragma: no cover - the async fixtures need pytest-asyncio
    _pytest_asyncio_fixture = None  # type: ignore[assignment]  # optional dependency


def _async_fixture(func: F) -> F:
    if _pytest_asyncio_fixture is None:  # pragma: no cover
        return func
    return cast(F, _pytest_asyncio_fixture(func))


ENDPOINT_ENV = "AIODYNAMO_PATTERNS_TEST_ENDPOINT"
TableFactory = Callable[..., Awaitable[str]]


@pytest.fixture(autouse=True)
def _ddb_no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    # Point the config chain at nothing, so a developer's ~/.aws never applies either.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    """URL of a DynamoDB endpoint for the whole test session (embedded moto by default)."""
    configured = os.environ.get(ENDPOINT_ENV)
    if configured:
        yield configured
        return
    from ..embedded import EmbeddedDynamo

    server = EmbeddedDynamo()
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


# -- session mode (fast path / compatible) -------------------------------------------------------
MODE_ENV = "AIODYNAMO_PATTERNS_MODE"


@pytest.fixture
def ddb_session_mode() -> SessionMode:
    """The ``DynamoSession`` mode of ``ddb_session``: ``$AIODYNAMO_PATTERNS_MODE`` or ``"fast"``.

    Override it in a conftest (e.g. parametrised over ``["fast", "compatible"]``) to run a
    suite in both modes.
    """
    mode = os.environ.get(MODE_ENV, "fast")
    if mode not in ("fast", "compatible"):
        raise pytest.UsageError(f"{MODE_ENV} must be 'fast' or 'compatible', not {mode!r}")
    return cast(SessionMode, mode)


# -------------------------------------------------------------------------------------------------


@_async_fixture
async def ddb_session(
    ddb_endpoint: str, ddb_session_mode: SessionMode
) -> AsyncIterator[DynamoSession]:
    """An open DynamoSession on ``ddb_endpoint`` with dummy credentials, in ``ddb_session_mode``."""
    from ..embedded import DUMMY_CREDENTIALS

    async with DynamoSession(
        endpoint_url=ddb_endpoint, mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as session:
        yield session


@_async_fixture
async def ddb_table_factory(ddb_session: DynamoSession) -> AsyncIterator[TableFactory]:
    """``await ddb_table_factory()`` makes a product-layout table and returns its name.

    Keyword arguments choose another layout: ``partition_key=("id", "S")``,
    ``sort_key=None``, ``indexes=[GlobalIndex(...)]``.
    """
    created: list[str] = []

    async def factory(
        *,
        partition_key: tuple[str, str] = ("PK", "S"),
        sort_key: tuple[str, str] | None = ("SK", "S"),
        indexes: Sequence[GlobalIndex] | None = None,
        prefix: str = "test",
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if indexes is None:
            indexes = (
                [GlobalIndex(PRODUCT_GSI, "GSI1PK", "GSI1SK")]
                if (partition_key, sort_key) == (("PK", "S"), ("SK", "S"))
                else []
            )
        await create_table(
            ddb_session, name, partition_key=partition_key, sort_key=sort_key, indexes=indexes
        )
        created.append(name)
        return name

    yield factory
    for name in created:
        await delete_table(ddb_session, name)


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "ddb: tests that use the aiodynamo_patterns fixtures")
