"""Every error the library raises, and the one place DynamoDB failures are translated.

The tree::

    DynamoError                      root; carries operation, code, message, retryable, recommendation
                                     (``retryable`` is the rule the retry layer follows)
    ├── ValidationError              bad input (raised before sending) or DynamoDB's ValidationException
    │   ├── IdempotentParameterMismatch  a transaction token reused with other parameters
    │   └── WrongEventLoop           the session was called from a loop other than the one it opened on
    ├── ConditionFailed              a condition expression was false; ``item`` is the old item if known
    │   ├── ItemAlreadyExists        create refused to overwrite
    │   ├── VersionConflict          optimistic lock: the stored version is not the expected one
    │   └── InsufficientStock        a stock decrease would go below zero
    ├── ItemNotFound                 an update / stock change addressed an item that does not exist
    ├── BatchIncomplete              unprocessed keys / items left when a batch's deadline passed
    ├── TableNotFound                ResourceNotFoundException
    ├── TransactionCanceled          ``reasons`` lists one CancellationReason per item
    ├── AccessDenied                 credentials missing, expired or not allowed
    ├── PoolTimeout                  waited longer than ``acquire_timeout`` for a request slot
    ├── CircuitOpen                  the circuit breaker refuses calls while the endpoint is down
    ├── OutcomeUnknown               a write may or may not have been applied
    ├── SessionClosed                the session is not open
    └── (retryable)
        ├── Throttled                throughput exceeded / throttling / request limit
        ├── TransactionConflict      another transaction touched the same item
        ├── ServiceUnavailable       5xx, InternalServerError, ServiceUnavailable
        └── TransportError           connection refused / reset, timeouts, corrupted responses

botocore's exceptions never escape: :func:`translate_error` is the only function that looks at them,
and :func:`error_from_response` the only one that reads the fast path's error bodies; both end in
:func:`error_for_code`, the one map from DynamoDB's error codes to this tree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .redaction import redact_message

__all__ = [
    "AccessDenied",
    "BatchIncomplete",
    "CancellationReason",
    "CircuitOpen",
    "ConditionFailed",
    "DynamoError",
    "IdempotentParameterMismatch",
    "InsufficientStock",
    "ItemAlreadyExists",
    "ItemNotFound",
    "OutcomeUnknown",
    "PoolTimeout",
    "ServiceUnavailable",
    "SessionClosed",
    "TableNotFound",
    "Throttled",
    "TransactionCanceled",
    "TransactionConflict",
    "TransportError",
    "ValidationError",
    "VersionConflict",
    "WrongEventLoop",
    "translate_error",
]


class DynamoError(Exception):
    """Root of every error the library raises."""

    retryable: bool = False
    recommendation: str = "Inspect the error code and message."

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.code = code or type(self).__name__
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        return f"{where}{self.message} [{self.code}]"


class ValidationError(DynamoError):
    """The request is malformed; ``field`` names the offending input when it is known."""

    recommendation = "Fix the named field; the request was not sent or was refused as invalid."

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("code", "ValidationException")
        super().__init__(message, **kwargs)
        self.field = field


class IdempotentParameterMismatch(ValidationError):
    """A transaction's ``ClientRequestToken`` was reused with different parameters within the
    token's 10-minute window: DynamoDB refused it and applied nothing."""

    recommendation = (
        "Use a new client_request_token for a different transaction; reuse a token only to "
        "resend exactly the same request."
    )

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "IdempotentParameterMismatchException")
        kwargs.setdefault("field", "client_request_token")
        super().__init__(message, **kwargs)


class WrongEventLoop(ValidationError):
    """The session was called from an event loop other than the one that opened it.

    Nothing was sent and no state of the session was touched: it keeps serving its own loop.
    """

    recommendation = (
        "Open one session per event loop (in pytest, a session fixture of the same scope as the "
        "event loop); a session, its connections and its slots belong to the loop that opened it."
    )

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "WrongEventLoop")
        super().__init__(message, **kwargs)


class ConditionFailed(DynamoError):
    """A condition expression evaluated to false; nothing was written."""

    recommendation = "Re-read the item and decide; retrying the same request will fail again."

    def __init__(
        self, message: str, *, item: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("code", "ConditionalCheckFailedException")
        super().__init__(message, **kwargs)
        self.item = dict(item) if item is not None else None


class ItemAlreadyExists(ConditionFailed):
    recommendation = "Use update_item, or create_item(..., overwrite=True) to replace it."


class VersionConflict(ConditionFailed):
    recommendation = "Another writer changed the item: re-read it and apply the change again."


class InsufficientStock(ConditionFailed):
    recommendation = "The stock is lower than the requested decrease; nothing was changed."


class ItemNotFound(DynamoError):
    recommendation = "Create the item first; updates never create items implicitly."

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "ItemNotFound")
        super().__init__(message, **kwargs)


