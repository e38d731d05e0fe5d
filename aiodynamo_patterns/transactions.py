"""Transactions: the actions of one ``TransactWriteItems`` and the request that carries them.

The repository validates each action's key with its own rules (passed in as ``key`` and
``key_of``), so a transaction is refused whole, before anything is sent, when one action is bad.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import ConditionBase

from .errors import ValidationError
from .expressions import Placeholders, item_to_wire, update_expression
from .keys import canonical, no_duplicate

__all__ = [
    "TRANSACT_MAX",
    "TransactAction",
    "TransactCheck",
    "TransactDelete",
    "TransactPut",
    "TransactUpdate",
    "transact_request",
]

TRANSACT_MAX = 100


@dataclass(frozen=True, slots=True)
class TransactPut:
    item: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactUpdate:
    key: Mapping[str, Any]
    updates: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactDelete:
    key: Mapping[str, Any]
    condition: ConditionBase | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class TransactCheck:
    key: Mapping[str, Any]
    condition: ConditionBase
    table: str | None = None


TransactAction = TransactPut | TransactUpdate | TransactDelete | TransactCheck

KeyCheck = Callable[[Mapping[str, Any], str], dict[str, Any]]


def transact_request(
    actions: Sequence[TransactAction],
    token: str | None,
    *,
    table: str,
    key: KeyCheck,
    key_of: KeyCheck,
    key_names: Sequence[str],
) -> dict[str, Any]:
    """``TransactWriteItems`` parameters for ``actions`` on ``table`` (unless an action names
    its own), with ``token`` or a new one as ``ClientRequestToken``."""
    if not actions or len(actions) > TRANSACT_MAX:
        raise ValidationError("a transaction has 1 to 100 actions", field="actions")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 36):
        raise ValidationError("token must be 1 to 36 characters", field="token")
    items: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, action in enumerate(actions):
        field = f"actions[{i}]"
        target = action.table or table
        ph = Placeholders()
        body: dict[str, Any] = {"TableName": target}
        if isinstance(action, TransactPut):
            wire_key = key_of(action.item, f"{field}.item")
            body["Item"] = item_to_wire(action.item, f"{field}.item")
            kind = "Put"
        elif isinstance(action, TransactUpdate | TransactDelete | TransactCheck):
            wire_key = body["Key"] = key(action.key, f"{field}.key")
            if isinstance(action, TransactUpdate):
                body["UpdateExpression"] = update_expression(
                    ph, action.updates, forbidden=key_names
                )
            kind = _KINDS[type(action)]
        else:
            raise ValidationError(f"unknown action {type(action).__name__}", field=field)
        no_duplicate(seen, target + "\x00" + canonical(wire_key), field)
        if action.condition is not None:
            body["ConditionExpression"] = ph.condition(action.condition, f"{field}.condition")
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        items.append({kind: ph.apply(body)})
    return {"TransactItems": items, "ClientRequestToken": token or uuid.uuid4().hex}


_KINDS: dict[type, str] = {
    TransactUpdate: "Update",
    TransactDelete: "Delete",
    TransactCheck: "ConditionCheck",
}
