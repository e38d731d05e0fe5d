"""A create whose answer was lost is resolved by reading the key back: created once, or told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aiodynamo_patterns import (
    DynamoSession,
    ItemAlreadyExists,
    OutcomeUnknown,
    ProductRepository,
    Repository,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.testing import Fault, FaultProxy


@pytest_asyncio.fixture
async def proxy(ddb_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(ddb_endpoint, seed=3, operations={"PutItem"}) as proxy:
        yield proxy


@pytest_asyncio.fixture
async def faulty(proxy: FaultProxy) -> AsyncIterator[DynamoSession]:
    """A session with the default retry and breaker, through the fault proxy."""
    async with DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session:
        yield session


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.DROP_RESPONSE],  # applied, answer lost: the read finds the item written
        [Fault.RESET],  # not applied: the read finds nothing, the create is sent again
        [Fault.ERROR_500],
        [Fault.RESET, Fault.DROP_RESPONSE],  # the resend's answer lost too: resolved again
    ],
    ids=["dropped-answer", "reset", "error-500", "reset-then-dropped"],
)
async def test_a_create_whose_answer_was_lost_succeeds_once(
    faulty: DynamoSession, proxy: FaultProxy, table: str, faults: list[Fault]
) -> None:
    """The create returns the item it wrote, which is stored exactly as returned."""
    repo = Repository(faulty, table)
    proxy.script(faults)

    created = await repo.create_item({"PK": "C#1", "SK": "S", "n": 1})

    assert await repo.get_item({"PK": "C#1", "SK": "S"}, consistent=True) == created
    assert created["version"] == 1
    assert proxy.counts[faults[0]] >= 1


async def test_a_lost_create_over_another_item_stays_unknown(
    faulty: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """When the key holds somebody else's item the create cannot know, and says so."""
    repo = Repository(faulty, table)
    await repo.create_item({"PK": "C#2", "SK": "S", "owner": "first"})
    proxy.script([Fault.RESET])

    with pytest.raises(OutcomeUnknown) as raised:
        await repo.create_item({"PK": "C#2", "SK": "S", "owner": "second"})

    assert any("another item" in note for note in raised.value.__notes__)
    stored = await repo.get_item({"PK": "C#2", "SK": "S"}, consistent=True)
    assert stored is not None and stored["owner"] == "first"


async def test_a_create_that_was_not_lost_is_still_refused_over_an_identical_item(
    ddb_session: DynamoSession, table: str
) -> None:
    """Only an unknown outcome is resolved: a plain second create is ItemAlreadyExists."""
    repo = Repository(ddb_session, table)
    await repo.create_item({"PK": "C#3", "SK": "S"})

    with pytest.raises(ItemAlreadyExists):
        await repo.create_item({"PK": "C#3", "SK": "S"})


async def test_a_product_created_through_a_lost_answer_is_there_once(
    faulty: DynamoSession, proxy: FaultProxy, table: str
) -> None:
    """create_product through a dropped answer returns the product the table holds."""
    products = ProductRepository(faulty, table)
    proxy.script([Fault.DROP_RESPONSE])

    product = await products.create_product(
        {"name": "Widget", "price": 3, "stock": 5, "category": "lost"}
    )

    assert await products.get_product(product["product_id"], consistent=True) == product
