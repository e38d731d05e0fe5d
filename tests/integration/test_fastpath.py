"""The fast path: signed like botocore, same results and errors as aiobotocore, safe fallback."""

from __future__ import annotations

import datetime
import json
import logging
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aiodynamo_patterns import (
    AccessDenied,
    CancellationReason,
    ConditionFailed,
    DynamoError,
    DynamoSession,
    Repository,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    TransactionCanceled,
    ValidationError,
)
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.wire import aiobotocore as adapter
from aiodynamo_patterns.wire.fastpath import FastPath

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/"
    r"aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class SigningServer:
    """A DynamoDB look-alike that re-signs every request with botocore and refuses bad ones."""

    url: str = ""
    keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    reply: tuple[int, bytes] = (200, b"{}")
    seen: list[dict[str, str]] = field(default_factory=list)

    def refusal(self, request: web.Request, body: bytes) -> str | None:
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return "MissingAuthenticationTokenException"
        if match["key"] not in self.keys:
            return "UnrecognizedClientException"
        secret, token = self.keys[match["key"]]
        if token is not None and request.headers.get("X-Amz-Security-Token") != token:
            return "UnrecognizedClientException"
        signed = {name: request.headers[name] for name in match["signed"].split(";")}
        aws = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.path_qs}",
            data=body,
            headers=signed,
        )
        aws.context["timestamp"] = request.headers["X-Amz-Date"]
        auth = SigV4Auth(
            Credentials(match["key"], secret, token), match["service"], match["region"]
        )
        expected = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
        return None if expected == match["signature"] else "InvalidSignatureException"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(dict(request.headers))
        refusal = self.refusal(request, body)
        if refusal is not None:
            status, payload = (
                400,
                json.dumps(
                    {"__type": f"com.amazon.coral.service#{refusal}", "message": "refused"}
                ).encode(),
            )
        else:
            status, payload = self.reply
        return web.Response(
            status=status,
            body=payload,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-RequestId": "req-1",
                "x-amz-crc32": str(zlib.crc32(payload) & 0xFFFFFFFF),
            },
        )


