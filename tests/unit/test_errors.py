"""Failures from botocore and the transport arrive as the library's own typed errors."""

from __future__ import annotations

import aiohttp
import pytest
from botocore.exceptions import (
    ChecksumError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from aiodynamo_patterns import errors as e


def client_error(code: str, status: int = 400, **extra: object) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "rid-1"},
        **extra,
    }
    return ClientError(response, "UpdateItem")  # type: ignore[arg-type]  # botocore's own shape


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable"),
    [
        ("ConditionalCheckFailedException", 400, e.ConditionFailed, False),
        ("ProvisionedThroughputExceededException", 400, e.Throttled, True),
        ("ThrottlingException", 400, e.Throttled, True),
        ("RequestLimitExceeded", 400, e.Throttled, True),
        ("TransactionConflictException", 400, e.TransactionConflict, True),
        ("InternalServerError", 500, e.ServiceUnavailable, True),
        ("ServiceUnavailable", 503, e.ServiceUnavailable, True),
        ("ResourceNotFoundException", 400, e.TableNotFound, False),
        ("ValidationException", 400, e.ValidationError, False),
        ("UnrecognizedClientException", 400, e.AccessDenied, False),
        ("SomethingNew", 400, e.DynamoError, False),
    ],
)
def test_client_errors_map_by_code(
    code: str, status: int, cls: type[e.DynamoError], retryable: bool
) -> None:
    """Each DynamoDB error code becomes its class, keeping code, operation and request id."""
    err = e.translate_error(client_error(code, status), "UpdateItem")
    assert type(err) is cls
    assert (err.code, err.operation, err.request_id, err.retryable) == (
        code,
        "UpdateItem",
        "rid-1",
        retryable,
    )
    assert err.recommendation


def test_condition_failure_keeps_old_item_and_cancellation_reasons() -> None:
    """The old item and per-item cancellation reasons travel with the error."""
    cf = e.translate_error(
        client_error("ConditionalCheckFailedException", Item={"PK": {"S": "p"}}), "PutItem"
    )
    assert isinstance(cf, e.ConditionFailed) and cf.item == {"PK": {"S": "p"}}
    tc = e.translate_error(
        client_error(
            "TransactionCanceledException",
            CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
        ),
        "TransactWriteItems",
    )
    assert isinstance(tc, e.TransactionCanceled)
    assert [r.code for r in tc.reasons] == ["None", "ConditionalCheckFailed"]


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), e.TransportError, "ConnectionError"),
        (ReadTimeoutError(endpoint_url="http://x"), e.TransportError, "Timeout"),
        (
            ChecksumError(checksum_type="crc32", expected_checksum=1, actual_checksum=2),
            e.TransportError,
            "ChecksumMismatch",
        ),
        (aiohttp.ServerDisconnectedError(), e.TransportError, "ConnectionError"),
        (TimeoutError(), e.TransportError, "Timeout"),
        (NoCredentialsError(), e.AccessDenied, "NoCredentials"),
    ],
)
def test_transport_failures_are_typed(exc: Exception, cls: type[e.DynamoError], code: str) -> None:
    """Connection, timeout, checksum and credential failures are typed, never botocore's."""
    err = e.translate_error(exc, "GetItem")
    assert type(err) is cls and err.code == code


def test_error_str_names_operation_and_code() -> None:
    """str() of an error reads as one line with the operation and the code."""
    err = e.Throttled("slow down", operation="GetItem", code="ThrottlingException")
    assert str(err) == "GetItem: slow down [ThrottlingException]"
