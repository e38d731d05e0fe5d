"""A create whose answer was lost: find out whether it was applied instead of failing blind.

A create (PutItem with ``attribute_not_exists``) is not idempotent: resent after its first
attempt was applied, it fails its own condition. So the retry layer does not resend it after a
timeout or a dropped connection, and raises ``OutcomeUnknown``. The repository knows more than
the retry layer: the exact item it wrote (its own ``created_at``, to the millisecond). After an
unknown outcome it reads the key, strongly consistent:

- the item it wrote is there: the lost attempt was applied; the create succeeded;
- no item: the attempt has not been applied (yet). It is sent once more with the same condition,
  so whichever of the two reaches the table first creates the item and the other is refused; a
  refusal that shows the item it wrote is, again, its own earlier attempt;
- another item: the create cannot say whether it was applied and overwritten, or refused;
  the ``OutcomeUnknown`` stands.

Only after an unknown outcome: a first attempt that meets an identical item (another caller's
create in the same millisecond) is refused as ``ItemAlreadyExists``, as it must be.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .errors import ConditionFailed, OutcomeUnknown
from .session import DynamoSession

__all__ = ["Creator", "send_create"]

Item = dict[str, Any]

#: how many times an unknown outcome is resolved (a read, at most one resend) before it stands
_RESOLVE_ROUNDS = 2


class Creator(Protocol):
    """What a create asks of its repository."""

    session: DynamoSession

    async def get_item(self, key: Mapping[str, Any], *, consistent: bool = ...) -> Item | None: ...

    async def _old_item(self, exc: ConditionFailed, key: Mapping[str, Any]) -> Item | None: ...


async def send_create(
    repo: Creator, params: dict[str, Any], written: Item, key: Mapping[str, Any]
) -> None:
    """Send the create ``params`` that write ``written`` at ``key``. Raises what the create's
    caller handles: ``ConditionFailed`` of a real refusal, ``OutcomeUnknown`` when the outcome
    cannot be resolved."""
    session = repo.session
    try:
        await session.call("PutItem", params)
        return
    except OutcomeUnknown as unknown:
        lost = unknown
    for _ in range(_RESOLVE_ROUNDS):
        try:
            current = await repo.get_item(key, consistent=True)
        except Exception as exc:
            lost.add_note(f"reading the key back to resolve it failed too: {type(exc).__name__}")
            raise lost from None
        if _same(current, written):
            return
        if current is not None:
            lost.add_note("the key holds another item: applied and replaced, or refused")
            raise lost
        try:
            await session.call("PutItem", params)
            return
        except ConditionFailed as refused:
            if _same(await repo._old_item(refused, key), written):
                return  # the lost attempt reached the table first
            raise
        except OutcomeUnknown as again:
            lost = again
    raise lost


def _same(stored: Mapping[str, Any] | None, written: Mapping[str, Any]) -> bool:
    return stored is not None and dict(stored) == dict(written)