@pytest.fixture
async def fake() -> AsyncIterator[SigningServer]:
    server = SigningServer(keys={"AKIDGOOD": ("good-secret", None)})
    app = web.Application()
    app.router.add_post("/", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started above
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def _session(fake: SigningServer, mode: SessionMode, **credentials: Any) -> DynamoSession:
    credentials.setdefault("aws_access_key_id", "AKIDGOOD")
    credentials.setdefault("aws_secret_access_key", "good-secret")
    # No retry or breaker: these tests look at what one request's answer becomes.
    return DynamoSession(
        endpoint_url=fake.url,
        region_name="eu-west-1",
        mode=mode,
        retry=None,
        breaker=None,
        **credentials,
    )


KEY = {"TableName": "tbl", "Key": {"PK": {"S": "ü/ +=&?"}}}


@pytest.mark.parametrize(
    "token", [None, "FwoGZXIvYXdz//token+with/odd=chars"], ids=["no-token", "token"]
)
async def test_requests_pass_a_server_that_verifies_signatures_with_botocore(
    fake: SigningServer, ddb_session_mode: SessionMode, token: str | None
) -> None:
    """Both paths' requests (with or without a session token) verify against botocore's SigV4."""
    fake.keys["AKIDGOOD"] = ("good-secret", token)
    fake.reply = (200, b'{"Item":{"PK":{"S":"a"},"b":{"B":"AAE="}}}')

    async with _session(fake, ddb_session_mode, aws_session_token=token) as s:
        got = await s.call("GetItem", KEY)

    assert got["Item"] == {"PK": {"S": "a"}, "b": {"B": b"\x00\x01"}}
    assert got["ResponseMetadata"]["RequestId"] == "req-1"
    sent = fake.seen[-1]
    assert sent["X-Amz-Target"] == "DynamoDB_20120810.GetItem"
    assert sent["Content-Type"] == "application/x-amz-json-1.0"
    assert sent["Accept-Encoding"] == "identity"
    assert sent["User-Agent"].startswith("aiodynamo-patterns/")


async def test_a_wrong_secret_is_refused(
    fake: SigningServer, ddb_session_mode: SessionMode
) -> None:
    """The verifying server is not a rubber stamp: a wrong secret gets InvalidSignature."""
    async with _session(fake, ddb_session_mode, aws_secret_access_key="bad-secret") as s:
        with pytest.raises(AccessDenied) as info:
            await s.call("GetItem", KEY)

    assert info.value.code == "InvalidSignatureException"


async def test_credentials_are_resolved_on_every_attempt(fake: SigningServer) -> None:
    """Rotated credentials are used on the next call: the fast path never keeps its own copy."""
    fake.keys = {"AKIDOLD": ("old-secret", None)}
    async with _session(
        fake, "fast", aws_access_key_id="AKIDOLD", aws_secret_access_key="old-secret"
    ) as s:
        assert s.fast_path_active
        await s.call("GetItem", KEY)
        credentials = s.client._request_signer._credentials  # type: ignore[attr-defined]  # test reaches in on purpose
        fake.keys = {"AKIDNEW": ("new-secret", None)}
        credentials.access_key, credentials.secret_key = "AKIDNEW", "new-secret"

        await s.call("GetItem", KEY)

    assert "Credential=AKIDNEW/" in fake.seen[-1]["Authorization"]


ITEM_WIRE = {"PK": {"S": "a"}, "b": {"B": "AAE="}}
ITEM = {"PK": {"S": "a"}, "b": {"B": b"\x00\x01"}}
ERRORS: list[tuple[str, int, Any, type[DynamoError], str, str]] = [
    # id, status, body, class, code, message
    (
        "condition",
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": ITEM_WIRE,
        },
        ConditionFailed,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    ),
    (
        "transaction",
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled",
            "CancellationReasons": [
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed", "Message": "no", "Item": ITEM_WIRE},
            ],
        },
        TransactionCanceled,
        "TransactionCanceledException",
        "Transaction cancelled",
    ),
    (
        "throttled",
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "slow down",
        },
        Throttled,
        "ProvisionedThroughputExceededException",
        "slow down",
    ),
    (
        "missing-table",
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found",
        },
        TableNotFound,
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "validation",
        400,
        {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad key"},
        ValidationError,
        "ValidationException",
        "bad key",
    ),
    ("empty-500", 500, b"", ServiceUnavailable, "500", "Internal Server Error"),
    ("html-503", 503, b"<html>down</html>", ServiceUnavailable, "503", "Service Unavailable"),
    ("not-json-400", 400, b"oops", DynamoError, "400", "oops"),
]


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
async def test_error_responses_map_to_the_same_typed_errors(
    fake: SigningServer,
    ddb_session_mode: SessionMode,
    status: int,
    body: Any,
    cls: type[DynamoError],
    code: str,
    message: str,
) -> None:
    """Each wire error becomes the same class, code, message, item and reasons on both paths."""
    fake.reply = (status, body if isinstance(body, bytes) else json.dumps(body).encode())

    async with _session(fake, ddb_session_mode) as s:
        with pytest.raises(DynamoError) as info:
            await s.call("PutItem", {"TableName": "tbl", "Item": ITEM})

    error = info.value
    assert (type(error), error.code, error.message, error.status) == (cls, code, message, status)
    assert error.operation == "PutItem"
    if isinstance(error, ConditionFailed):
        assert error.item == ITEM
    if isinstance(error, TransactionCanceled):
        assert error.reasons == [
            CancellationReason("None"),
            CancellationReason("ConditionalCheckFailed", "no", ITEM),
        ]
    if status < 500:
        assert error.request_id == "req-1"


