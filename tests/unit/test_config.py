"""Session configuration: every bad setting is a ValidationError naming the argument."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession, SessionConfig, ValidationError
from aiodynamo_patterns.layers.retry import RetryPolicy

CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}
LOCAL = {"endpoint_url": "http://127.0.0.1:9", **CREDENTIALS}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("not a url", {"endpoint_url": "not a url"}, "endpoint_url"),
    ("no scheme", {"endpoint_url": "localhost:8000"}, "endpoint_url"),
    ("ftp", {"endpoint_url": "ftp://localhost:8000"}, "endpoint_url"),
    ("port too big", {"endpoint_url": "http://127.0.0.1:99999"}, "endpoint_url"),
    ("negative port", {"endpoint_url": "http://127.0.0.1:-1"}, "endpoint_url"),
    ("port zero", {"endpoint_url": "http://127.0.0.1:0"}, "endpoint_url"),
    ("port not a number", {"endpoint_url": "http://127.0.0.1:abc"}, "endpoint_url"),
    ("empty url", {"endpoint_url": ""}, "endpoint_url"),
    ("url not a str", {"endpoint_url": 8000}, "endpoint_url"),
    ("no host", {"endpoint_url": "http://:8000"}, "endpoint_url"),
    ("underscore host", {"endpoint_url": "http://dynamo_local:8000"}, "endpoint_url"),
    ("control character", {"endpoint_url": "http://local\x00host:8000"}, "endpoint_url"),
    ("credentials in url", {"endpoint_url": "http://u:p@localhost:8000"}, "endpoint_url"),
    ("query", {"endpoint_url": "http://localhost:8000/?a=b"}, "endpoint_url"),
    ("region with space", {"region_name": "us east 1"}, "region_name"),
    ("region not a str", {"region_name": 5}, "region_name"),
    ("key without secret", {"aws_secret_access_key": None}, "aws_secret_access_key"),
    ("secret without key", {"aws_access_key_id": None}, "aws_access_key_id"),
    ("empty key", {"aws_access_key_id": ""}, "aws_access_key_id"),
    (
        "token without keys",
        {"aws_access_key_id": None, "aws_secret_access_key": None, "aws_session_token": "t"},
        "aws_session_token",
    ),
    ("unknown profile", {"profile_name": "no-such-profile"}, "profile_name"),
    ("concurrency zero", {"max_concurrency": 0}, "max_concurrency"),
    ("concurrency bool", {"max_concurrency": True}, "max_concurrency"),
    ("concurrency float", {"max_concurrency": 2.0}, "max_concurrency"),
    ("concurrency huge", {"max_concurrency": 10**9}, "max_concurrency"),
    ("acquire zero", {"acquire_timeout": 0}, "acquire_timeout"),
    ("acquire nan", {"acquire_timeout": math.nan}, "acquire_timeout"),
    ("acquire inf", {"acquire_timeout": math.inf}, "acquire_timeout"),
    ("acquire str", {"acquire_timeout": "5"}, "acquire_timeout"),
    ("connect negative", {"connect_timeout": -1}, "connect_timeout"),
    ("read nan", {"read_timeout": math.nan}, "read_timeout"),
    ("read bool", {"read_timeout": True}, "read_timeout"),
    ("mode", {"mode": "turbo"}, "mode"),
    ("retry", {"retry": 5}, "retry"),
    ("breaker", {"breaker": {"failure_threshold": 3}}, "breaker"),
    ("layers not a sequence", {"layers": 5}, "layers"),
    ("layers of non-callables", {"layers": [1, 2]}, "layers"),
    ("clock", {"clock": 5}, "clock"),
    ("metrics", {"metrics": 5}, "metrics"),
    ("config", {"config": {"max_concurrency": 4}}, "config"),
    ("config and settings", {"config": SessionConfig(), "max_concurrency": 4}, "config"),
]


@pytest.mark.parametrize(("kwargs", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_setting_is_refused_at_construction_naming_it(
    kwargs: dict[str, Any], field: str
) -> None:
    """Each bad setting raises ValidationError(field=<argument>) and no foreign exception."""
    with pytest.raises(ValidationError) as info:
        DynamoSession(**{**LOCAL, **kwargs})

    assert type(info.value) is ValidationError
    assert info.value.field == field
    assert info.value.__context__ is None or info.value.__suppress_context__  # nothing foreign


async def test_a_missing_region_is_refused_at_open_naming_region_name() -> None:
    """No region given and none in the environment: ValidationError(field="region_name")."""
    session = DynamoSession(
        endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with pytest.raises(ValidationError) as info:
        async with session:
            pass
    assert info.value.field == "region_name"
    assert not session.is_open


async def test_a_region_from_the_environment_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_DEFAULT_REGION stands in for region_name, as in the AWS configuration chain."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    async with DynamoSession(
        endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b"
    ) as session:
        assert session.region_name == "eu-west-1"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000",
        "https://dynamodb.eu-west-1.amazonaws.com",
        "http://127.0.0.1:65535/",
        "http://[::1]:8000",
        "http://dynamo-local.internal:8000/prefix",
    ],
)
def test_good_endpoints_are_accepted(url: str) -> None:
    """Host names, IPv4 and IPv6 literals, paths and every port up to 65535 are accepted."""
    assert DynamoSession(**{**LOCAL, "endpoint_url": url}).endpoint_url == url


def test_a_config_object_is_frozen_shared_and_equivalent_to_the_keywords() -> None:
    """DynamoSession(config=...) behaves as the same keywords; the config cannot be changed."""
    config = SessionConfig(**LOCAL, max_concurrency=8, retry=RetryPolicy(max_attempts=2))
    by_config = DynamoSession(config=config)
    by_keywords = DynamoSession(**LOCAL, max_concurrency=8, retry=RetryPolicy(max_attempts=2))

    assert by_config.config == by_keywords.config == config
    assert by_config.max_concurrency == 8
    assert by_config.retry is not None and by_config.retry.policy.max_attempts == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_concurrency = 9  # type: ignore[misc]  # frozen, the point of the test
    assert "testing" not in repr(SessionConfig(**{**CREDENTIALS, "aws_access_key_id": "id"}))
