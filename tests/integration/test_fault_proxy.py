"""The fault proxy puts each fault on the wire and the session sees the matching error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aiodynamo_patterns import (
    DynamoError,
    DynamoSession,
    ServiceUnavailable,
    Throttled,
    TransportError,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.testing import Fault, FaultProxy


@pytest_asyncio.fixture
async def proxy(ddb_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(ddb_endpoint, seed=1) as proxy:
        yield proxy


@pytest_asyncio.fixture
async def bare(proxy: FaultProxy) -> AsyncIterator[DynamoSession]:
    """A session through the proxy with neither retry nor breaker: every fault shows."""
    async with DynamoSession(
        endpoint_url=proxy.url, retry=None, breaker=None, **DUMMY_CREDENTIALS
    ) as session:
        yield session


def get(table: str) -> dict[str, object]:
    return {"TableName": table, "Key": {"PK": {"S": "x"}, "SK": {"S": "y"}}}


async def test_forwarded_requests_keep_the_client_connection_alive(
    proxy: FaultProxy, bare: DynamoSession, table: str
) -> None:
    """Twenty sequential calls are answered over one client connection."""
    before = proxy.connections
    for _ in range(20):
        assert "Item" not in await bare.call("GetItem", get(table))

    assert proxy.connections - before <= 1
    assert proxy.counts[Fault.FORWARD] >= 20


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (Fault.THROTTLE, Throttled, "ProvisionedThroughputExceededException"),
        (Fault.ERROR_500, ServiceUnavailable, "InternalServerError"),
        (Fault.RESET, TransportError, None),
        (Fault.DROP_RESPONSE, TransportError, None),
    ],
)
async def test_each_scripted_fault_reaches_the_client_as_its_error(
    proxy: FaultProxy,
    bare: DynamoSession,
    table: str,
    fault: Fault,
    error: type[DynamoError],
    code: str | None,
) -> None:
    """A scripted fault is answered once, counted, and the next request is forwarded again."""
    proxy.script([fault])

    with pytest.raises(error) as raised:
        await bare.call("GetItem", get(table))
    await bare.call("GetItem", get(table))

    if code is not None:
        assert raised.value.code == code
    if isinstance(raised.value, TransportError):
        assert raised.value.request_sent  # the connection was open: it may have executed
    assert proxy.counts[fault] == 1


async def test_dropped_response_happens_after_the_write(
    proxy: FaultProxy, bare: DynamoSession, table: str
) -> None:
    """With DROP_RESPONSE the client hears nothing but the item was written."""
    proxy.script([Fault.DROP_RESPONSE])
    item = {"PK": {"S": "p"}, "SK": {"S": "s"}, "n": {"N": "1"}}

    with pytest.raises(TransportError):
        await bare.call("PutItem", {"TableName": table, "Item": item}, idempotent=True)

    got = await bare.call(
        "GetItem",
        {"TableName": table, "Key": {"PK": item["PK"], "SK": item["SK"]}, "ConsistentRead": True},
    )
    assert got["Item"]["n"] == {"N": "1"}


async def test_a_down_proxy_refuses_connections_and_comes_back_on_the_same_port(
    proxy: FaultProxy, bare: DynamoSession, table: str
) -> None:
    """go_down() refuses new connections (request provably not sent); come_up() serves again."""
    port = proxy.port
    await proxy.go_down()
    failures = []
    for _ in range(3):  # the first may hit the pooled connection that was reset
        with pytest.raises(TransportError) as raised:
            await bare.call("GetItem", get(table))
        failures.append(raised.value)
    assert failures[-1].request_sent is False
    assert failures[-1].code == "ConnectFailed"

    await proxy.come_up()
    assert proxy.port == port
    await bare.call("GetItem", get(table))


async def test_rates_are_deterministic_for_a_seed(ddb_endpoint: str, table: str) -> None:
    """Two proxies with the same seed make the same decisions for the same request sequence."""
    seen: list[list[str]] = []
    for _ in range(2):
        async with (
            FaultProxy(ddb_endpoint, throttle_rate=0.3, error_rate=0.1, seed=42) as proxy,
            DynamoSession(
                endpoint_url=proxy.url, retry=None, breaker=None, **DUMMY_CREDENTIALS
            ) as session,
        ):
            outcomes = []
            for _ in range(30):
                try:
                    await session.call("GetItem", get(table))
                    outcomes.append("ok")
                except DynamoError as exc:
                    outcomes.append(exc.code)
            seen.append(outcomes)
    assert seen[0] == seen[1]
    assert "ProvisionedThroughputExceededException" in seen[0]


async def test_latency_uses_the_injected_sleep(ddb_endpoint: str, table: str) -> None:
    """Added latency goes through the sleep function the proxy was given."""
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    async with (
        FaultProxy(ddb_endpoint, latency_rate=1.0, latency=0.25, sleep=fake_sleep) as proxy,
        DynamoSession(endpoint_url=proxy.url, **DUMMY_CREDENTIALS) as session,
    ):
        await session.call("GetItem", get(table))
    assert delays == [0.25]
    assert proxy.counts[Fault.LATENCY] == 1


async def test_a_hanging_request_ends_in_the_clients_read_timeout(
    proxy: FaultProxy, table: str
) -> None:
    """HANG never answers: the session's read timeout turns it into a TransportError."""
    proxy.script([Fault.HANG])
    async with DynamoSession(
        endpoint_url=proxy.url, retry=None, breaker=None, read_timeout=0.5, **DUMMY_CREDENTIALS
    ) as session:
        with pytest.raises(TransportError) as raised:
            await session.call("GetItem", get(table))
    assert raised.value.code == "Timeout"
    assert proxy.counts[Fault.HANG] == 1
