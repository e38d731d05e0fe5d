"""Metrics through the wire fault proxy and the built-in retry layer (skipped until both exist)."""

from __future__ import annotations

import pytest

from aiodynamo_patterns import DynamoError, DynamoSession, MetricsCollector, Repository
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.testing.clock import ManualClock

fault_proxy = pytest.importorskip("aiodynamo_patterns.testing.fault_proxy")
Fault = fault_proxy.Fault
FaultProxy = fault_proxy.FaultProxy


def metrics_of(session: DynamoSession) -> MetricsCollector:
    assert session.metrics is not None
    return session.metrics


async def test_wire_throttles_are_retries_inside_one_sample(ddb_endpoint: str, table: str) -> None:
    """Two throttled answers then a success are one GetItem with two retries and two throttles."""
    async with (
        FaultProxy(ddb_endpoint) as proxy,
        DynamoSession(endpoint_url=proxy.url, clock=ManualClock(), **DUMMY_CREDENTIALS) as session,
    ):
        repo = Repository(session, table)
        proxy.script([Fault.THROTTLE, Fault.THROTTLE])

        await repo.get_item({"PK": "p", "SK": "s"})

        op = metrics_of(session).snapshot()["operations"]["GetItem"]
        assert (op["count"], op["successes"], op["retries"], op["throttles"]) == (1, 1, 2, 2)
        assert op["consumed_capacity"]["read_units"] == 0.5


async def test_wire_errors_are_counted_by_code_once_per_call(ddb_endpoint: str, table: str) -> None:
    """A call that keeps getting 500s is one error under InternalServerError, its resends retries."""
    async with (
        FaultProxy(ddb_endpoint) as proxy,
        DynamoSession(endpoint_url=proxy.url, clock=ManualClock(), **DUMMY_CREDENTIALS) as session,
    ):
        repo = Repository(session, table)
        proxy.script([Fault.ERROR_500] * 50)

        with pytest.raises(DynamoError):
            await repo.get_item({"PK": "p", "SK": "s"})

        op = metrics_of(session).snapshot()["operations"]["GetItem"]
        sent = proxy.counts[Fault.ERROR_500]
        assert sent >= 2
        assert (op["count"], op["errors"], op["retries"]) == (1, 1, sent - 1)
        assert op["errors_by_code"] == {"InternalServerError": 1}
