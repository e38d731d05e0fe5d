"""The wire codec must agree with botocore's own JSON serializer and parser, value for value."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from aiodynamo_patterns.wire import codec

MODEL = botocore.session.get_session().get_service_model("dynamodb")
BIN = b"\x00\xffbinary\n"
B64 = base64.b64encode(BIN).decode()
ITEM = {
    "PK": {"S": 'ü ß 🚀 "q"'},
    "n": {"N": "-12.500"},
    "b": {"B": BIN},
    "bs": {"BS": [BIN, b""]},
    "B": {"S": "an attribute named B"},
    "BS": {"L": [{"B": b"x"}, {"M": {"B": {"BS": [b"y"]}}}]},
    "ns": {"NS": ["1", "2"]},
    "ok": {"BOOL": True},
    "none": {"NULL": True},
    "m": {"M": {"deep": {"L": [{"N": "1"}, {"S": ""}]}}},
}
WIRE_ITEM = {
    "PK": {"S": 'ü ß 🚀 "q"'},
    "n": {"N": "-12.500"},
    "b": {"B": B64},
    "bs": {"BS": [B64, ""]},
    "B": {"S": "an attribute named B"},
    "BS": {"L": [{"B": "eA=="}, {"M": {"B": {"BS": ["eQ=="]}}}]},
    "ns": {"NS": ["1", "2"]},
    "ok": {"BOOL": True},
    "none": {"NULL": True},
    "m": {"M": {"deep": {"L": [{"N": "1"}, {"S": ""}]}}},
}

REQUESTS = [
    ("GetItem", {"TableName": "t", "Key": {"PK": {"B": BIN}}, "ConsistentRead": True}),
    (
        "PutItem",
        {
            "TableName": "t",
            "Item": ITEM,
            "ConditionExpression": "attribute_not_exists(#n0)",
            "ExpressionAttributeNames": {"#n0": "PK"},
        },
    ),
    (
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"PK": {"S": "a"}},
            "UpdateExpression": "SET #n0 = :v0",
            "ExpressionAttributeNames": {"#n0": "b"},
            "ExpressionAttributeValues": {":v0": {"BS": [BIN]}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    (
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "#n0 = :v0",
            "ExpressionAttributeNames": {"#n0": "PK"},
            "ExpressionAttributeValues": {":v0": {"S": "a"}},
            "Limit": 25,
            "ExclusiveStartKey": {"PK": {"B": BIN}},
        },
    ),
    (
        "BatchWriteItem",
        {
            "RequestItems": {
                "B": [
                    {"PutRequest": {"Item": ITEM}},
                    {"DeleteRequest": {"Key": {"PK": {"S": "x"}}}},
                ]
            }
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": ITEM}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"PK": {"S": "a"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ],
            "ClientRequestToken": "tok",
        },
    ),
]

RESPONSES = [
    ("GetItem", {"Item": WIRE_ITEM}),
    ("GetItem", {}),
    (
        "PutItem",
        {
            "Attributes": WIRE_ITEM,
            "ConsumedCapacity": {
                "TableName": "t",
                "CapacityUnits": 1.0,
                "GlobalSecondaryIndexes": {"B": {"CapacityUnits": 0.5}},
            },
        },
    ),
    (
        "Query",
        {
            "Items": [WIRE_ITEM, WIRE_ITEM],
            "Count": 2,
            "ScannedCount": 2,
            "LastEvaluatedKey": {"PK": {"B": B64}},
        },
    ),
    ("Scan", {"Items": [], "Count": 0, "ScannedCount": 0}),
    (
        "BatchGetItem",
        {
            "Responses": {"B": [WIRE_ITEM], "BS": [WIRE_ITEM], "t": []},
            "UnprocessedKeys": {
                "BS": {
                    "Keys": [{"PK": {"B": B64}}],
                    "ExpressionAttributeNames": {"#n0": "B"},
                    "ProjectionExpression": "#n0",
                }
            },
        },
    ),
    (
        "BatchWriteItem",
        {
            "UnprocessedItems": {
                "B": [
                    {"PutRequest": {"Item": WIRE_ITEM}},
                    {"DeleteRequest": {"Key": {"PK": {"B": B64}}}},
                ]
            },
            "ItemCollectionMetrics": {
                "B": [{"ItemCollectionKey": {"PK": {"B": B64}}, "SizeEstimateRangeGB": [0.0, 1.0]}]
            },
        },
    ),
    ("TransactGetItems", {"Responses": [{"Item": WIRE_ITEM}, {}]}),
    ("UpdateItem", {"Attributes": {"BS": {"BS": [B64]}, "B": {"B": B64}}}),
]


@pytest.fixture(params=["orjson", "json"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "json":
        monkeypatch.setattr(codec, "_encode", codec._encode_json)
        monkeypatch.setattr(codec, "_decode", codec._decode_json)
    elif codec.orjson is None:
        pytest.skip("orjson is not installed")
    yield request.param


@pytest.mark.parametrize(("operation", "params"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_body_equals_botocore_serializer(
    backend: str, operation: str, params: dict[str, Any]
) -> None:
    """The encoded body parses to exactly the JSON botocore's serializer would send."""
    serializer = create_serializer("json", include_validation=True)
    expected = serializer.serialize_to_request(params, MODEL.operation_model(operation))["body"]

    body = codec.encode(params)

    assert json.loads(body) == json.loads(expected)


@pytest.mark.parametrize(("operation", "wire"), RESPONSES, ids=[r[0] for r in RESPONSES])
def test_decoded_response_equals_botocore_parser(
    backend: str, operation: str, wire: dict[str, Any]
) -> None:
    """The decoded body equals botocore's parsed response (binaries bytes, numbers strings)."""
    raw = json.dumps(wire).encode()
    parser = create_parser("json")
    expected = parser.parse(
        {"body": raw, "headers": {}, "status_code": 200},
        MODEL.operation_model(operation).output_shape,
    )
    expected.pop("ResponseMetadata", None)

    assert codec.decode(raw) == expected


def test_values_that_are_not_wire_values_are_refused(backend: str) -> None:
    """A value botocore could not serialize either is refused, not sent as garbage."""
    with pytest.raises(TypeError):
        codec.encode({"TableName": "t", "Item": {"a": {"S": object()}}})
