"""Repository against the moto server over HTTP: every method, the edge cases users hit."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key

from aiodynamo_patterns import (
    ConditionFailed,
    DynamoSession,
    Increment,
    ItemAlreadyExists,
    ItemNotFound,
    Remove,
    Repository,
    TransactCheck,
    TransactDelete,
    TransactionCanceled,
    TransactPut,
    TransactUpdate,
    ValidationError,
    VersionConflict,
)
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.pipeline import Call, Request, Result
from aiodynamo_patterns.session import SessionMode


def key(pk: str, sk: str = "A") -> dict[str, str]:
    return {"PK": pk, "SK": sk}


async def test_create_adds_managed_fields_and_returns_stored_item(repo: Repository) -> None:
    """create_item stores created_at/updated_at/version=1 and returns what was stored."""
    stored = await repo.create_item({**key("p1"), "n": 1})
    assert stored["version"] == 1 and stored["created_at"] == stored["updated_at"]
    assert stored["created_at"].endswith("Z")
    assert await repo.get_item(key("p1")) == stored


async def test_create_refuses_to_overwrite(repo: Repository) -> None:
    """A second create of the same key raises ItemAlreadyExists and leaves the first intact."""
    await repo.create_item({**key("p1"), "n": 1})
    with pytest.raises(ItemAlreadyExists) as info:
        await repo.create_item({**key("p1"), "n": 2})
    assert info.value.item is not None and info.value.item["n"] == 1
    assert (await repo.get_item(key("p1")))["n"] == 1  # type: ignore[index]
    replaced = await repo.create_item({**key("p1"), "n": 3}, overwrite=True)
    assert replaced["n"] == 3


async def test_reserved_words_and_placeholder_lookalikes_stored_literally(repo: Repository) -> None:
    """Attribute names like `status` and values like `:v0` round-trip untouched."""
    hostile = {
        "status": ":v0",
        "size": "#n0",
        "data": ") OR attribute_exists(PK",
        "name with space": "x",
        "a.b": "dot is part of the name",
    }
    await repo.create_item({**key("p1"), **hostile})
    got = await repo.get_item(key("p1"), projection=["status", "size", "data"])
    assert got == {k: hostile[k] for k in ("status", "size", "data")}
    updated = await repo.update_item(key("p1"), {"status": "#n1 = :v1", "a.b": "still literal"})
    assert updated["status"] == "#n1 = :v1" and updated["a.b"] == "still literal"


async def test_float_round_trip(repo: Repository) -> None:
    """Floats are stored as their decimal repr and read back exactly as that Decimal."""
    await repo.create_item({**key("f"), "price": 0.1, "big": 1e21, "neg": -3.25, "int": 4.0})
    got = await repo.get_item(key("f"))
    assert got is not None
    assert got["price"] == Decimal("0.1") and got["big"] == Decimal("1e21")
    assert got["neg"] == Decimal("-3.25") and got["int"] == 4 and type(got["int"]) is int


async def test_update_sets_increments_removes_and_bumps_version(repo: Repository) -> None:
    """update_item applies SET / increment / REMOVE atomically and increments version."""
    await repo.create_item({**key("u"), "views": 1, "gone": "x"})
    new = await repo.update_item(key("u"), {"views": Increment(5), "gone": Remove(), "t": "y"})
    assert new["views"] == 6 and "gone" not in new and new["t"] == "y"
    assert new["version"] == 2


async def test_update_of_missing_item_raises_and_creates_nothing(repo: Repository) -> None:
    """Updating a key that does not exist raises ItemNotFound; no phantom item appears."""
    with pytest.raises(ItemNotFound):
        await repo.update_item(key("ghost"), {"a": 1})
    assert await repo.get_item(key("ghost"), consistent=True) is None


async def test_update_with_create_upserts(repo: Repository) -> None:
    """create=True lets update_item create the item, starting version at 1."""
    new = await repo.update_item(key("up"), {"a": 1}, create=True)
    assert new["a"] == 1 and new["version"] == 1


async def test_optimistic_lock_conflict(repo: Repository) -> None:
    """Two writers holding version 1: the first wins, the second gets VersionConflict."""
    await repo.create_item({**key("v"), "a": 0})
    first = await repo.update_item(key("v"), {"a": 1}, expected_version=1)
    assert first["version"] == 2
    with pytest.raises(VersionConflict) as info:
        await repo.update_item(key("v"), {"a": 2}, expected_version=1)
    assert info.value.item is not None and info.value.item["version"] == 2
    assert (await repo.get_item(key("v"), consistent=True))["a"] == 1  # type: ignore[index]


async def test_concurrent_versioned_updates_exactly_one_wins(repo: Repository) -> None:
    """50 concurrent updates expecting the same version: exactly one succeeds."""
    await repo.create_item({**key("race"), "a": 0})
    results = await asyncio.gather(
        *(repo.update_item(key("race"), {"a": i}, expected_version=1) for i in range(50)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, VersionConflict) for r in results) == 49


async def test_user_condition_failure_is_condition_failed(repo: Repository) -> None:
    """A false user condition raises ConditionFailed carrying the current item."""
    await repo.create_item({**key("c"), "state": "closed"})
    with pytest.raises(ConditionFailed) as info:
        await repo.update_item(key("c"), {"x": 1}, condition=Attr("state").eq("open"))
    assert type(info.value) is ConditionFailed
    assert info.value.item is not None and info.value.item["state"] == "closed"


async def test_managed_fields_cannot_be_updated(repo: Repository) -> None:
    """version/updated_at/created_at are the repository's; updating them is refused up front."""
    with pytest.raises(ValidationError) as info:
        await repo.update_item(key("m"), {"version": 9})
    assert info.value.field == "updates.version"


