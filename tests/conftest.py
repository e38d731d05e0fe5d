"""Shared fixtures: the project's own suite runs on the ``ddb_*`` fixtures it ships to users."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aiodynamo_patterns import DynamoSession, ProductRepository, Repository
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.testing.pytest_plugin import MODE_ENV, TableFactory

# Every test that talks to DynamoDB runs in both session modes (fast path and compatible), unless
# AIODYNAMO_PATTERNS_MODE pins one: the same assertions must hold on both paths.
MODES: list[SessionMode] = (
    [os.environ[MODE_ENV]] if os.environ.get(MODE_ENV) else ["fast", "compatible"]  # type: ignore[list-item]  # checked by the plugin's fixture
)


@pytest.fixture(params=MODES)
def ddb_session_mode(request: pytest.FixtureRequest) -> SessionMode:
    mode: SessionMode = request.param
    return mode


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the compatible path against moto and DynamoDB Local only, to keep the time in bounds.

    The two paths differ only on the client side (they are compared request by request in
    test_fastpath_parity.py on every backend), so dynalite adds nothing for the compatible path
    and runs the default, fast path; DynamoDB Local, the closest to DynamoDB, runs both.
    """
    if os.environ.get(MODE_ENV):
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            params.get("ddb_session_mode") == "compatible"
            and params.get("ddb_backend") == "dynalite"
        ):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# pytester runs users' suites against the plugin in a temporary directory.
pytest_plugins = ["pytester"]


@pytest_asyncio.fixture
async def table(ddb_table_factory: TableFactory) -> str:
    return await ddb_table_factory()


@pytest_asyncio.fixture
async def repo(ddb_session: DynamoSession, table: str) -> Repository:
    return Repository(ddb_session, table)


@pytest_asyncio.fixture
async def products(ddb_session: DynamoSession, table: str) -> AsyncIterator[ProductRepository]:
    yield ProductRepository(ddb_session, table)
