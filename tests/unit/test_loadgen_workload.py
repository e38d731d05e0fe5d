"""Workload pieces: the mix syntax, Zipf key skew, and layer statistics found by duck typing."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from aiodynamo_patterns.errors import ValidationError
from aiodynamo_patterns.loadgen.generator import LoadGenerator, layer_stats
from aiodynamo_patterns.loadgen.workload import KeyChooser, parse_mix
from aiodynamo_patterns.testing.virtual_time import LoopClock, run_virtual


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("get=80,update=20", {"get": 80.0, "update": 20.0}),
        ("get", {"get": 1.0}),
        ("get=1, get=2 ,query=0.5", {"get": 3.0, "query": 0.5}),
    ],
)
def test_parse_mix_reads_weights(text: str, expected: dict[str, float]) -> None:
    """Mixes are name=weight lists; a bare name weighs 1 and repeats add up."""
    assert parse_mix(text) == expected


@pytest.mark.parametrize("text", ["", "fly=1", "get=x", "get=-1", "get=0"])
def test_parse_mix_refuses_bad_mixes(text: str) -> None:
    """Unknown names, non-numbers, negatives and all-zero mixes are refused."""
    with pytest.raises(ValidationError) as info:
        parse_mix(text)
    assert info.value.field == "mix"


def test_zipf_keys_are_skewed_and_uniform_keys_are_not() -> None:
    """With s=1.1 over 1000 keys the hottest key gets ~100x the median key; uniform is flat."""
    skewed, uniform = (
        KeyChooser(1000, 1.1, random.Random(1)),
        KeyChooser(1000, 0.0, random.Random(1)),
    )

    zipf = Counter(skewed() for _ in range(50_000))
    flat = Counter(uniform() for _ in range(50_000))

    assert zipf.most_common(1)[0][0] == 0
    assert zipf[0] > 50 * (zipf[500] or 1)
    assert max(flat.values()) < 2 * 50
    assert len(flat) == 1000


@dataclass
class _RetryStats:
    retries: int
    gave_up: int


class _FakeRetryLayer:
    def __init__(self) -> None:
        self.retries = 0

    def stats(self) -> _RetryStats:
        return _RetryStats(self.retries, 0)


class _FakeCache:
    def __init__(self) -> None:
        self.hits = self.misses = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


def test_report_picks_up_retries_and_cache_hit_rate_after_warmup_only() -> None:
    """Layer counters are reported as deltas over the measured window, by their names."""
    retry, cache = _FakeRetryLayer(), _FakeCache()

    async def op() -> None:
        retry.retries += 1
        cache.hits += 3
        cache.misses += 1

    gen = LoadGenerator(
        {"op": op}, rate=100.0, duration=2.0, warmup=1.0, clock=LoopClock(),
        observe={"retry": retry, "cache": cache},
    )  # fmt: skip

    report = run_virtual(gen.run())

    assert report.retries == report.ops == 200
    assert report.cache_hit_rate == 0.75
    assert report.breaker_transitions is None
    assert report.layers["retry"] == {"retries": 200, "gave_up": 0}


def test_layer_stats_ignores_objects_without_stats() -> None:
    """Objects without a stats() method contribute nothing."""
    assert layer_stats(object()) is None


class _FakeCachedRepo:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get_product(self, product_id: str) -> dict[str, str]:
        self.asked.append(product_id)
        return {"product_id": product_id}


def test_cached_get_uses_the_plugged_cached_repository() -> None:
    """cached_get reads through the repository the factory builds, on the workload's keys."""
    from aiodynamo_patterns import DynamoSession
    from aiodynamo_patterns.loadgen.workload import ProductWorkload

    built: list[tuple[object, str]] = []
    fake = _FakeCachedRepo()

    def factory(session: object, table: str) -> _FakeCachedRepo:
        built.append((session, table))
        return fake

    session = DynamoSession(endpoint_url="http://127.0.0.1:9", region_name="us-east-1")  # unopened
    workload = ProductWorkload(session, "t-cached", keys=5, cached=factory)
    op = workload.operations({"cached_get": 1.0})["cached_get"]

    result = run_virtual(op())

    assert built == [(session, "t-cached")]
    assert workload.cached_repo is fake
    assert result == {"product_id": fake.asked[0]}
    assert fake.asked[0].startswith("PRODUCT#")


def test_cli_refuses_an_unknown_operation_in_the_mix(capsys: pytest.CaptureFixture[str]) -> None:
    """`load --mix fly=1` exits 1 with one line naming the known operations, before any I/O."""
    from aiodynamo_patterns.cli import main

    assert main(["load", "--mix", "fly=1"]) == 1
    assert "unknown operation 'fly'" in capsys.readouterr().err


@dataclass(frozen=True)
class _Snapshot:
    name: str
    transitions: int
    rejected: int


class _FakeBreaker:
    def __init__(self) -> None:
        self.snapshots = {"a": _Snapshot("a", 2, 5), "b": _Snapshot("b", 1, 0)}

    def states(self) -> dict[str, _Snapshot]:
        return self.snapshots


def test_breaker_transitions_are_summed_over_its_circuits() -> None:
    """A layer exposing states() per table reports the sum of its circuits' counters."""
    stats = layer_stats(_FakeBreaker())

    assert stats == {"circuits": 2, "transitions": 3, "rejected": 5}
