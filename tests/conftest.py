"""Shared fixtures: the project's own suite runs on the ``ddb_*`` fixtures it ships to users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aiodynamo_patterns import DynamoSession, ProductRepository, Repository
from aiodynamo_patterns.testing.pytest_plugin import TableFactory

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