async def test_data_plane_only_takes_the_fast_path(
    ddb_session: DynamoSession, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetItem goes through the fast path in fast mode; DescribeTable always through aiobotocore."""
    calls: list[str] = []
    original = FastPath.send

    async def spy(self: FastPath, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return await original(self, operation, params)

    monkeypatch.setattr(FastPath, "send", spy)

    await ddb_session.call("DescribeTable", {"TableName": table})
    await Repository(ddb_session, table).get_item({"PK": "a", "SK": "b"})

    assert calls == (["GetItem"] if ddb_session.mode == "fast" else [])
    assert ddb_session.fast_path_active == (ddb_session.mode == "fast")


async def test_a_renamed_private_attribute_falls_back_with_one_warning(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If aiobotocore renames an internal, sessions run in compatible mode after ONE warning."""
    monkeypatch.setitem(adapter.PRIVATE, "get_session", "_get_session_renamed")
    monkeypatch.setattr(adapter, "_warned", set())
    from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS

    with caplog.at_level(logging.WARNING, logger="aiodynamo_patterns"):
        for _ in range(2):
            async with DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS) as s:
                assert not s.fast_path_active
                assert await Repository(s, table).get_item({"PK": "a", "SK": "b"}) is None

    warnings = [r for r in caplog.records if "fast path disabled" in r.getMessage()]
    assert len(warnings) == 1
    assert "_get_session_renamed" in warnings[0].getMessage()


