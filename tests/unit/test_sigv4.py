"""The cached-key signer must produce exactly botocore's SigV4 Authorization header."""

from __future__ import annotations

import datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aiodynamo_patterns.wire.sigv4 import SignedTarget, SigV4Signer, amz_timestamp

FROZEN = datetime.datetime(2026, 11, 27, 16, 35, 7, tzinfo=datetime.UTC)
JSON = "application/x-amz-json-1.0"

CASES = [
    # (id, url, headers, body, token)
    (
        "get-item",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        {"Content-Type": JSON, "X-Amz-Target": "DynamoDB_20120810.GetItem"},
        b'{"TableName":"t","Key":{"PK":{"S":"a"}}}',
        None,
    ),
    (
        "session-token",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        {"Content-Type": JSON, "X-Amz-Target": "DynamoDB_20120810.PutItem"},
        b'{"TableName":"t","Item":{"PK":{"S":"a"}}}',
        "FwoGZXIvYXdzEJr//////////wEaDOdd+token/with=odd+chars==",
    ),
    (
        "empty-body",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        {"Content-Type": JSON, "X-Amz-Target": "DynamoDB_20120810.ListTables"},
        b"",
        None,
    ),
    (
        "odd-characters-in-keys",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        {"Content-Type": JSON, "X-Amz-Target": "DynamoDB_20120810.GetItem"},
        '{"TableName":"t","Key":{"PK":{"S":"ü ß/ \\"q\\" 🚀 a+b=c&d"}}}'.encode(),
        "tok",
    ),
    (
        "local-port-and-extra-headers",
        "http://127.0.0.1:8000",
        {
            "Content-Type": JSON,
            "X-Amz-Target": "DynamoDB_20120810.Query",
            "User-Agent": "not signed",
            "X-Custom": "  spaced   out  value ",
            "amz-sdk-invocation-id": "0f1e",
        },
        b'{"TableName":"t"}',
        None,
    ),
    (
        "path-and-query",
        "https://example.com:443/a/./b/../c%20d/~e?z=1&a=2&a=1",
        {"Content-Type": JSON},
        b"{}",
        None,
    ),
    (
        "ipv6",
        "http://[::1]:8000/",
        {"Content-Type": JSON, "X-Amz-Target": "DynamoDB_20120810.Scan"},
        b'{"TableName":"t"}',
        None,
    ),
]


def _botocore_authorization(
    url: str, headers: dict[str, str], body: bytes, token: str | None, secret: str
) -> tuple[str, dict[str, str]]:
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("AKIDEXAMPLE", secret, token), "dynamodb", "eu-west-1").add_auth(request)
    return request.headers["Authorization"], dict(request.headers.items())


@pytest.mark.parametrize(
    ("url", "headers", "body", "token"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_authorization_is_byte_identical_to_botocore(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    headers: dict[str, str],
    body: bytes,
    token: str | None,
) -> None:
    """At a frozen clock the signer's headers equal botocore SigV4Auth's, byte for byte."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FROZEN)
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    expected_auth, expected_headers = _botocore_authorization(url, headers, body, token, secret)
    signer = SigV4Signer("dynamodb", "eu-west-1")
    ours = dict(headers)

    signer.sign(
        "POST",
        SignedTarget.from_url(url),
        ours,
        body,
        access_key="AKIDEXAMPLE",
        secret_key=secret,
        token=token,
        timestamp=amz_timestamp(FROZEN.timestamp()),
    )

    assert ours["Authorization"] == expected_auth
    assert ours == expected_headers


def test_signing_key_is_derived_once_per_day_and_secret() -> None:
    """The four-HMAC derivation runs once per (secret, day), and a new day or secret re-derives."""
    signer = SigV4Signer("dynamodb", "eu-west-1")

    first = signer.signing_key("s1", "20261127")
    again = signer.signing_key("s1", "20261127")
    next_day = signer.signing_key("s1", "20261128")
    rotated = signer.signing_key("s2", "20261127")

    assert first is again
    assert len({first, next_day, rotated}) == 3


def test_a_different_secret_gives_a_different_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong secret never reproduces botocore's header (the comparison above can fail)."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FROZEN)
    url, headers, body = CASES[0][1], CASES[0][2], CASES[0][3]
    expected, _ = _botocore_authorization(url, headers, body, None, "right")
    ours = dict(headers)

    SigV4Signer("dynamodb", "eu-west-1").sign(
        "POST",
        SignedTarget.from_url(url),
        ours,
        body,
        access_key="AKIDEXAMPLE",
        secret_key="wrong",
        token=None,
        timestamp=amz_timestamp(FROZEN.timestamp()),
    )

    assert ours["Authorization"] != expected
