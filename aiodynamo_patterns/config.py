"""SessionConfig: every setting of a DynamoSession, frozen and checked in one place.

``DynamoSession(endpoint_url=..., max_concurrency=...)`` builds one from its keyword arguments;
``DynamoSession(config=SessionConfig(...))`` takes one made beforehand (and shared, since it is
frozen). Every bad setting is a :class:`ValidationError` naming the argument, at construction;
what only the AWS configuration chain can tell (a region from the environment or a profile) is
checked when the session opens, by :func:`configuration_error`. No foreign exception (botocore's
``NoRegionError``, ``ValueError("Invalid endpoint")``, ...) reaches the caller.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

from .errors import ValidationError
from .layers.breaker import BreakerConfig
from .layers.retry import RetryPolicy

__all__ = ["MAX_CONCURRENCY", "SessionConfig", "SessionMode", "configuration_error"]

SessionMode = Literal["fast", "compatible"]

#: one connection per slot: more than the ports one client host has towards one endpoint
MAX_CONCURRENCY = 65_535

# botocore's own rule for region names (botocore.utils.validate_region_name)
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """The settings of one :class:`DynamoSession` (see its docstring for what each does)."""

    endpoint_url: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    max_concurrency: int = 64
    acquire_timeout: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    mode: SessionMode = "fast"
    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    breaker: BreakerConfig | None = field(default_factory=BreakerConfig)

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            _check_endpoint(self.endpoint_url)
        if self.region_name is not None and (
            not isinstance(self.region_name, str) or not _REGION.match(self.region_name)
        ):
            raise ValidationError(
                "must be an AWS region name such as 'us-east-1'", field="region_name"
            )
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError("must be a non-empty str or None", field=name)
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            missing = "aws_secret_access_key" if self.aws_access_key_id else "aws_access_key_id"
            raise ValidationError(
                "aws_access_key_id and aws_secret_access_key go together", field=missing
            )
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ValidationError(
                "a session token needs aws_access_key_id and aws_secret_access_key",
                field="aws_session_token",
            )
        if self.profile_name is not None and (
            not isinstance(self.profile_name, str) or not self.profile_name
        ):
            raise ValidationError("must be a non-empty str or None", field="profile_name")
        if (
            isinstance(self.max_concurrency, bool)
            or not isinstance(self.max_concurrency, int)
            or not 1 <= self.max_concurrency <= MAX_CONCURRENCY
        ):
            raise ValidationError(
                f"must be an int from 1 to {MAX_CONCURRENCY}", field="max_concurrency"
            )
        for name in ("acquire_timeout", "connect_timeout", "read_timeout"):
            _check_seconds(getattr(self, name), name)
        if self.mode not in ("fast", "compatible"):
            raise ValidationError("must be 'fast' or 'compatible'", field="mode")
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise ValidationError("must be a RetryPolicy or None", field="retry")
        if self.breaker is not None and not isinstance(self.breaker, BreakerConfig):
            raise ValidationError("must be a BreakerConfig or None", field="breaker")


def _check_seconds(value: object, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError("must be a finite positive number of seconds", field=name)


def _check_endpoint(url: object) -> None:
    """An http(s) URL with a host and a valid port, and nothing botocore would refuse later."""
    field_ = "endpoint_url"
    if not isinstance(url, str) or not url:
        raise ValidationError(
            "must be a non-empty str such as 'http://localhost:8000'", field=field_
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationError("must not contain spaces or control characters", field=field_)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(
            "must be a URL whose port is a number from 1 to 65535", field=field_
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("must start with http:// or https://", field=field_)
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "must not carry credentials; pass aws_access_key_id and aws_secret_access_key",
            field=field_,
        )
    if parts.query or parts.fragment:
        raise ValidationError("must not have a query or a fragment", field=field_)
    # botocore's own rule for the host, so that opening the client cannot refuse it later
    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        raise ValidationError("must name a host (a DNS name or an IP address)", field=field_)
    if port == 0:
        raise ValidationError("must have a port from 1 to 65535", field=field_)


def configuration_error(exc: BaseException) -> ValidationError | None:
    """The ValidationError for a setting botocore refused when the client was made, if it is one."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoRegionError):
        return ValidationError(
            "no region: pass region_name, or set AWS_DEFAULT_REGION or a profile's region",
            field="region_name",
        )
    if isinstance(exc, bce.InvalidRegionError):
        return ValidationError("must be an AWS region name", field="region_name")
    if isinstance(exc, bce.ProfileNotFound):
        return ValidationError("no such profile in the AWS config files", field="profile_name")
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return ValidationError("botocore refused the endpoint URL", field="endpoint_url")
    return None
