"""The caching section of the demo, run directly on the test server."""

from __future__ import annotations

from aiodynamo_patterns import DynamoSession
from aiodynamo_patterns.demo import cache as demo_cache


async def test_demo_cache_section_reports_one_getitem_and_a_fresh_read(
    ddb_session: DynamoSession, table: str
) -> None:
    """The demo shows single-flight (one GetItem for 100 readers) and a fresh read after a write."""
    lines: list[str] = []

    await demo_cache.run(ddb_session, table, lines.append)

    text = "\n".join(lines)
    assert "(1 GetItem)" in text
    assert "100 concurrent reads of an uncached product: 1 GetItem (99 joined" in text
    assert "next cached read sees stock 99" in text