class BatchIncomplete(DynamoError):
    """A batch call still had unprocessed keys or items when its deadline passed.

    Not ``retryable``: the repository already resent the unprocessed part with backoff until
    ``batch_deadline``; ``unprocessed`` is what is left for the caller to decide about.
    """

    recommendation = "The table is throttling the batch: retry later or raise its capacity."

    def __init__(self, message: str, *, unprocessed: Sequence[Any] = (), **kwargs: Any) -> None:
        kwargs.setdefault("code", "BatchIncomplete")
        super().__init__(message, **kwargs)
        self.unprocessed = list(unprocessed)


class TableNotFound(DynamoError):
    recommendation = "Create the table (ensure_product_table) or check the table name and region."


@dataclass(frozen=True, slots=True)
class CancellationReason:
    """Why one item of a transaction was cancelled (``code`` is ``"None"`` for innocent items)."""

    code: str
    message: str | None = None
    item: Mapping[str, Any] | None = None


_TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


class TransactionCanceled(DynamoError):
    recommendation = "Look at .reasons: the items whose code is not 'None' caused the cancellation."

    def __init__(
        self, message: str, *, reasons: Sequence[CancellationReason] = (), **kwargs: Any
    ) -> None:
        kwargs.setdefault("code", "TransactionCanceledException")
        super().__init__(message, **kwargs)
        self.reasons = list(reasons)
        # cancelled only because of conflicts or throttling: nothing applied, worth resending
        codes = {reason.code for reason in self.reasons} - {"None"}
        self.retryable = bool(codes) and codes <= _TRANSIENT_REASONS


class AccessDenied(DynamoError):
    recommendation = "Check the AWS credential chain (env, profile, role) and the IAM policy."


class PoolTimeout(DynamoError):
    recommendation = "Raise max_concurrency or acquire_timeout, or offer less concurrent load."


class CircuitOpen(DynamoError):
    recommendation = "The endpoint is failing; the breaker will probe again after reset_timeout."


class OutcomeUnknown(DynamoError):
    recommendation = "The write may have been applied: re-read the item before acting again."


class SessionClosed(DynamoError):
    recommendation = "Use the session inside `async with DynamoSession(...)`."


class Throttled(DynamoError):
    retryable = True
    recommendation = "Back off and retry; consider on-demand capacity or spreading hot keys."


class TransactionConflict(DynamoError):
    retryable = True
    recommendation = "Retry: another transaction was working on one of the same items."


class ServiceUnavailable(DynamoError):
    retryable = True
    recommendation = "Transient server error: retry with backoff."


class TransportError(DynamoError):
    """The request or its response was lost or corrupted on the way; it may have executed.

    ``request_sent`` is False only when the connection could not be opened at all (refused,
    unresolvable, connect timeout): then the request provably never reached the server.
    """

    retryable = True
    recommendation = "Network trouble: retry idempotent requests; check the endpoint URL."

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequestsException",
}
_UNAVAILABLE = {
    "InternalServerError",
    "ServiceUnavailable",
    "InternalFailure",
    "ServiceUnavailableException",
}
_ACCESS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
}


def error_for_code(
    code: str,
    message: str,
    *,
    operation: str | None,
    status: int | None = None,
    request_id: str | None = None,
    item: Mapping[str, Any] | None = None,
    reasons: Sequence[CancellationReason] = (),
) -> DynamoError:
    """Map a DynamoDB error code (as found in the wire response) to the library's error class."""
    message = redact_message(message, status)
    reasons = [
        dataclasses.replace(r, message=redact_message(r.message, status)) if r.message else r
        for r in reasons
    ]
    common: dict[str, Any] = {
        "operation": operation,
        "code": code,
        "status": status,
        "request_id": request_id,
    }
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(message, item=item, **common)
    if code == "TransactionCanceledException":
        return TransactionCanceled(message, reasons=reasons, **common)
    if code == "IdempotentParameterMismatchException":
        return IdempotentParameterMismatch(message, **common)
    if code in _THROTTLING:
        return Throttled(message, **common)
    if code == "TransactionConflictException":
        return TransactionConflict(message, **common)
    if code in _UNAVAILABLE or (status is not None and status >= 500):
        return ServiceUnavailable(message, **common)
    if code == "ResourceNotFoundException":
        return TableNotFound(message, **common)
    if code in _ACCESS:
        return AccessDenied(message, **common)
    if code in {"ValidationException", "SerializationException"}:
        return ValidationError(message, **common)
    return DynamoError(message, **common)


