"""Failures from botocore and the transport arrive as the library's own typed errors."""

from __future__ import annotations

import aiohttp
import pytest
from botocore import exceptions as bce
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


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "1 validation error detected: Value 'secret' at 'key.PK' failed to satisfy constraint",
            "1 validation error detected: Value (withheld) at 'key.PK' failed to satisfy constraint",
        ),
        (
            "The parameter cannot be converted to a numeric value: secret-42",
            "The parameter cannot be converted to a numeric value (value withheld)",
        ),
        (
            "One or more parameter values were invalid: Input collection [secret, secret] "
            "contains duplicates.",
            "One or more parameter values were invalid: Input collection (withheld) "
            "contains duplicates.",
        ),
        (
            "<!doctype html>\n<title>500 Internal Server Error</title><p>secret</p>",
            "HTTP 500 Internal Server Error (the body was not a DynamoDB error)",
        ),
        ("The conditional request failed", "The conditional request failed"),
    ],
    ids=["aws-value-at", "numeric", "duplicates", "html-page", "no-value"],
)
def test_server_messages_never_carry_the_callers_data(message: str, expected: str) -> None:
    """A server message quoting a value reaches the error with the value withheld."""
    error = e.error_for_code(
        "ValidationException",
        message,
        operation="PutItem",
        status=500 if message.startswith("<") else 400,
    )
    assert error.message == expected
    assert "secret" not in str(error)


def test_cancellation_reason_messages_are_redacted_too() -> None:
    """Each cancellation reason's message goes through the same redaction."""
    error = e.error_for_code(
        "TransactionCanceledException",
        "Transaction cancelled",
        operation="TransactWriteItems",
        reasons=[
            e.CancellationReason("None"),
            e.CancellationReason("ValidationError", "Value 'secret' at 'item' failed"),
        ],
    )
    assert isinstance(error, e.TransactionCanceled)
    assert [r.message for r in error.reasons] == [None, "Value (withheld) at 'item' failed"]


def test_botocore_parameter_errors_and_unexpected_errors_quote_no_value() -> None:
    """botocore's 'value: ...' and an arbitrary exception's text never reach the message."""
    param = bce.ParamValidationError(
        report="Invalid type for parameter Item.x, value: {'secret', 1}, type: <class 'set'>, "
        "valid types: <class 'dict'>"
    )
    unexpected = RuntimeError("could not handle 'secret'")

    translated = [e.translate_error(param, "PutItem"), e.translate_error(unexpected, "PutItem")]

    assert isinstance(translated[0], e.ValidationError)
    assert "Item.x" in translated[0].message and "type: <class 'set'>" in translated[0].message
    assert translated[1].code == "Unexpected" and "RuntimeError" in translated[1].message
    assert all("secret" not in str(t) for t in translated)
