"""Where the implementations differ: each test asserts what DynamoDB documents, on the wire.

Every test runs on every backend in ``ddb_backends``; a backend known to differ is skipped with the
difference as the reason (shown by ``pytest -ra``). The README's compatibility table lists the
same rows. If a backend starts to behave like DynamoDB, its skip can go.
"""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key

from aiodynamo_patterns import (
    ConditionFailed,
    DynamoError,
    DynamoSession,
    InsufficientStock,
    ProductRepository,
    Repository,
    ValidationError,
)


def wire_key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


async def put(session: DynamoSession, table: str, pk: str, **extra: Any) -> None:
    await session.call("PutItem", {"TableName": table, "Item": {**wire_key(pk), **extra}})


@pytest.mark.ddb_unsupported(
    "dynalite", reason="ignores ReturnValuesOnConditionCheckFailure (no Item in the error)"
)
@pytest.mark.parametrize("operation", ["PutItem", "UpdateItem", "DeleteItem"])
async def test_condition_failure_returns_the_old_item(
    ddb_session: DynamoSession, table: str, operation: str
) -> None:
    """A failed condition with ReturnValuesOnConditionCheckFailure=ALL_OLD carries the old item."""
    await put(ddb_session, table, "a", n={"N": "1"})
    params: dict[str, Any] = {
        "TableName": table,
        "ConditionExpression": "n = :z",
        "ExpressionAttributeValues": {":z": {"N": "99"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if operation == "PutItem":
        params["Item"] = wire_key("a")
    else:
        params["Key"] = wire_key("a")
    if operation == "UpdateItem":
        params["UpdateExpression"] = "SET n = :z"
    with pytest.raises(ConditionFailed) as info:
        await ddb_session.call(operation, params)
    assert info.value.item == {**wire_key("a"), "n": {"N": "1"}}


async def test_library_reports_the_old_item_on_every_backend(
    products: ProductRepository, repo: Repository
) -> None:
    """Whether or not the server returns the old item, the library's errors carry it."""
    product = await products.create_product({"name": "x", "price": 1, "stock": 1, "category": "c"})
    with pytest.raises(InsufficientStock) as info:
        await products.update_product_stock(product["product_id"], -2)
    assert info.value.item is not None and info.value.item["stock"] == 1
    with pytest.raises(ConditionFailed) as failed:
        await repo.put_item(
            {"PK": product["product_id"], "SK": "DETAILS"}, condition=Attr("x").eq(1)
        )
    assert failed.value.item is not None and failed.value.item["name"] == "x"


@pytest.mark.ddb_unsupported(
    "moto", reason="accepts BatchWriteItem with more than 25 requests (DynamoDB: at most 25)"
)
async def test_batch_write_over_25_requests_is_refused(
    ddb_session: DynamoSession, table: str
) -> None:
    """BatchWriteItem with 26 requests is a ValidationException, so the library sends 25 at most."""
    requests = [{"PutRequest": {"Item": wire_key(f"w{i}")}} for i in range(26)]
    with pytest.raises(ValidationError):
        await ddb_session.call("BatchWriteItem", {"RequestItems": {table: requests}})


async def test_batch_get_over_100_keys_is_refused(ddb_session: DynamoSession, table: str) -> None:
    """BatchGetItem with 101 keys is a ValidationException, so the library sends 100 at most."""
    keys = [wire_key(f"k{i}") for i in range(101)]
    with pytest.raises(ValidationError):
        await ddb_session.call("BatchGetItem", {"RequestItems": {table: {"Keys": keys}}})


@pytest.mark.ddb_unsupported(
    "moto", reason="stores numbers with more than 38 significant digits or beyond 1E+125"
)
@pytest.mark.parametrize("number", ["1" * 39, "1E+126"])
async def test_numbers_beyond_dynamodb_range_are_refused(
    ddb_session: DynamoSession, table: str, number: str
) -> None:
    """A number with 39 significant digits or magnitude 1E+126 is a ValidationException."""
    with pytest.raises(ValidationError):
        await put(ddb_session, table, "n", x={"N": number})


@pytest.mark.ddb_unsupported(
    "moto", reason="omits LastEvaluatedKey when Limit is reached exactly at the last item"
)
async def test_limit_reached_exactly_still_returns_last_evaluated_key(
    repo: Repository,
) -> None:
    """A query whose Limit is reached on the last item returns LastEvaluatedKey (an empty page follows)."""
    await repo.batch_write(puts=[{"PK": "q", "SK": f"{i}"} for i in range(3)])
    page = await repo.query(Key("PK").eq("q"), limit=3)
    assert page.count == 3 and page.last_key == {"PK": "q", "SK": "2"}
    last = await repo.query(Key("PK").eq("q"), limit=3, start_key=page.last_key)
    assert (last.items, last.last_key) == ([], None)


async def test_pagination_helpers_tolerate_a_trailing_empty_page(repo: Repository) -> None:
    """query_all returns every item once whether or not the server sends a final empty page."""
    await repo.batch_write(puts=[{"PK": "e", "SK": f"{i}"} for i in range(6)])
    items = [i async for i in repo.query_all(Key("PK").eq("e"), page_size=3)]
    assert [i["SK"] for i in items] == ["0", "1", "2", "3", "4", "5"]


@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems / TransactGetItems")
async def test_transactions_are_supported(ddb_session: DynamoSession, table: str) -> None:
    """TransactWriteItems and TransactGetItems are available."""
    await ddb_session.call(
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": table, "Item": wire_key("t")}}]},
    )
    response = await ddb_session.call(
        "TransactGetItems", {"TransactItems": [{"Get": {"TableName": table, "Key": wire_key("t")}}]}
    )
    assert response["Responses"][0]["Item"] == wire_key("t")


@pytest.mark.ddb_unsupported(
    "dynalite", reason="no UpdateTimeToLive (DescribeTimeToLive: DISABLED)"
)
async def test_time_to_live_can_be_enabled(ddb_session: DynamoSession, table: str) -> None:
    """UpdateTimeToLive enables TTL on an attribute and DescribeTimeToLive reports it."""
    await ddb_session.call(
        "UpdateTimeToLive",
        {
            "TableName": table,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
        },
    )
    response = await ddb_session.call("DescribeTimeToLive", {"TableName": table})
    assert response["TimeToLiveDescription"]["AttributeName"] == "expires"


@pytest.mark.ddb_unsupported("dynalite", reason="no PartiQL (ExecuteStatement)")
async def test_partiql_select(ddb_session: DynamoSession, table: str) -> None:
    """ExecuteStatement runs a parameterised PartiQL SELECT."""
    await put(ddb_session, table, "p")
    response = await ddb_session.call(
        "ExecuteStatement",
        {"Statement": f'SELECT * FROM "{table}" WHERE PK = ?', "Parameters": [{"S": "p"}]},
    )
    assert response["Items"] == [wire_key("p")]


NO_ACCOUNT_OPS = pytest.mark.ddb_unsupported(
    "dynamodb-local", reason="no DescribeEndpoints or backups (UnknownOperationException)"
)


@pytest.mark.ddb_unsupported(
    "dynalite", reason="no DescribeLimits, DescribeEndpoints or backups (UnknownOperationException)"
)
@pytest.mark.parametrize(
    ("operation", "member", "kind"),
    [
        ("DescribeLimits", "AccountMaxReadCapacityUnits", int),
        pytest.param("DescribeEndpoints", "Endpoints", list, marks=NO_ACCOUNT_OPS),
        pytest.param("ListBackups", "BackupSummaries", list, marks=NO_ACCOUNT_OPS),
    ],
)
async def test_account_level_operations(
    ddb_session: DynamoSession, operation: str, member: str, kind: type
) -> None:
    """Account-level control-plane operations answer with their documented member."""
    response = await ddb_session.call(operation, {})
    assert isinstance(response[member], kind)
    if operation == "DescribeLimits":
        assert response[member] > 0
    if operation == "DescribeEndpoints":
        assert all(endpoint["Address"] for endpoint in response[member])


@pytest.mark.ddb_unsupported(
    "moto", reason="reports ConsumedCapacity even when ReturnConsumedCapacity was not asked for"
)
async def test_consumed_capacity_only_when_asked(ddb_session: DynamoSession, table: str) -> None:
    """UpdateItem without ReturnConsumedCapacity returns no ConsumedCapacity; with TOTAL it does."""
    params = {
        "TableName": table,
        "Key": wire_key("c"),
        "UpdateExpression": "SET n = :v",
        "ExpressionAttributeValues": {":v": {"N": "1"}},
    }
    response = await ddb_session.call("UpdateItem", params)
    assert "ConsumedCapacity" not in response
    response = await ddb_session.call("UpdateItem", {**params, "ReturnConsumedCapacity": "TOTAL"})
    assert response["ConsumedCapacity"]["CapacityUnits"] == 1


@pytest.mark.ddb_unsupported(
    "moto", reason="charges 1.0 RCU for an eventually consistent Query of one small item"
)
async def test_eventually_consistent_read_costs_half_a_unit(
    ddb_session: DynamoSession, table: str
) -> None:
    """An eventually consistent Query returning one small item consumes 0.5 read units."""
    await put(ddb_session, table, "r")
    response = await ddb_session.call(
        "Query",
        {
            "TableName": table,
            "KeyConditionExpression": "PK = :p",
            "ExpressionAttributeValues": {":p": {"S": "r"}},
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    assert response["ConsumedCapacity"]["CapacityUnits"] == 0.5


@pytest.mark.ddb_unsupported(
    "moto",
    "dynamodb-local",
    reason="DescribeTable ItemCount is live (DynamoDB refreshes it about every 6 hours)",
)
async def test_item_count_is_not_live(ddb_session: DynamoSession, table: str) -> None:
    """DescribeTable's ItemCount is not updated at once by a write (so never use it as a count)."""
    await put(ddb_session, table, "i")
    response = await ddb_session.call("DescribeTable", {"TableName": table})
    assert response["Table"]["ItemCount"] == 0


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ({"x": {"S": "x" * 410_000}}, "item over 400 KB"),
        ({"x": {"SS": []}}, "empty string set"),
    ],
)
async def test_invalid_items_are_refused_everywhere(
    ddb_session: DynamoSession, table: str, item: dict[str, Any], what: str
) -> None:
    """Items DynamoDB refuses (too large, empty set) are refused by every backend."""
    with pytest.raises(DynamoError) as info:
        await put(ddb_session, table, "bad", **item)
    assert info.value.code == "ValidationException", what