async def test_delete_returns_old_item_and_honours_version(repo: Repository) -> None:
    """delete_item returns what was deleted; a stale expected_version deletes nothing."""
    await repo.create_item({**key("d"), "a": 1})
    with pytest.raises(VersionConflict):
        await repo.delete_item(key("d"), expected_version=7)
    old = await repo.delete_item(key("d"), expected_version=1)
    assert old is not None and old["a"] == 1
    assert await repo.delete_item(key("d")) is None


@pytest.mark.parametrize(
    ("bad_key", "field"),
    [
        ({"PK": "x"}, "key"),
        ({"PK": "x", "SK": "y", "Z": 1}, "key"),
        ({"PK": "", "SK": "y"}, "key.PK"),
        ({"PK": ["x"], "SK": "y"}, "key.PK"),
        ("PK", "key"),
    ],
)
async def test_bad_keys_rejected_before_sending(
    repo: Repository, ddb_session: DynamoSession, bad_key: object, field: str
) -> None:
    """Malformed keys raise ValidationError naming the field, and no request is sent."""
    before = ddb_session.stats().total_requests
    with pytest.raises(ValidationError) as info:
        await repo.get_item(bad_key)  # type: ignore[arg-type]  # wrong on purpose
    assert info.value.field == field
    assert ddb_session.stats().total_requests == before


async def seed(repo: Repository, pk: str, n: int, pad: int = 0) -> None:
    items = [{**key(pk, f"S{i:05d}"), "i": i, "pad": "x" * pad} for i in range(n)]
    await repo.batch_write(puts=items)


async def test_query_pages_and_filters(repo: Repository) -> None:
    """query returns pages with last_key/count/scanned_count; filters apply after the key."""
    await seed(repo, "q", 7)
    page = await repo.query(Key("PK").eq("q"), limit=3)
    assert (len(page.items), page.count, page.scanned_count) == (3, 3, 3)
    assert page.last_key is not None
    rest = await repo.query(Key("PK").eq("q"), start_key=page.last_key)
    assert [i["i"] for i in page.items + rest.items] == list(range(7))
    odd = await repo.query(Key("PK").eq("q"), filter=Attr("i").gte(5), projection=["i"])
    assert odd.items == [{"i": 5}, {"i": 6}] and odd.scanned_count == 7
    desc = await repo.query(Key("PK").eq("q") & Key("SK").begins_with("S0000"), descending=True)
    assert [i["i"] for i in desc.items] == [6, 5, 4, 3, 2, 1, 0]


async def test_query_all_follows_last_evaluated_key_past_one_megabyte(repo: Repository) -> None:
    """query_all yields every item of a partition larger than DynamoDB's 1 MB page."""
    await seed(repo, "big", 300, pad=6000)  # ~1.8 MB
    first = await repo.query(Key("PK").eq("big"))
    assert first.last_key is not None, "one page must not hold it all"
    seen = [item["i"] async for item in repo.query_all(Key("PK").eq("big"))]
    assert seen == list(range(300))


