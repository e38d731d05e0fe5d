"""The data-plane fast path: DynamoDB JSON over the client's own connection pool, signed here.

For the ten operations the repositories use (:data:`FAST_OPERATIONS`), the session's innermost
call skips botocore's per-call machinery (parameter walk, event hooks, User-Agent rebuilds, the
legacy retry handler, response-shape walk) and does the work itself:

- the body is built by :mod:`.codec` (orjson when installed), with ``X-Amz-Target``,
  ``Content-Type: application/x-amz-json-1.0`` and ``Accept-Encoding: identity`` (the
  ``x-amz-crc32`` checksum covers the bytes on the wire);
- it is signed by :class:`.sigv4.SigV4Signer` (signing key cached per day) with the credentials
  aiobotocore resolves, fetched again on every attempt so refreshable credentials keep working;
- it goes to the endpoint the client's endpoint rules resolve (FIPS, dual-stack, account-ID
  endpoints), over the client's own aiohttp session (connector, TLS context, timeouts);
- every response's ``x-amz-crc32`` is verified (a mismatch is ``TransportError`` with code
  ``ChecksumMismatch``, as on the botocore path);
- the response is decoded into exactly what botocore's parser returns, and an error response is
  mapped by :func:`..errors.error_from_response` to the same typed error as the botocore path.

Anything else (table management, rare operations), proxied endpoints, unsigned clients and
clients whose internals do not look as verified go through aiobotocore unchanged. The private
attributes involved are all in :mod:`.aiobotocore`.
"""

from __future__ import annotations

import platform
import zlib
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiobotocore
import botocore
from yarl import URL

from ..errors import DynamoError, TransportError, ValidationError, error_from_response
from ..pipeline import DATA_PLANE_OPERATIONS, TABLE_OPERATIONS, Result
from .aiobotocore import ClientAdapter, FastPathUnavailable, probe, warn_once
from .codec import decode, encode
from .sigv4 import SignedTarget, SigV4Signer, amz_timestamp

__all__ = ["FAST_OPERATIONS", "FastPath", "library_user_agent"]

FAST_OPERATIONS = DATA_PLANE_OPERATIONS

_TARGET_PREFIX = "DynamoDB_20120810."
_CONTENT_TYPE = "application/x-amz-json-1.0"
_MAX_ROUTES = 1024

Fallback = Callable[[str, dict[str, Any]], Awaitable[Result]]


def library_user_agent() -> str:
    """The User-Agent both paths send, computed once: names the library and its stack."""
    try:
        ours = version("aiodynamo-patterns")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ours = "0.0.0"
    return (
        f"aiodynamo-patterns/{ours} aiobotocore/{aiobotocore.__version__} "
        f"botocore/{botocore.__version__} Python/{platform.python_version()} "
        f"{platform.system()}/{platform.release()}"
    )


class _Route:
    """Where and how one (operation, tables, account) is sent; ``None`` fields mean botocore."""

    __slots__ = ("extra_headers", "signer", "target", "url")

    def __init__(
        self, url: URL, target: SignedTarget, signer: SigV4Signer, extra: dict[str, str]
    ) -> None:
        self.url = url
        self.target = target
        self.signer = signer
        self.extra_headers = extra


def _resources(operation: str, params: dict[str, Any]) -> object:
    """The request's inputs to the endpoint rules besides the client's own settings."""
    if operation in TABLE_OPERATIONS:
        return params.get("TableName")
    if operation.startswith("Batch"):
        items = params.get("RequestItems")
        return tuple(items) if isinstance(items, dict) else None
    tables = []
    for action in params.get("TransactItems") or ():
        if isinstance(action, dict):
            for body in action.values():
                if isinstance(body, dict):
                    tables.append(body.get("TableName"))
    return tuple(tables)


