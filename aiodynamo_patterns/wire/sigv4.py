"""AWS Signature Version 4 with a cached signing key, for the data-plane fast path.

botocore's ``SigV4Auth`` re-derives the signing key (four HMACs over the secret, the date, the
region and the service) and rebuilds the request's canonical form through several generic
helpers on every call. :class:`SigV4Signer` produces the byte-identical ``Authorization`` header
(the tests compare it with ``SigV4Auth`` on a table of requests at a frozen clock) but derives the
key once per (secret, day) for its region and service and keeps the per-endpoint parts (host,
canonical path and query) precomputed.

Differences from ``SigV4Auth``, all irrelevant to DynamoDB's JSON protocol and refused or
documented here: the payload is always signed (``SigV4Auth`` signs it too, except for S3-style
unsigned payloads); a ``Date`` header is not supported (``X-Amz-Date`` is always used); header
names must be unique ignoring case (a ``dict`` cannot hold ``A`` and ``a`` in botocore's sense).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from botocore.utils import normalize_url_path

__all__ = ["SigV4Signer", "SignedTarget", "amz_timestamp"]

#: headers botocore never signs (``botocore.auth.SIGNED_HEADERS_BLACKLIST``)
_UNSIGNED = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})
_REPLACED = frozenset({"authorization", "x-amz-date"})
_REPLACED_WITH_TOKEN = _REPLACED | {"x-amz-security-token"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_sha256 = hashlib.sha256
_hmac_new = hmac.new

_last_second = -1
_last_stamp = ""


def amz_timestamp(now: float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` for ``now`` (epoch seconds, default the wall clock), cached per second."""
    global _last_second, _last_stamp
    second = int(time.time() if now is None else now)
    if second != _last_second:
        _last_stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        _last_second = second
    return _last_stamp


@dataclass(frozen=True, slots=True)
class SignedTarget:
    """The parts of a URL that go into the canonical request, computed once per endpoint."""

    host: str
    path: str
    query: str

    @classmethod
    def from_url(cls, url: str) -> SignedTarget:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal: urlsplit drops the brackets
            host = f"[{host}]"
        if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
            host = f"{host}:{parts.port}"
        query = ""
        if parts.query:
            pairs = sorted(tuple(p.partition("=")[::2]) for p in parts.query.split("&"))
            query = "&".join(f"{k}={v}" for k, v in pairs)
        path = quote(normalize_url_path(parts.path), safe="/~")
        return cls(host=host, path=path, query=query)


class SigV4Signer:
    """Signs requests for one (service, region) with a signing key cached per secret and day."""

    __slots__ = ("_keys", "_scope_tail", "region", "service")

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._keys: dict[tuple[str, str], bytes] = {}

    def signing_key(self, secret_key: str, day: str) -> bytes:
        """The derived key for ``day`` (``YYYYMMDD``): four HMACs, done once per secret and day."""
        cache_key = (secret_key, day)
        key = self._keys.get(cache_key)
        if key is None:
            k = _hmac_new(f"AWS4{secret_key}".encode(), day.encode(), _sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                k = _hmac_new(k, part.encode(), _sha256).digest()
            if len(self._keys) >= 8:  # old days and rotated secrets: never grows without bound
                self._keys.clear()
            self._keys[cache_key] = key = k
        return key

    def sign(
        self,
        method: str,
        target: SignedTarget,
        headers: MutableMapping[str, str],
        body: bytes,
        *,
        access_key: str,
        secret_key: str,
        token: str | None,
        timestamp: str,
    ) -> None:
        """Add ``X-Amz-Date``, ``X-Amz-Security-Token`` (if ``token``) and ``Authorization``."""
        # One pass over the caller's headers: each name lower-cased once, the ones this call
        # sets replaced, the rest canonicalised.
        replaced = _REPLACED_WITH_TOKEN if token else _REPLACED
        canonical: dict[str, str] = {}
        for name in list(headers):
            lname = name.lower()
            if lname in replaced:
                del headers[name]
            elif lname not in _UNSIGNED:
                canonical[lname] = " ".join(headers[name].split())
        headers["X-Amz-Date"] = canonical["x-amz-date"] = timestamp
        if token:
            headers["X-Amz-Security-Token"] = canonical["x-amz-security-token"] = token
        if "host" not in canonical:
            canonical["host"] = target.host
        names = sorted(canonical)
        signed_headers = ";".join(names)
        canonical_request = "\n".join(
            (
                method.upper(),
                target.path,
                target.query,
                "".join(f"{n}:{canonical[n]}\n" for n in names),
                signed_headers,
                _sha256(body).hexdigest(),
            )
        )
        day = timestamp[:8]
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{timestamp}\n{day}{self._scope_tail}\n"
            f"{_sha256(canonical_request.encode()).hexdigest()}"
        )
        signature = _hmac_new(
            self.signing_key(secret_key, day), string_to_sign.encode(), _sha256
        ).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{day}{self._scope_tail}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