async def test_scan_all(repo: Repository) -> None:
    """scan_all visits every item once."""
    await seed(repo, "s1", 30)
    await seed(repo, "s2", 30)
    items = [i async for i in repo.scan_all(page_size=7)]
    assert len(items) == 60 and len({(i["PK"], i["SK"]) for i in items}) == 60


async def test_batch_get_250_keys_dedupes_and_keeps_order(
    repo: Repository, ddb_session: DynamoSession
) -> None:
    """250 keys (plus duplicates and misses) come back once each, in request order."""
    await seed(repo, "b", 250)
    keys = [key("b", f"S{i:05d}") for i in reversed(range(250))]
    before = ddb_session.stats().total_requests
    got = await repo.batch_get([*keys, keys[0], key("b", "missing")])
    assert [g["i"] for g in got] == list(reversed(range(250)))
    assert ddb_session.stats().total_requests - before == 3  # 100 + 100 + 51 keys


async def test_batch_get_with_projection_keeps_keys(repo: Repository) -> None:
    """A projected batch_get still returns the key attributes."""
    await seed(repo, "bp", 3)
    got = await repo.batch_get([key("bp", "S00001")], projection=["i"])
    assert got == [{"PK": "bp", "SK": "S00001", "i": 1}]


async def test_batch_write_chunks_puts_and_deletes(
    repo: Repository, ddb_session: DynamoSession
) -> None:
    """60 puts then 30 deletes go out in chunks of 25 and all apply."""
    before = ddb_session.stats().total_requests
    await seed(repo, "w", 60)
    assert ddb_session.stats().total_requests - before == 3
    await repo.batch_write(deletes=[key("w", f"S{i:05d}") for i in range(30)])
    left = [i["i"] async for i in repo.query_all(Key("PK").eq("w"))]
    assert left == list(range(30, 60))


async def test_batch_write_validates_everything_before_sending(
    repo: Repository, ddb_session: DynamoSession
) -> None:
    """A bad item in position 40 means nothing at all is written."""
    items: list[dict[str, object]] = [{**key("v", f"S{i}"), "i": i} for i in range(50)]
    items[40] = {**key("v", "S40"), "bad": float("nan")}
    before = ddb_session.stats().total_requests
    with pytest.raises(ValidationError) as info:
        await repo.batch_write(puts=items)
    assert info.value.field == "puts[40].bad"
    assert ddb_session.stats().total_requests == before
    with pytest.raises(ValidationError, match="same key"):
        await repo.batch_write(puts=[key("v", "x")], deletes=[key("v", "x")])


@pytest.mark.ddb_unsupported("dynalite", reason="no TransactWriteItems (UnknownOperationException)")
async def test_transact_write_all_or_nothing(repo: Repository) -> None:
    """A failed condition cancels the whole transaction with per-item reasons."""
    await repo.create_item({**key("t1"), "n": 1})
    await repo.create_item({**key("t3"), "n": 3})
    with pytest.raises(TransactionCanceled) as info:
        await repo.transact_write(
            [
                TransactPut({**key("t2"), "n": 2}),
                TransactUpdate(key("t1"), {"n": 5}, condition=Attr("n").eq(99)),
            ]
        )
    assert [r.code for r in info.value.reasons] == ["None", "ConditionalCheckFailed"]
    assert await repo.get_item(key("t2"), consistent=True) is None
    token = await repo.transact_write(
        [
            TransactPut({**key("t2"), "n": 2}),
            TransactUpdate(key("t1"), {"n": Increment(1)}, condition=Attr("n").eq(1)),
            TransactCheck(key("t3"), Attr("n").eq(3)),
        ]
    )
    assert len(token) == 32
    assert (await repo.get_item(key("t1")))["n"] == 2  # type: ignore[index]
    # a token is account-wide for 10 minutes: a literal one would clash with another test's
    # (DynamoDB answers IdempotentParameterMismatchException), so each run makes its own
    given = f"del-{uuid.uuid4().hex}"
    assert await repo.transact_write([TransactDelete(key("t2"))], token=given) == given
    assert await repo.get_item(key("t2")) is None


async def test_transact_write_refuses_two_actions_on_one_item(repo: Repository) -> None:
    """Two actions on the same key are refused before sending, naming the second."""
    with pytest.raises(ValidationError) as info:
        await repo.transact_write([TransactPut(key("x")), TransactDelete(key("x"))])
    assert info.value.field == "actions[1]"


