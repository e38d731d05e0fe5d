"""A bounded record of recent request tokens on an item, so that a resent write is recognised.

A write that must apply exactly once (a stock change) carries a random token and, in the same
atomic UpdateItem, records it on the item on the condition that it is not recorded yet. A resend
of an applied write then fails its condition and the old item shows the token: a replay.

The record is two string sets and a window number, kept bounded and pruned by the very updates
that write to it, with no read and no background job::

    _rt_w     the time window (wall-clock seconds // replay_window) of the tokens in _rt_cur
    _rt_cur   tokens recorded during window _rt_w
    _rt_prev  tokens recorded during the window before

A write in the item's window adds its token to ``_rt_cur``. The first write of a new window
rotates: ``_rt_prev = _rt_cur`` when the windows are adjacent (else ``_rt_prev`` is removed) and
``_rt_cur = {token}``. Every variant is guarded by the window it assumed (``_rt_w = w``, or
``_rt_w`` absent or older than the previous window), so concurrent rotations cannot interleave; a
request that assumed the wrong window fails its condition, learns the item's window from the
returned old item and is sent again in the right variant (a protocol step, not a retry of a
failure). The writer remembers the window it last saw per item (from every response: the create,
each change, each condition failure, each read of the product), so its guess is usually right; an
item the repository creates starts in the current window. When a change must move the window
(an unknown item, or a new window), the first change does it and concurrent changes of the same
item wait for its answer: a burst costs at most one wrong guess per item and window, not one per
change. A token therefore stays recognisable for at
least one full window after it was recorded and is gone after at most two: the record holds the
tokens of the last one to two windows, never more.

Cost on real DynamoDB: a write is billed by the size of the item (1 WCU per 1 KB, rounded up), and
each recorded token adds about 13 bytes (12 characters + set overhead). An item changed r times a
second carries up to ``2 * replay_window * r`` tokens: at the default 60 s window, one change a
second adds ~1.6 KB to the item, so each write of a small item costs 2 to 3 WCU instead of 1, and
reads of it cost accordingly. Hot items pay much more: at 50 changes a second the record is about
75 KB, so every write of that item costs about 75 WCU. Shorten ``replay_window`` only as far as the
retry deadline allows (the repository refuses a window shorter than that).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from boto3.dynamodb.conditions import Attr, ConditionBase
from cachetools import LRUCache

from ..expressions import Placeholders

__all__ = ["RECORD_ATTRIBUTES", "ReplayRecord", "new_token"]

WINDOW: Final = "_rt_w"
CURRENT: Final = "_rt_cur"
PREVIOUS: Final = "_rt_prev"
RECORD_ATTRIBUTES: Final = (WINDOW, CURRENT, PREVIOUS)


def new_token() -> str:
    """12 URL-safe characters (72 random bits): collisions within a window are negligible."""
    return secrets.token_urlsafe(9)


class ReplayRecord:
    """Builds the record's part of an UpdateItem and reads the record of a returned item.

    It remembers the last window it saw per item (a small LRU), so that a writer that knows the
    item usually sends the right variant at once; an item it does not know is assumed to carry
    an old record (or none), the common case for an item not written in the last window.
    """

    def __init__(
        self, window: float, wall_clock: Callable[[], float], *, remember: int = 4096
    ) -> None:
        self.window = window
        self.wall_clock = wall_clock
        self._seen: LRUCache[str, int | None] = LRUCache(maxsize=remember)
        # items whose window a first change is finding out right now, with its answer to come
        self._learning: dict[str, asyncio.Future[None]] = {}

    def current_window(self) -> int:
        return int(self.wall_clock() // self.window)

    def remember(self, item_key: str, item: Mapping[str, Any], *, newer_only: bool = False) -> None:
        """Note the window of ``item`` as DynamoDB answered it. ``newer_only`` for a read that
        may be stale (eventually consistent, or cached): an item's window never goes back, so
        such a read only teaches a window later than the one known."""
        window = self.window_of(item)
        if newer_only and item_key in self._seen:
            known = self._seen[item_key]
            if window is None or (known is not None and window <= known):
                return
        self._seen[item_key] = window

    async def learn(self, item_key: str) -> bool:
        """Before a change of ``item_key``: True when this change must move the item's window
        (a window unknown here, or older than the current one) and no other change here is doing
        so; it must then call :meth:`learnt` once answered, whatever the outcome. Changes that
        come meanwhile wait for that answer and go with the window it taught: a burst on a new,
        unknown or rotating item costs at most one wrong guess, not one per change."""
        observed = self._seen.get(item_key)
        if observed is not None and observed >= self.current_window():
            return False  # the common case: the item is in the current window, add to it
        pending = self._learning.get(item_key)
        if pending is None:
            self._learning[item_key] = asyncio.get_running_loop().create_future()
            return True
        # shielded: a waiter cancelled must not cancel the answer the others wait for
        await asyncio.shield(pending)
        return False

    def learnt(self, item_key: str) -> None:
        """The first change of ``item_key`` is answered: release the changes waiting for it."""
        pending = self._learning.pop(item_key, None)
        if pending is not None and not pending.done():
            pending.set_result(None)

    def update(self, ph: Placeholders, token: str, item_key: str) -> tuple[str, ConditionBase]:
        """``(expression suffix, condition)`` recording ``token`` on the item ``item_key``.

        The suffix continues a ``SET ...`` expression; the condition refuses a token already
        recorded and any record whose window is not the one the expression was built for.
        """
        now = self.current_window()
        not_seen = ~Attr(CURRENT).contains(token) & ~Attr(PREVIOUS).contains(token)
        w, cur, prev = ph.name(WINDOW), ph.name(CURRENT), ph.name(PREVIOUS)
        tokens = ph.value({token}, "request_token")
        observed = self._seen.get(item_key)
        if observed is not None and observed >= now:
            # the item's window is current (or a writer's clock is ahead): add to it
            return f" ADD {cur} {tokens}", Attr(WINDOW).eq(observed) & not_seen
        if observed is not None and observed == now - 1:
            # the first write of a new window: the current tokens become the previous ones
            return (
                f", {prev} = {cur}, {cur} = {tokens}, {w} = {ph.value(now, 'window')}",
                Attr(WINDOW).eq(observed) & not_seen,
            )
        # no record, or one older than the previous window (or not seen yet): start afresh
        return (
            f", {cur} = {tokens}, {w} = {ph.value(now, 'window')} REMOVE {prev}",
            (Attr(WINDOW).not_exists() | Attr(WINDOW).lt(now - 1)) & not_seen,
        )

    @staticmethod
    def window_of(item: Mapping[str, Any]) -> int | None:
        value = item.get(WINDOW)
        return int(value) if value is not None else None

    @staticmethod
    def contains(item: Mapping[str, Any], token: str) -> bool:
        return any(token in (item.get(name) or ()) for name in (CURRENT, PREVIOUS))
