"""DynamoDB JSON on the wire, in exactly the form botocore hands requests over and responses back.

The library's requests are botocore's parameter form: attribute values as ``{"S": "x"}``,
``{"N": "12"}`` (numbers stay strings), ``{"B": b"..."}`` and ``{"BS": [b"..."]}`` (binaries as
bytes). On the wire binaries are base64 strings. :func:`encode` turns parameters into the request
body (orjson when installed, the standard ``json`` otherwise; binaries base64-encoded like
botocore's serializer does); :func:`decode` turns a response body back into what botocore's parser
would return: the same dicts and strings, with ``B`` / ``BS`` values decoded to bytes. The
library's tests check both directions against botocore's own serializer and parser.

Only values inside attribute values are blobs in DynamoDB's data plane, and an attribute value is
the only one-key object whose ``B`` member is a string (or whose ``BS`` member is a list of
strings), so the decoder recognises them without walking botocore's shapes.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

__all__ = ["JSON_BACKEND", "decode", "decode_binaries", "encode"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the json backend test via monkeypatch
    orjson = None  # type: ignore[assignment]  # optional speed-up; json is the fallback

_b64encode = base64.b64encode
#: a ``"B"`` or ``"BS"`` member name anywhere in a body (one scan instead of one per tag)
_BINARY_TAG = re.compile(rb'"BS?"').search
_b64decode = base64.b64decode


def _default(value: object) -> str | list[Any]:
    if isinstance(value, bytes | bytearray | memoryview):
        return _b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):  # botocore's serializer accepts any iterable list
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} in a DynamoDB request")


def _encode_json(params: Any) -> bytes:
    # The same separators and ASCII escaping as botocore's JSON serializer.
    return json.dumps(params, separators=(",", ":"), default=_default).encode("utf-8")


def _decode_json(body: bytes) -> Any:
    return json.loads(body)


if orjson is not None:
    _orjson_dumps = orjson.dumps
    _orjson_loads = orjson.loads

    def _encode_orjson(params: Any) -> bytes:
        return _orjson_dumps(params, default=_default)

    JSON_BACKEND = "orjson"
    _encode = _encode_orjson
    _decode = _orjson_loads
else:  # pragma: no cover - depends on the environment
    JSON_BACKEND = "json"
    _encode = _encode_json
    _decode = _decode_json


def encode(params: Any) -> bytes:
    """The request body for ``params`` (botocore's parameter form)."""
    return _encode(params)


def decode(body: bytes) -> Any:
    """The parsed response body, with binaries as bytes; ``{}`` for an empty body."""
    if not body:
        return {}
    parsed = _decode(body)
    if _BINARY_TAG(body) is not None:  # one scan: most responses carry no binary
        decode_binaries(parsed)
    return parsed


def decode_binaries(node: Any) -> None:
    """Replace, in place, base64 ``B`` / ``BS`` attribute values anywhere under ``node``."""
    if type(node) is dict:
        if len(node) == 1:
            value = node.get("B")
            if type(value) is str:
                node["B"] = _b64decode(value)
                return
            value = node.get("BS")
            if type(value) is list and all(type(v) is str for v in value):
                node["BS"] = [_b64decode(v) for v in value]
                return
        for child in node.values():
            if type(child) is dict or type(child) is list:
                decode_binaries(child)
    elif type(node) is list:
        for child in node:
            if type(child) is dict or type(child) is list:
                decode_binaries(child)
