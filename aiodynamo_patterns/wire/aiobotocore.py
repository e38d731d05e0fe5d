"""Every private aiobotocore / botocore attribute the fast path touches, in one place.

The fast path keeps aiobotocore as the source of credentials (refreshable ones included), endpoint
rules, TLS settings and the aiohttp connection pool. None of those has a public accessor, so this
module reaches into the client. Each access is guarded: if an attribute was renamed or changed
shape in another aiobotocore release, :func:`probe` returns ``None`` after logging ONE warning per
process and reason, and the session stays in compatible mode (every call through aiobotocore's
own path). Verified on aiobotocore 2.25.1 to 3.10.x (:data:`VERIFIED_RANGE`, the range in
``pyproject.toml``); outside it, the same fallback.

The private attributes used (and nothing else):

- ``client._request_signer._credentials`` - the credentials object aiobotocore resolved;
  ``await get_frozen_credentials()`` on it (public method) on every attempt, so refresh works.
- ``client._endpoint.http_session`` - aiobotocore's ``AIOHTTPSession``; from it
  ``await _get_session(None)`` (the aiohttp ``ClientSession`` with the client's connector, TLS
  context and timeouts) and ``_proxy_config.proxy_url_for(url)`` (a proxied endpoint stays on the
  compatible path).
- ``client._resolve_endpoint_ruleset(operation_model, params, request_context)`` - the client's
  endpoint rules (FIPS, dual-stack, account-ID endpoints), with the signing region and name.

Public API used alongside: ``client.meta.service_model``, ``client.meta.region_name`` and
``client.meta.config`` (signature version, endpoint discovery).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

import aiobotocore
import aiohttp

__all__ = ["ClientAdapter", "EndpointInfo", "FastPathUnavailable", "probe", "warn_once"]

logger = logging.getLogger("aiodynamo_patterns")

#: the aiobotocore releases the fast path's private accesses were checked on: [low, high)
VERIFIED_RANGE = ((2, 25, 1), (3, 11))
VERIFIED_WITH = "aiobotocore 2.25.1 to 3.10.x"


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits or digits != part:
            break
        parts.append(int(digits))
    return tuple(parts)


def verified(version: str) -> bool:
    """Whether the fast path was checked on this aiobotocore release."""
    low, high = VERIFIED_RANGE
    return low <= _release(version) < high


_warned: set[str] = set()

#: the private names, in one table (a test renames one to check the fallback)
PRIVATE = {
    "signer": "_request_signer",
    "credentials": "_credentials",
    "endpoint": "_endpoint",
    "http_session": "http_session",
    "get_session": "_get_session",
    "proxy_config": "_proxy_config",
    "resolve_endpoint": "_resolve_endpoint_ruleset",
}


class FastPathUnavailable(Exception):
    """An aiobotocore internal the fast path relies on is missing or changed shape."""


def warn_once(reason: str) -> None:
    """Log, once per process and reason, that the session fell back to compatible mode."""
    if reason in _warned:
        return
    _warned.add(reason)
    logger.warning(
        "aiodynamo_patterns fast path disabled, using compatible mode (every call through "
        "aiobotocore): %s; the fast path was verified with %s",
        reason,
        VERIFIED_WITH,
    )


def _attr(obj: Any, key: str, what: str) -> Any:
    name = PRIVATE[key]
    try:
        return getattr(obj, name)
    except AttributeError:
        raise FastPathUnavailable(f"{what} has no attribute {name!r}") from None


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    url: str
    headers: dict[str, str]
    signing_region: str
    signing_name: str
    proxied: bool
    sigv4: bool


class ClientAdapter:
    """The private handles of one aiobotocore DynamoDB client, checked once at open."""

    __slots__ = (
        "_client",
        "_credentials",
        "_proxy_config",
        "_region",
        "_resolve_ruleset",
        "_service_model",
        "aiohttp_session",
    )

    def __init__(
        self,
        client: Any,
        credentials: Any,
        proxy_config: Any,
        resolve_ruleset: Any,
        aiohttp_session: aiohttp.ClientSession,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._proxy_config = proxy_config
        self._resolve_ruleset = resolve_ruleset
        self._service_model = client.meta.service_model
        self._region = client.meta.region_name
        self.aiohttp_session = aiohttp_session

    async def frozen_credentials(self) -> Any:
        """The current credentials (access_key, secret_key, token, account_id), refreshed if due."""
        return await self._credentials.get_frozen_credentials()

    async def endpoint(self, operation: str, params: dict[str, Any]) -> EndpointInfo:
        """Resolve the endpoint exactly as the client would for this operation and parameters."""
        service_model = self._service_model
        operation_model = service_model.operation_model(operation)
        config = self._client.meta.config
        context: dict[str, Any] = {
            "client_region": self._region,
            "client_config": config,
            "has_streaming_input": False,
            "auth_type": operation_model.resolved_auth_type,
            "unsigned_payload": operation_model.unsigned_payload,
            "auth_options": service_model.metadata.get("auth"),
        }
        try:
            url, headers, _ = await self._resolve_ruleset(operation_model, params, context)
            proxied = bool(self._proxy_config.proxy_url_for(url))
        except (AttributeError, TypeError) as exc:
            raise FastPathUnavailable(f"endpoint resolution changed shape: {exc!r}") from exc
        signing = context.get("signing") or {}
        auth_type = context.get("auth_type")
        return EndpointInfo(
            url=url,
            headers=dict(headers or {}),
            signing_region=signing.get("region") or self._region,
            signing_name=signing.get("signing_name") or service_model.signing_name,
            proxied=proxied,
            sigv4=auth_type in (None, "v4") and config.signature_version in (None, "v4"),
        )


async def probe(client: Any) -> ClientAdapter | None:
    """The client's internals if the fast path can use them, else ``None`` (compatible mode)."""
    try:
        if not verified(aiobotocore.__version__):
            raise FastPathUnavailable(
                f"aiobotocore {aiobotocore.__version__} is outside the releases the fast path "
                f"was verified on ({VERIFIED_WITH})"
            )
        signer = _attr(client, "signer", "the client")
        credentials = _attr(signer, "credentials", "client._request_signer")
        if credentials is None:
            # Unsigned or no credentials: botocore's own path raises the right error.
            logger.debug("fast path off: the client has no credentials")
            return None
        if not inspect.iscoroutinefunction(getattr(credentials, "get_frozen_credentials", None)):
            raise FastPathUnavailable("credentials.get_frozen_credentials is not a coroutine")
        config = client.meta.config
        if getattr(config, "endpoint_discovery_enabled", None) in (True, "true"):
            logger.debug("fast path off: endpoint discovery is enabled")
            return None
        resolve_ruleset = _attr(client, "resolve_endpoint", "the client")
        if not inspect.iscoroutinefunction(resolve_ruleset):
            raise FastPathUnavailable("client._resolve_endpoint_ruleset is not a coroutine")
        endpoint = _attr(client, "endpoint", "the client")
        http_session = _attr(endpoint, "http_session", "client._endpoint")
        proxy_config = _attr(http_session, "proxy_config", "the http session")
        if not callable(getattr(proxy_config, "proxy_url_for", None)):
            raise FastPathUnavailable("http_session._proxy_config.proxy_url_for is missing")
        get_session = _attr(http_session, "get_session", "the http session")
        if not inspect.iscoroutinefunction(get_session):
            raise FastPathUnavailable("http_session._get_session is not a coroutine")
        session = await get_session(None)
        if not isinstance(session, aiohttp.ClientSession):
            raise FastPathUnavailable("http_session._get_session did not return a ClientSession")
        return ClientAdapter(client, credentials, proxy_config, resolve_ruleset, session)
    except FastPathUnavailable as exc:
        warn_once(str(exc))
        return None
