"""The replay record's memory of item windows: what a writer learns, and when it waits."""

from __future__ import annotations

import asyncio

from aiodynamo_patterns.products.replay import WINDOW, ReplayRecord


def record(now: float = 600.0) -> ReplayRecord:
    return ReplayRecord(60.0, lambda: now)  # window 10 at 600 s


async def test_a_stale_read_never_teaches_an_older_window() -> None:
    """After seeing window 10, a cached or eventually consistent read of window 9 is ignored."""
    r = record()
    r.remember("p", {WINDOW: 10})
    r.remember("p", {WINDOW: 9}, newer_only=True)
    r.remember("p", {}, newer_only=True)
    assert not await r.learn("p")  # still known as current: no need to lead
    r.remember("p", {WINDOW: 11}, newer_only=True)
    assert r.window_of({WINDOW: 11}) == 11 and not await r.learn("p")


async def test_an_authoritative_answer_replaces_what_was_known() -> None:
    """The old item of a condition failure is the truth, even without a record (recreated)."""
    r = record()
    r.remember("p", {WINDOW: 10})
    r.remember("p", {})  # the item was deleted and written again without a record
    assert await r.learn("p")  # the next change must start a record: it leads
    r.learnt("p")


async def test_changes_of_an_unknown_item_wait_for_the_first() -> None:
    """The first change of an unknown item leads; the others wait until it is answered."""
    r = record()
    assert await r.learn("p")
    waiting = asyncio.ensure_future(r.learn("p"))
    await asyncio.sleep(0)
    assert not waiting.done()
    r.remember("p", {WINDOW: 10})
    r.learnt("p")
    assert await waiting is False
    assert not await r.learn("p")  # now known and current


async def test_a_cancelled_waiter_does_not_cancel_the_answer_others_wait_for() -> None:
    """Cancelling one waiting change leaves the leader's answer to the other waiters."""
    r = record()
    assert await r.learn("p")
    first = asyncio.ensure_future(r.learn("p"))
    second = asyncio.ensure_future(r.learn("p"))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    r.learnt("p")
    assert await second is False
    assert first.cancelled()
