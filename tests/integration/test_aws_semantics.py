"""What only DynamoDB Local (AWS's own implementation) can prove: idempotent transactions through
a lost answer and consumed capacity sized by DynamoDB's rules.

moto ignores ClientRequestToken and reports fixed capacity figures; dynalite has no transactions.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession, IdempotentParameterMismatch, Increment, Repository
from aiodynamo_patterns.repository import TransactPut, TransactUpdate
from aiodynamo_patterns.testing import Fault, FaultProxy


@pytest.mark.ddb_unsupported("moto", reason="ignores ClientRequestToken: the resend applies again")
@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems")
async def test_transaction_whose_answer_is_lost_is_resent_and_applied_once(
    ddb_fault_proxy: FaultProxy, ddb_faulty_session: DynamoSession, repo: Repository
) -> None:
    """A transact_write whose success is dropped is resent with its token and counted once."""
    await repo.create_item({"PK": "t", "SK": "counter", "n": 0})
    ddb_fault_proxy.operations = frozenset({"TransactWriteItems"})
    ddb_fault_proxy.script([Fault.DROP_RESPONSE])
    faulty = Repository(ddb_faulty_session, repo.table_name)

    await faulty.transact_write(
        [
            TransactUpdate({"PK": "t", "SK": "counter"}, {"n": Increment(1)}),
            TransactPut({"PK": "t", "SK": "log"}),
        ]
    )

    assert ddb_fault_proxy.dropped_successes == 1
    stats = ddb_faulty_session.retry_stats()
    assert stats is not None and stats.retries == 1
    item = await repo.get_item({"PK": "t", "SK": "counter"}, consistent=True)
    assert item is not None and item["n"] == 1


@pytest.mark.ddb_unsupported("moto", reason="ignores ClientRequestToken: the resend applies again")
@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems")
async def test_the_same_transaction_sent_twice_with_its_token_applies_once(
    repo: Repository,
) -> None:
    """A resend of a transaction with the same token succeeds and changes nothing."""
    await repo.create_item({"PK": "t", "SK": "counter", "n": 0})
    token = uuid.uuid4().hex  # tokens are account-wide for 10 minutes: one per test
    actions = [TransactUpdate({"PK": "t", "SK": "counter"}, {"n": Increment(1)})]

    assert await repo.transact_write(actions, token=token) == token
    assert await repo.transact_write(actions, token=token) == token

    item = await repo.get_item({"PK": "t", "SK": "counter"}, consistent=True)
    assert item is not None and item["n"] == 1


@pytest.mark.ddb_unsupported("moto", reason="ignores ClientRequestToken: any reuse is applied")
@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems")
async def test_a_token_reused_for_another_transaction_is_refused(repo: Repository) -> None:
    """A token sent again with different actions is IdempotentParameterMismatch, nothing written."""
    token = uuid.uuid4().hex
    await repo.transact_write([TransactPut({"PK": "t", "SK": "first"})], token=token)

    with pytest.raises(IdempotentParameterMismatch) as caught:
        await repo.transact_write([TransactPut({"PK": "t", "SK": "second"})], token=token)

    assert caught.value.field == "client_request_token"
    assert await repo.get_item({"PK": "t", "SK": "second"}, consistent=True) is None


def _item(pk: str, size: int, **extra: str) -> dict[str, Any]:
    """An item of exactly ``size`` bytes (the UTF-8 lengths of every name and string value)."""
    named = {"PK": pk, "SK": "s", **extra}
    used = sum(len(name) + len(value) for name, value in named.items()) + len("data")
    item = {name: {"S": value} for name, value in named.items()}
    item["data"] = {"S": "x" * (size - used)}
    return item


# (item bytes, write units, strongly consistent read units, eventually consistent read units):
# a write unit is 1 KB, a read unit 4 KB, rounded up; an eventually consistent read costs half.
SIZES = [
    (1024, 1.0, 1.0, 0.5),  # exactly one write unit
    (1025, 2.0, 1.0, 0.5),
    (4096, 4.0, 1.0, 0.5),  # exactly one read unit
    (4097, 5.0, 2.0, 1.0),
]


@pytest.mark.ddb_unsupported("moto", reason="reports fixed capacity units, whatever the size")
@pytest.mark.parametrize(("size", "write", "strong", "eventual"), SIZES, ids=lambda v: str(v))
async def test_consumed_capacity_follows_item_size(
    ddb_session: DynamoSession, table: str, size: int, write: float, strong: float, eventual: float
) -> None:
    """PutItem and GetItem report the units DynamoDB's sizing rules give for the item's bytes."""
    item = _item(f"p{size}", size)
    key = {"PK": item["PK"], "SK": item["SK"]}

    put = await ddb_session.call(
        "PutItem", {"TableName": table, "Item": item, "ReturnConsumedCapacity": "TOTAL"}
    )
    reads = [
        await ddb_session.call(
            "GetItem",
            {
                "TableName": table,
                "Key": key,
                "ConsistentRead": consistent,
                "ReturnConsumedCapacity": "TOTAL",
            },
        )
        for consistent in (True, False)
    ]

    assert put["ConsumedCapacity"]["CapacityUnits"] == write
    assert [r["ConsumedCapacity"]["CapacityUnits"] for r in reads] == [strong, eventual]


@pytest.mark.ddb_unsupported("moto", reason="reports fixed capacity units, no index breakdown")
@pytest.mark.ddb_unsupported(
    "dynalite", reason="charges a write to the table only, never to its global secondary indexes"
)
async def test_a_write_projected_into_an_index_is_charged_for_both(
    ddb_session: DynamoSession, table: str
) -> None:
    """A 1,500-byte item with the index keys costs 2 units on the table and 2 on the index."""
    item = _item("indexed", 1500, GSI1PK="g", GSI1SK="h")

    put = await ddb_session.call(
        "PutItem", {"TableName": table, "Item": item, "ReturnConsumedCapacity": "INDEXES"}
    )

    consumed = put["ConsumedCapacity"]
    assert consumed["CapacityUnits"] == 4.0
    assert consumed["Table"]["CapacityUnits"] == 2.0
    assert consumed["GlobalSecondaryIndexes"] == {"GSI1": {"CapacityUnits": 2.0}}


@pytest.mark.ddb_unsupported("moto", reason="reports fixed capacity units for transactions")
@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems / TransactGetItems")
async def test_transactions_cost_twice_the_units(ddb_session: DynamoSession, table: str) -> None:
    """A transactional write and read of a small item cost two units each, not one."""
    item = _item("tx", 100)
    key = {"PK": item["PK"], "SK": item["SK"]}

    write = await ddb_session.call(
        "TransactWriteItems",
        {
            "TransactItems": [{"Put": {"TableName": table, "Item": item}}],
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    read = await ddb_session.call(
        "TransactGetItems",
        {
            "TransactItems": [{"Get": {"TableName": table, "Key": key}}],
            "ReturnConsumedCapacity": "TOTAL",
        },
    )

    assert [c["CapacityUnits"] for c in write["ConsumedCapacity"]] == [2.0]
    assert [c["CapacityUnits"] for c in read["ConsumedCapacity"]] == [2.0]