class FastPath:
    """Sends data-plane requests for one open client; see the module docstring."""

    def __init__(
        self, client: Any, adapter: ClientAdapter, user_agent: str, fallback: Fallback
    ) -> None:
        self._adapter = adapter
        self._user_agent = user_agent
        #: aiobotocore's own path, for requests this one cannot take (proxied, unsigned, ...)
        self._compatible = fallback
        self._routes: dict[tuple[str, object, object], _Route | None] = {}
        self._signers: dict[tuple[str, str], SigV4Signer] = {}
        service_model = client.meta.service_model
        self._output_members = {
            op: frozenset(service_model.operation_model(op).output_shape.members)
            for op in FAST_OPERATIONS
        }
        self.active = True

    @classmethod
    async def open(cls, client: Any, user_agent: str, fallback: Fallback) -> FastPath | None:
        """A fast path for ``client``, or ``None`` when its internals do not allow one;
        ``fallback(operation, params)`` sends what it cannot over aiobotocore."""
        adapter = await probe(client)
        return cls(client, adapter, user_agent, fallback) if adapter is not None else None

    async def send(self, operation: str, params: dict[str, Any]) -> Result:
        """One attempt of ``operation``; raises the library's typed errors."""
        if not self.active:
            return await self._compatible(operation, params)
        credentials = await self._adapter.frozen_credentials()
        route = await self._route_for(operation, params, credentials)
        if route is None:
            return await self._compatible(operation, params)
        try:
            body = encode(params)
        except TypeError as exc:
            raise ValidationError(
                f"parameters cannot be sent: {exc}", field="params", operation=operation
            ) from None
        headers = {
            "X-Amz-Target": _TARGET_PREFIX + operation,
            "Content-Type": _CONTENT_TYPE,
            "User-Agent": self._user_agent,
            **route.extra_headers,
        }
        route.signer.sign(
            "POST",
            route.target,
            headers,
            body,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            token=credentials.token,
            timestamp=amz_timestamp(),
        )
        # Not signed (as on botocore's path): the checksum needs the identity-encoded bytes.
        headers["Accept-Encoding"] = "identity"
        post = self._adapter.aiohttp_session.post
        async with post(route.url, data=body, headers=headers) as response:
            raw = await response.read()
            status = response.status
            raw_headers = response.raw_headers
        return _parse(operation, status, raw, raw_headers, self._output_members[operation])

    async def _route_for(
        self, operation: str, params: dict[str, Any], credentials: Any
    ) -> _Route | None:
        """The cached route of this request (resolved by the endpoint rules once per key)."""
        try:
            # account_id feeds the account-ID endpoint rules (absent from older botocore's tuple)
            key = (
                operation,
                _resources(operation, params),
                getattr(credentials, "account_id", None),
            )
            return self._routes[key]
        except KeyError:
            route = await self._route(operation, params)
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[key] = route
            return route
        except TypeError:  # unhashable garbage where a table name belongs: resolve every time
            return await self._route(operation, params)

    async def _route(self, operation: str, params: dict[str, Any]) -> _Route | None:
        try:
            info = await self._adapter.endpoint(operation, params)
        except FastPathUnavailable as exc:
            warn_once(str(exc))
            self.active = False
            return None
        if info.proxied or not info.sigv4:
            return None
        signer_key = (info.signing_name, info.signing_region)
        signer = self._signers.get(signer_key)
        if signer is None:
            signer = self._signers[signer_key] = SigV4Signer(*signer_key)
        return _Route(
            URL(info.url, encoded=True), SignedTarget.from_url(info.url), signer, info.headers
        )


def _parse(
    operation: str,
    status: int,
    raw: bytes,
    raw_headers: tuple[tuple[bytes, bytes], ...],
    members: frozenset[str],
) -> Result:
    """The response as botocore's parser returns it (checksum verified), or its typed error."""
    received = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
    expected_crc = received.get("x-amz-crc32")
    if expected_crc is not None:
        actual = zlib.crc32(raw) & 0xFFFFFFFF
        if not expected_crc.isdigit() or int(expected_crc) != actual:
            raise TransportError(
                "response failed its CRC32 check and was discarded: Checksum crc32 failed, "
                f"expected checksum: {expected_crc} did not match calculated checksum: {actual}",
                operation=operation,
                code="ChecksumMismatch",
            )
    request_id = received.get("x-amzn-requestid")
    if status >= 300:
        raise error_from_response(operation, status, raw, request_id, decode=decode)
    try:
        parsed = decode(raw)
    except ValueError as exc:
        raise DynamoError(
            f"Unable to parse response ({exc}), invalid JSON received",
            operation=operation,
            code="ResponseParserError",
            status=status,
            request_id=request_id,
        ) from None
    if not isinstance(parsed, dict):
        raise DynamoError(
            "Unable to parse response, expected a JSON object",
            operation=operation,
            code="ResponseParserError",
            status=status,
            request_id=request_id,
        )
    for extra in [k for k in parsed if k not in members]:
        del parsed[extra]  # botocore keeps only modelled members
    metadata: dict[str, Any] = {"HTTPStatusCode": status, "HTTPHeaders": received}
    if request_id is not None:
        metadata["RequestId"] = request_id
    metadata["RetryAttempts"] = 0
    parsed["ResponseMetadata"] = metadata
    return parsed
