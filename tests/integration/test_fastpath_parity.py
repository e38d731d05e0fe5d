"""The same script of data-plane calls gives identical responses and errors in both modes."""

from __future__ import annotations

import uuid
from typing import Any

from aiodynamo_patterns import DynamoError, DynamoSession, create_table, delete_table
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS

BIN = b"\x00\xff\x10"


def _script(t: str) -> list[tuple[str, dict[str, Any]]]:
    key = {"PK": {"S": "p#1"}, "SK": {"S": "s#1"}}
    item = {
        **key,
        "n": {"N": "1.50"},
        "b": {"B": BIN},
        "bs": {"BS": [BIN, b"x"]},
        "B": {"S": "B"},
        "m": {"M": {"l": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    other = {"PK": {"S": "p#1"}, "SK": {"S": "s#2"}, "b": {"B": b"second"}}
    return [
        ("PutItem", {"TableName": t, "Item": item, "ReturnValues": "ALL_OLD"}),
        ("PutItem", {"TableName": t, "Item": item, "ReturnValues": "ALL_OLD"}),
        ("PutItem", {"TableName": t, "Item": other}),
        (
            "UpdateItem",
            {
                "TableName": t,
                "Key": key,
                "UpdateExpression": "SET #n0 = :v0 ADD #n1 :v1",
                "ExpressionAttributeNames": {"#n0": "x", "#n1": "bs"},
                "ExpressionAttributeValues": {":v0": {"S": "ü 🚀"}, ":v1": {"BS": [b"y"]}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("GetItem", {"TableName": t, "Key": key, "ConsistentRead": True}),
        ("GetItem", {"TableName": t, "Key": {"PK": {"S": "none"}, "SK": {"S": "none"}}}),
        (
            "Query",
            {
                "TableName": t,
                "KeyConditionExpression": "#n0 = :v0",
                "ExpressionAttributeNames": {"#n0": "PK"},
                "ExpressionAttributeValues": {":v0": {"S": "p#1"}},
                "Limit": 1,
            },
        ),
        ("Scan", {"TableName": t}),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    t: [
                        {
                            "PutRequest": {
                                "Item": {"PK": {"S": "p#2"}, "SK": {"S": "s"}, "b": {"B": BIN}}
                            }
                        },
                        {"DeleteRequest": {"Key": {"PK": {"S": "p#1"}, "SK": {"S": "s#2"}}}},
                    ]
                }
            },
        ),
        (
            "BatchGetItem",
            {"RequestItems": {t: {"Keys": [key, {"PK": {"S": "p#2"}, "SK": {"S": "s"}}]}}},
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": t,
                            "Key": key,
                            "UpdateExpression": "SET #n0 = :v0",
                            "ExpressionAttributeNames": {"#n0": "t"},
                            "ExpressionAttributeValues": {":v0": {"B": BIN}},
                        }
                    }
                ]
            },
        ),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": t, "Key": key}}]}),
        (
            "PutItem",
            {
                "TableName": t,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "ConditionCheck": {
                            "TableName": t,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(PK)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                ]
            },
        ),
        ("GetItem", {"TableName": f"{t}-missing", "Key": key}),
        ("DeleteItem", {"TableName": t, "Key": key, "ReturnValues": "ALL_OLD"}),
    ]


def _comparable(result: Any, table: str) -> Any:
    if isinstance(result, DynamoError):
        return (
            type(result).__name__,
            result.code,
            result.message.replace(table, "T"),
            getattr(result, "item", None),
            getattr(result, "reasons", None),
            result.status,
        )
    result = dict(result)
    result.pop("ResponseMetadata")
    for name in ("Responses", "UnprocessedKeys", "UnprocessedItems"):
        if isinstance(result.get(name), dict):
            result[name] = {k.replace(table, "T"): v for k, v in result[name].items()}
    if isinstance(result.get("Responses"), dict):
        # BatchGetItem answers in no particular order (dynalite and DynamoDB differ from moto).
        result["Responses"] = {
            k: sorted(v, key=repr) if isinstance(v, list) else v
            for k, v in result["Responses"].items()
        }
    return result


async def _run(endpoint: str, mode: str, table: str) -> list[Any]:
    outcomes: list[Any] = []
    async with DynamoSession(endpoint_url=endpoint, mode=mode, **DUMMY_CREDENTIALS) as s:  # type: ignore[arg-type]  # mode is one of the two literals
        assert s.fast_path_active == (mode == "fast")
        await create_table(s, table)
        try:
            for operation, params in _script(table):
                try:
                    outcomes.append(_comparable(await s.call(operation, params), table))
                except DynamoError as exc:
                    outcomes.append(_comparable(exc, table))
        finally:
            await delete_table(s, table)
    return outcomes


async def test_both_modes_return_identical_responses_and_errors(
    ddb_endpoint: str, ddb_backend: str
) -> None:
    """Every data-plane operation, success or error, comes back identical on both paths."""
    table = f"parity-{uuid.uuid4().hex[:8]}"  # the same name in both runs: it shows in responses
    fast = await _run(ddb_endpoint, "fast", table)
    compatible = await _run(ddb_endpoint, "compatible", table)

    for step, (a, b) in enumerate(zip(fast, compatible, strict=True)):
        assert a == b, f"step {step}: {_script('T')[step][0]}"
    assert any(isinstance(o, tuple) and o[0] == "ConditionFailed" for o in fast)
    if ddb_backend != "dynalite":  # dynalite has no transactions: both paths get the same error
        assert any(isinstance(o, tuple) and o[0] == "TransactionCanceled" for o in fast)
