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
``_rt_cur = {token}``. Every variant is guarded by ``_rt_w = <the window it assumed>``, so
concurrent rotations cannot interleave; a request that assumed the wrong window fails its
condition, learns the item's window from the returned old item and is sent again in the right
variant (a protocol step, not a retry of a failure). A token therefore stays recognisable for at
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

import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from boto3.dynamodb.conditions import Attr, ConditionBase

from .expressions import Placeholders

__all__ = ["RECORD_ATTRIBUTES", "ReplayRecord", "new_token"]

WINDOW: Final = "_rt_w"
CURRENT: Final = "_rt_cur"
PREVIOUS: Final = "_rt_prev"
RECORD_ATTRIBUTES: Final = (WINDOW, CURRENT, PREVIOUS)


def new_token() -> str:
    """12 URL-safe characters (72 random bits): collisions within a window are negligible."""
    return secrets.token_urlsafe(9)


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


class ReplayRecord:
    """Builds the record's part of an UpdateItem and reads the record of a returned item."""

    #: the item's window has not been seen yet: assume the writer's current window
    UNKNOWN: Final = _Unknown()
    #: the item has no record yet
    ABSENT: Final = None

    def __init__(self, window: float, wall_clock: Callable[[], float]) -> None:
        self.window = window
        self.wall_clock = wall_clock

    def current_window(self) -> int:
        return int(self.wall_clock() // self.window)

    def update(self, ph: Placeholders, token: str, observed: object) -> tuple[str, ConditionBase]:
        """``(expression suffix, condition)`` recording ``token``, given the item's window.

        ``observed`` is :attr:`UNKNOWN`, :attr:`ABSENT` (no record on the item) or the item's
        window number. The suffix continues a ``SET ...`` expression.
        """
        now = self.current_window()
        not_seen = ~Attr(CURRENT).contains(token) & ~Attr(PREVIOUS).contains(token)
        w, cur, prev = ph.name(WINDOW), ph.name(CURRENT), ph.name(PREVIOUS)
        tokens = ph.value({token}, "request_token")
        if observed is self.UNKNOWN:
            observed = now
        if observed is self.ABSENT:
            return (
                f", {cur} = {tokens}, {w} = {ph.value(now, 'window')} REMOVE {prev}",
                Attr(WINDOW).not_exists() & not_seen,
            )
        assert isinstance(observed, int)
        guard = Attr(WINDOW).eq(observed) & not_seen
        if observed >= now:  # the item's window is current (or a writer's clock is ahead)
            return f" ADD {cur} {tokens}", guard
        if observed == now - 1:
            return f", {prev} = {cur}, {cur} = {tokens}, {w} = {ph.value(now, 'window')}", guard
        return f", {cur} = {tokens}, {w} = {ph.value(now, 'window')} REMOVE {prev}", guard

    @staticmethod
    def window_of(item: Mapping[str, Any]) -> int | None:
        value = item.get(WINDOW)
        return int(value) if value is not None else None

    @staticmethod
    def contains(item: Mapping[str, Any], token: str) -> bool:
        return any(token in (item.get(name) or ()) for name in (CURRENT, PREVIOUS))