async def test_an_unverified_aiobotocore_release_stays_on_the_compatible_path(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside the releases the fast path was verified on, sessions use aiobotocore's own path
    after one warning naming the release; the calls still work."""
    monkeypatch.setattr(adapter.aiobotocore, "__version__", "4.0.0")
    monkeypatch.setattr(adapter, "_warned", set())
    from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS

    with caplog.at_level(logging.WARNING, logger="aiodynamo_patterns"):
        async with DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS) as s:
            assert not s.fast_path_active
            assert await Repository(s, table).get_item({"PK": "a", "SK": "b"}) is None
    (warning,) = [r for r in caplog.records if "fast path disabled" in r.getMessage()]
    assert "aiobotocore 4.0.0" in warning.getMessage()


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.25.1", True),
        ("2.26.0", True),
        ("3.10.0", True),
        ("3.10.2", True),
        ("2.25.0", False),
        ("3.11.0", False),
        ("4.0.0", False),
        ("3.0.0rc1", True),
    ],
)
def test_the_verified_release_range(version: str, expected: bool) -> None:
    """The fast path's verified range is 2.25.1 up to (not including) 3.11."""
    assert adapter.verified(version) is expected


async def test_a_failure_inside_the_internals_falls_back_at_run_time(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An internal that changed shape at call time switches the session to compatible mode."""
    monkeypatch.setattr(adapter, "_warned", set())

    async def broken(self: Any, operation: str, params: dict[str, Any]) -> Any:
        raise adapter.FastPathUnavailable("endpoint resolution changed shape")

    monkeypatch.setattr(adapter.ClientAdapter, "endpoint", broken)
    from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS

    async with DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS) as s:
        assert s.fast_path_active
        repo = Repository(s, table)
        await repo.put_item({"PK": "a", "SK": "b", "v": 1})
        assert await repo.get_item({"PK": "a", "SK": "b"}) == {"PK": "a", "SK": "b", "v": 1}
        assert not s.fast_path_active

    assert sum("fast path disabled" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"Key": {}}, "TableName"),
        ({"TableName": "tbl", "Key": {}, "Bogus": 1}, "Bogus"),
        ({"TableName": 7, "Key": {}}, "TableName"),
        ({"TableName": "", "Key": {}}, "TableName"),
        ({"TableName": "tbl", "Key": {}, "ConsistentRead": "yes"}, "ConsistentRead"),
    ],
    ids=["missing", "unknown", "wrong-type", "too-short", "not-bool"],
)
async def test_bad_top_level_parameters_are_refused_before_sending(
    fake: SigningServer, ddb_session_mode: SessionMode, params: dict[str, Any], field_name: str
) -> None:
    """With botocore's validation off, the library still refuses malformed calls unsent."""
    async with _session(fake, ddb_session_mode) as s:
        with pytest.raises(ValidationError) as info:
            await s.call("GetItem", params)

    assert info.value.field == field_name
    assert fake.seen == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "https://dynamodb.eu-west-1.amazonaws.com"),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "https://dynamodb-fips.eu-west-1.amazonaws.com"),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "https://dynamodb.eu-west-1.api.aws"),
        ({"AWS_ACCOUNT_ID": "111122223333"}, "https://111122223333.ddb.eu-west-1.amazonaws.com"),
    ],
    ids=["regional", "fips", "dual-stack", "account-id"],
)
async def test_the_endpoint_comes_from_the_clients_endpoint_rules(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    """FIPS, dual-stack and account-ID endpoints resolve as aiobotocore would (nothing is sent)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async with DynamoSession(region_name="eu-west-1") as s:
        fast = s._fast
        assert fast is not None
        info = await fast._adapter.endpoint("GetItem", {"TableName": "t", "Key": {}})

    assert (info.url, info.signing_region, info.signing_name) == (expected, "eu-west-1", "dynamodb")
    assert info.sigv4 and not info.proxied


async def test_a_proxied_endpoint_stays_on_aiobotocores_path(
    fake: SigningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY covering the endpoint, the fast path hands the call to aiobotocore."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    calls: list[str] = []

    async with _session(fake, "fast") as s:
        s.client.meta.events.register(
            "before-call.dynamodb.GetItem", lambda **kw: calls.append("botocore")
        )
        with pytest.raises(DynamoError):
            await s.call("GetItem", KEY)  # the proxy at port 9 refuses: proof it was used

    assert calls == ["botocore"]
    assert fake.seen == []


async def test_refreshable_credentials_are_refreshed_by_aiobotocore(
    fake: SigningServer, monkeypatch: pytest.MonkeyPatch, ddb_session_mode: SessionMode
) -> None:
    """Credentials from the chain that expire mid-session are refreshed before the next call."""
    from aiobotocore.credentials import AioRefreshableCredentials
    from aiobotocore.session import AioSession

    start = datetime.datetime.now(datetime.UTC)
    clock = [start]
    refreshes: list[str] = []

    async def refresh() -> dict[str, str]:
        refreshes.append("refresh")
        return {
            "access_key": "AKIDFRESH",
            "secret_key": "fresh-secret",
            "token": "fresh-token",
            "expiry_time": (clock[0] + datetime.timedelta(hours=1)).isoformat(),
        }

    credentials = AioRefreshableCredentials(
        "AKIDFIRST",
        "first-secret",
        None,
        start + datetime.timedelta(hours=1),
        refresh,
        "test",
        time_fetcher=lambda: clock[0],
    )

    async def chain(self: AioSession) -> AioRefreshableCredentials:
        return credentials

    monkeypatch.setattr(AioSession, "get_credentials", chain)
    fake.keys = {"AKIDFIRST": ("first-secret", None)}

    async with DynamoSession(
        endpoint_url=fake.url, region_name="eu-west-1", mode=ddb_session_mode
    ) as s:
        assert s.fast_path_active == (ddb_session_mode == "fast")
        await s.call("GetItem", KEY)
        clock[0] = start + datetime.timedelta(hours=2)  # the first credentials have expired
        fake.keys = {"AKIDFRESH": ("fresh-secret", "fresh-token")}

        await s.call("GetItem", KEY)

    assert refreshes == ["refresh"]
    assert "Credential=AKIDFIRST/" in fake.seen[0]["Authorization"]
    assert "Credential=AKIDFRESH/" in fake.seen[-1]["Authorization"]
    assert fake.seen[-1]["X-Amz-Security-Token"] == "fresh-token"
