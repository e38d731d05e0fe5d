"""The statistics records (pool, retry, cache) all report themselves the same way."""

from __future__ import annotations

import dataclasses

from aiodynamo_patterns import CacheStats, PoolStats, RetryStats


def test_as_dict_is_every_field_then_the_derived_rates() -> None:
    """as_dict() lists every dataclass field in order, then each derived rate rounded."""
    pool = PoolStats(3, 1, 2, 0, 10, 0, 0.5, 0.25)
    assert pool.as_dict() == {
        **dataclasses.asdict(pool),
        "utilization_percent": 33.33,
    }
    cache = CacheStats(2, 1, 0, 0, 0, 0, 0, 0, 1, 10)
    assert list(cache.as_dict())[-1] == "hit_rate_percent"
    assert cache.as_dict()["hit_rate_percent"] == 66.67
    retry = RetryStats(4, 6, 2, 4, 1, 0, 0, 0, 0, 500.0, 499.0, 500.0)
    assert retry.as_dict()["retry_rate_percent"] == 33.33
    assert set(retry.as_dict()) == {f.name for f in dataclasses.fields(retry)} | {
        "retry_rate_percent",
        "give_up_rate_percent",
        "budget_exhausted_percent",
    }