class CreateAfterFailedUpdate:
    """A layer playing a second writer who creates the item right after an UpdateItem failed."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.armed = False

    async def __call__(self, request: Request, call_next: Call) -> Result:
        try:
            return await call_next(request)
        except ConditionFailed:
            if self.armed and request.operation == "UpdateItem":
                self.armed = False
                wire = {k: {"S": v} for k, v in self.item.items()}
                await call_next(
                    Request("PutItem", {"TableName": request.table, "Item": wire}, True)
                )
            raise


@pytest.mark.ddb_unsupported(
    "dynalite", reason="ignores ReturnValuesOnConditionCheckFailure: the old item is read back"
)
async def test_update_of_missing_item_is_not_found_even_if_created_right_after(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """Once the server has returned an old item with a failure, an answer without one means no
    item: an item another writer creates just after is not mistaken for the failed one."""
    racer = CreateAfterFailedUpdate({**key("late"), "by": "other"})
    async with DynamoSession(
        endpoint_url=ddb_endpoint, layers=[racer], mode=ddb_session_mode, **DUMMY_CREDENTIALS
    ) as s:
        repo = Repository(s, table)
        await repo.create_item({**key("v"), "a": 0})
        with pytest.raises(VersionConflict):  # teaches the repository that ALL_OLD is honoured
            await repo.update_item(key("v"), {"a": 1}, expected_version=7)
        racer.armed = True
        with pytest.raises(ItemNotFound):
            await repo.update_item(key("late"), {"a": 1})
        assert racer.armed is False  # the other writer did create it, after the failure
        assert (await repo.get_item(key("late"), consistent=True)) == {**key("late"), "by": "other"}


async def test_update_with_no_attributes_is_refused_unsent(repo: Repository) -> None:
    """update_item(key, {}) would only bump version and updated_at: ValidationError('updates')."""
    await repo.create_item({**key("n"), "a": 0})
    with pytest.raises(ValidationError) as info:
        await repo.update_item(key("n"), {})
    assert info.value.field == "updates"
    after = await repo.get_item(key("n"), consistent=True)
    assert after is not None and after["version"] == 1


@pytest.mark.parametrize("managed", ["version", "created_at", "updated_at"])
async def test_create_refuses_managed_attributes(repo: Repository, managed: str) -> None:
    """create_item sets version/created_at/updated_at itself: a caller's is refused, not replaced."""
    with pytest.raises(ValidationError) as info:
        await repo.create_item({**key("m"), managed: 5})
    assert info.value.field == f"item.{managed}"
    assert await repo.get_item(key("m"), consistent=True) is None


def sent(session: DynamoSession, operation: str) -> int:
    assert session.metrics is not None
    return int(session.metrics.snapshot()["operations"].get(operation, {}).get("count", 0))


@pytest.mark.parametrize(
    ("start_key", "field"),
    [
        ({}, "start_key"),
        ("PK=q", "start_key"),
        ({"PK": "q"}, "start_key.SK"),
        ({"SK": "S00002"}, "start_key.PK"),
        ({"PK": "q", "SK": "S00002", "i": 2}, "start_key.i"),  # not a key of the table
        ({"PK": "q", "SK": None}, "start_key.SK"),
        ({"PK": "q", "SK": {"nested": "map"}}, "start_key.SK"),
        ({"PK": "", "SK": "S00002"}, "start_key.PK"),
        ({"PK": "q", "SK": 2}, "start_key.SK"),  # the pages showed SK as a string
    ],
)
async def test_a_start_key_that_is_not_a_page_key_is_refused_unsent(
    ddb_session: DynamoSession, repo: Repository, start_key: Any, field: str
) -> None:
    """A tampered or made-up start_key is a ValidationError naming the attribute, never sent."""
    await seed(repo, "q", 4)
    page = await repo.query(Key("PK").eq("q"), limit=2)
    assert page.last_key is not None and isinstance(page.last_key["SK"], str)
    queries, scans = sent(ddb_session, "Query"), sent(ddb_session, "Scan")
    with pytest.raises(ValidationError) as info:
        await repo.query(Key("PK").eq("q"), start_key=start_key)
    assert info.value.field == field
    with pytest.raises(ValidationError):
        await repo.scan(start_key=start_key)
    assert (sent(ddb_session, "Query"), sent(ddb_session, "Scan")) == (queries, scans)
    rest = await repo.query(Key("PK").eq("q"), start_key=page.last_key)  # the real one works
    assert [i["i"] for i in rest.items] == [2, 3]
