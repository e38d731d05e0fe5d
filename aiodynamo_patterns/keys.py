"""Item keys, one place for their rules: what a key attribute may hold, one canonical string per
key (to compare keys across requests and answers), and a description that never shows a value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import ValidationError
from .expressions import item_to_wire

__all__ = ["canonical", "describe_key", "key_to_wire", "no_duplicate"]


def key_to_wire(key: Mapping[str, Any], field: str) -> dict[str, Any]:
    """Key attributes on the wire: each a non-empty string, a number or non-empty bytes."""
    wire = item_to_wire(key, field)
    for name, value in wire.items():
        if next(iter(value)) not in ("S", "N", "B") or value in ({"S": ""}, {"B": b""}):
            raise ValidationError(
                "key attributes must be non-empty strings, numbers or bytes",
                field=f"{field}.{name}",
            )
    return wire


def canonical(wire: Mapping[str, Any]) -> str:
    """The same string for the same key on the wire, whatever the order of its attributes."""
    return json.dumps(wire, sort_keys=True, default=str)


def no_duplicate(seen: dict[str, str], key: str, field: str) -> None:
    """Refuse ``key`` (canonical) met before in one call; ``seen`` maps keys to their fields."""
    if key in seen:
        raise ValidationError(f"the same key as {seen[key]}", field=field)
    seen[key] = field


def describe_key(key: Mapping[str, Any]) -> str:
    """``{PK=<redacted>, SK=<redacted>}``: key values may be personal data, names are shown."""
    return "{" + ", ".join(f"{k}=<redacted>" for k in key) + "}"