def translate_error(exc: BaseException, operation: str | None) -> DynamoError:
    """Turn any failure of the transport or of DynamoDB into the library's typed error.

    ``asyncio.CancelledError`` must never be passed here: callers let it propagate.
    """
    if isinstance(exc, DynamoError):
        return exc
    # Imported here so that the module tree stays importable without touching botocore at import.
    import aiohttp
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        return _from_client_error(exc, operation)
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AccessDenied(str(exc), operation=operation, code="NoCredentials")
    if isinstance(exc, bce.ParamValidationError):
        return ValidationError(redact_message(str(exc)), operation=operation)
    if isinstance(exc, bce.ChecksumError):
        return TransportError(
            f"response failed its CRC32 check and was discarded: {exc}",
            operation=operation,
            code="ChecksumMismatch",
        )
    if isinstance(exc, bce.ConnectTimeoutError):
        return TransportError(
            f"connect timed out: {exc}",
            operation=operation,
            code="ConnectTimeout",
            request_sent=False,
        )
    if isinstance(exc, bce.EndpointConnectionError) and isinstance(
        getattr(exc, "kwargs", {}).get("error"), aiohttp.ClientConnectorError | OSError
    ):
        # aiobotocore raises EndpointConnectionError both for "could not connect"
        # (ClientConnectorError: nothing was sent) and for a reset after sending (other
        # ClientConnectionErrors): only the first proves the request never executed.
        error = exc.kwargs["error"]
        if isinstance(error, aiohttp.ClientConnectorError) or not isinstance(
            error, aiohttp.ClientError
        ):
            return TransportError(
                f"could not connect: {exc}",
                operation=operation,
                code="ConnectFailed",
                request_sent=False,
            )
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The fast path talks to aiohttp directly: a connection that never opened sent nothing.
        return TransportError(
            f"could not connect: {exc}",
            operation=operation,
            code="ConnectFailed",
            request_sent=False,
        )
    if isinstance(exc, bce.ReadTimeoutError | TimeoutError):
        return TransportError(f"timed out: {exc}", operation=operation, code="Timeout")
    if isinstance(
        exc,
        bce.EndpointConnectionError
        | bce.ConnectionClosedError
        | bce.HTTPClientError
        | aiohttp.ClientError
        | ConnectionError,
    ):
        return TransportError(
            f"connection failed: {exc}", operation=operation, code="ConnectionError"
        )
    if isinstance(exc, bce.BotoCoreError):
        return DynamoError(str(exc), operation=operation, code=type(exc).__name__)
    if isinstance(exc, asyncio.CancelledError):  # pragma: no cover - defensive
        raise exc
    # The text of an arbitrary exception may quote the request's data: only its type is kept.
    return DynamoError(
        f"unexpected {type(exc).__name__} (its message is withheld: it may quote request data)",
        operation=operation,
        code="Unexpected",
    )


def _from_client_error(exc: Any, operation: str | None) -> DynamoError:
    response: Mapping[str, Any] = exc.response
    err = response.get("Error", {})
    meta = response.get("ResponseMetadata", {})
    code = str(err.get("Code", "Unknown"))
    message = str(err.get("Message", "")) or code
    status = meta.get("HTTPStatusCode")
    request_id = meta.get("RequestId")
    return error_for_code(
        code,
        message,
        operation=operation,
        status=status,
        request_id=request_id,
        item=response.get("Item"),
        reasons=cancellation_reasons(response.get("CancellationReasons")),
    )


def cancellation_reasons(raw: Any) -> list[CancellationReason]:
    """A transaction's ``CancellationReasons`` (either path's form), one per item, in order."""
    return [
        CancellationReason(
            code=str(r.get("Code", "None")), message=r.get("Message"), item=r.get("Item")
        )
        for r in (raw or ())
        if isinstance(r, Mapping)
    ]


def error_from_response(
    operation: str,
    status: int,
    raw: bytes,
    request_id: str | None,
    *,
    decode: Callable[[bytes], Any],
) -> DynamoError:
    """The typed error for an error response body, parsed as botocore's JSON protocol parser
    does (the fast path's errors; ``decode`` is its codec, so binaries in an item are bytes)."""
    body: Mapping[str, Any]
    stripped = raw.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        code = str(status)
        message = http.client.responses.get(status, "")
        body = {}
    else:
        try:
            decoded = decode(raw)
        except ValueError:
            decoded = {"message": raw.decode("utf-8", "replace")}
        body = decoded if isinstance(decoded, Mapping) else {"message": str(decoded)}
        message = str(body.get("message", body.get("Message", "")))
        code = str(body.get("__type", str(status)))
        if ":" in code:
            code = code.split(":", 1)[0]
        if "#" in code:
            code = code.rsplit("#", 1)[1]
    return error_for_code(
        code,
        message or code,
        operation=operation,
        status=status,
        request_id=request_id,
        item=body.get("Item") if code == "ConditionalCheckFailedException" else None,
        reasons=(
            cancellation_reasons(body.get("CancellationReasons"))
            if code == "TransactionCanceledException"
            else ()
        ),
    )
