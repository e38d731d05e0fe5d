"""DynamoSession: one client, a real bound on concurrency, clean closing, corrupt data refused."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from aiodynamo_patterns import (
    DynamoSession,
    PoolTimeout,
    Repository,
    SessionClosed,
    TableNotFound,
    TransportError,
    ValidationError,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.session import SessionMode


async def test_peak_in_flight_never_exceeds_max_concurrency(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """500 concurrent reads through a session of 8 slots never have more than 8 in flight."""
    async with DynamoSession(
        endpoint_url=ddb_endpoint, max_concurrency=8, mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as s:
        repo = Repository(s, table)
        await asyncio.gather(*(repo.get_item({"PK": f"k{i}", "SK": "A"}) for i in range(500)))
        stats = s.stats()
    assert stats.peak_in_flight == 8
    assert stats.total_requests == 500
    assert (stats.in_flight, stats.waiting) == (0, 0)
    assert stats.total_wait_seconds > 0


async def test_one_client_shared_and_pool_sized_to_the_semaphore(
    ddb_session: DynamoSession,
) -> None:
    """Every call uses the session's one client, whose connector matches max_concurrency."""
    assert ddb_session.client.meta.config.max_pool_connections == ddb_session.max_concurrency
    assert ddb_session.client.meta.config.retries == {"mode": "legacy", "total_max_attempts": 1}


async def test_acquire_timeout_raises_pool_timeout(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """When every slot stays busy longer than acquire_timeout, the next call raises PoolTimeout."""
    async with DynamoSession(
        endpoint_url=ddb_endpoint,
        max_concurrency=1,
        acquire_timeout=0.05,
        mode=ddb_session_mode,
        **DUMMY_CREDENTIALS,
    ) as s:
        await s._slots.occupy()  # occupy the only slot, as a stuck request would
        try:
            with pytest.raises(PoolTimeout) as info:
                await Repository(s, table).get_item({"PK": "a", "SK": "b"})
        finally:
            s._slots.vacate()
        assert info.value.operation == "GetItem"
        assert s.stats().acquire_timeouts == 1
        assert await Repository(s, table).get_item({"PK": "a", "SK": "b"}) is None


async def test_closing_leaves_no_warnings(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """Open, use and close a session: no ResourceWarning or unclosed-session message at all."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with DynamoSession(
            endpoint_url=ddb_endpoint, mode=ddb_session_mode, **DUMMY_CREDENTIALS
        ) as s:
            await asyncio.gather(
                *(Repository(s, table).get_item({"PK": "x", "SK": str(i)}) for i in range(20))
            )
        await s.aclose()  # idempotent
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []
    assert not s.is_open


async def test_session_lifecycle_errors(ddb_endpoint: str) -> None:
    """A closed session refuses calls and cannot be reopened."""
    s = DynamoSession(endpoint_url=ddb_endpoint, **DUMMY_CREDENTIALS)
    with pytest.raises(SessionClosed):
        await s.call("ListTables", {})
    async with s:
        assert "open" in repr(s)
    with pytest.raises(SessionClosed):
        await s.call("ListTables", {})
    with pytest.raises(SessionClosed):
        await s.__aenter__()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"max_concurrency": 0}, "max_concurrency"), ({"acquire_timeout": 0}, "acquire_timeout")],
)
def test_bad_session_arguments(kwargs: dict[str, float], field: str) -> None:
    """Nonsense pool settings are refused naming the argument."""
    with pytest.raises(ValidationError) as info:
        DynamoSession(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_missing_table_is_table_not_found(
    repo: Repository, ddb_session: DynamoSession
) -> None:
    """A request for a table that does not exist raises TableNotFound, not botocore's error."""
    with pytest.raises(TableNotFound):
        await Repository(ddb_session, "no-such-table").get_item({"PK": "a", "SK": "b"})


async def test_unreachable_endpoint_is_transport_error(ddb_session_mode: SessionMode) -> None:
    """A refused connection arrives as TransportError (retryable), never as a botocore error."""
    async with DynamoSession(
        endpoint_url="http://127.0.0.1:9", mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as s:
        with pytest.raises(TransportError) as info:
            await Repository(s, "whatever").get_item({"PK": "a", "SK": "b"})
    assert info.value.retryable


@pytest.fixture
async def corrupting_server() -> AsyncIterator[str]:
    """A DynamoDB look-alike whose GetItem responses carry a wrong x-amz-crc32."""
    body = json.dumps({"Item": {"PK": {"S": "a"}, "SK": {"S": "b"}, "v": {"S": "evil"}}}).encode()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            body=body,
            content_type="application/x-amz-json-1.0",
            headers={"x-amz-crc32": str((zlib.crc32(body) + 1) & 0xFFFFFFFF)},
        )

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started above
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_corrupted_response_never_reaches_the_caller(
    corrupting_server: str, ddb_session_mode: SessionMode
) -> None:
    """A response whose CRC32 does not match its body raises TransportError, never returns data."""
    async with DynamoSession(
        endpoint_url=corrupting_server, mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as s:
        with pytest.raises(TransportError) as info:
            await Repository(s, "tbl").get_item({"PK": "a", "SK": "b"})
    assert info.value.code == "ChecksumMismatch"


async def test_a_session_made_from_the_callers_aiobotocore_or_aioboto3_session(
    ddb_endpoint: str, table: str
) -> None:
    """session= takes an aiobotocore AioSession or an aioboto3.Session, with their own
    credentials and region; anything else is a ValidationError naming the argument."""
    from aiobotocore.session import AioSession

    mine = AioSession()
    mine.set_credentials(
        DUMMY_CREDENTIALS["aws_access_key_id"], DUMMY_CREDENTIALS["aws_secret_access_key"]
    )
    mine.set_config_variable("region", DUMMY_CREDENTIALS["region_name"])
    givens: list[object] = [mine]
    try:
        import aioboto3
    except ImportError:
        pass
    else:
        givens.append(aioboto3.Session(**DUMMY_CREDENTIALS))
    for given in givens:
        async with DynamoSession(endpoint_url=ddb_endpoint, session=given) as s:
            repo = Repository(s, table)
            await repo.put_item({"PK": "given", "SK": type(given).__name__})
            assert await repo.get_item({"PK": "given", "SK": type(given).__name__}) is not None
    with pytest.raises(ValidationError) as err:
        DynamoSession(endpoint_url=ddb_endpoint, session="my-profile")
    assert err.value.field == "session"


async def test_a_server_message_quoting_a_value_reaches_the_caller_without_it(
    ddb_session: DynamoSession, table: str
) -> None:
    """The server's "cannot be converted to a numeric value: <value>" arrives value withheld."""
    item = {"PK": {"S": "a"}, "SK": {"S": "b"}, "n": {"N": "not-a-number-secret"}}

    with pytest.raises(ValidationError) as info:
        await ddb_session.call("PutItem", {"TableName": table, "Item": item})

    assert "secret" not in str(info.value)
    assert all("secret" not in note for note in getattr(info.value, "__notes__", []))
