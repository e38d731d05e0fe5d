"""Metrics against a server over HTTP: every call measured once, capacity from real responses."""

from __future__ import annotations

import json
import logging

import pytest
from boto3.dynamodb.conditions import Key
from prometheus_client.parser import text_string_to_metric_families

from aiodynamo_patterns import (
    DynamoSession,
    ItemAlreadyExists,
    MetricsCollector,
    ProductRepository,
    Repository,
    TransactPut,
)
from aiodynamo_patterns.tables import PRODUCT_GSI


def metrics_of(session: DynamoSession) -> MetricsCollector:
    assert session.metrics is not None
    return session.metrics


@pytest.mark.ddb_unsupported(
    "moto",
    reason="fixed capacity figures (0.5 WCU per UpdateItem, 1 RCU per Query or batch key), "
    "no index writes, a GSI's units under LocalSecondaryIndexes",
)
@pytest.mark.ddb_unsupported(
    "dynalite", reason="charges a write to the table only, never to its global secondary indexes"
)
async def test_consumed_capacity_is_summed_from_the_responses(
    ddb_session: DynamoSession, repo: Repository
) -> None:
    """Units come from each response's ConsumedCapacity, per op, table and index (DynamoDB's sizes).

    Every item is well under 1 KB and projected (ALL) into GSI1: a write costs 1 WCU on the table
    and 1 on the index, an eventually consistent read of up to 4 KB 0.5 RCU.
    """
    metrics = metrics_of(ddb_session)
    metrics.reset()
    table = repo.table_name
    items = [{"PK": "p", "SK": f"s{i}", "GSI1PK": "g", "GSI1SK": f"s{i}"} for i in range(3)]

    for item in items:
        await repo.put_item(item)  # PutItem: 1 + 1 (index) write each
    await repo.get_item({"PK": "p", "SK": "s0"})  # GetItem: 0.5 read
    await repo.update_item({"PK": "p", "SK": "s0"}, {"n": 1})  # UpdateItem: 1 + 1 (index) write
    await repo.query(Key("PK").eq("p"))  # Query: 3 small items, 0.5 read
    await repo.query(Key("GSI1PK").eq("g"), index=PRODUCT_GSI)  # Query on the index: 0.5 read
    await repo.batch_get([{"PK": "p", "SK": f"s{i}"} for i in range(3)])  # 0.5 read per key
    await repo.delete_item({"PK": "p", "SK": "s2"})  # DeleteItem: 1 + 1 (index) write

    snap = metrics.snapshot()
    ops = snap["operations"]

    def units(op: str) -> tuple[float, float]:
        capacity = ops[op]["consumed_capacity"]
        return capacity["read_units"], capacity["write_units"]

    assert ops["PutItem"]["count"] == 3
    assert units("PutItem") == (0.0, 6.0)
    assert units("GetItem") == (0.5, 0.0)
    assert units("UpdateItem") == (0.0, 2.0)
    assert units("Query") == (1.0, 0.0)
    assert units("BatchGetItem") == (1.5, 0.0)
    assert units("DeleteItem") == (0.0, 2.0)
    assert snap["capacity"][table]["read_units"] == 3.0
    assert snap["capacity"][table]["write_units"] == 10.0
    assert snap["capacity"][table]["indexes"] == {
        PRODUCT_GSI: {"read_units": 0.5, "write_units": 5.0}
    }


@pytest.mark.ddb_unsupported("dynalite", reason="includes a transaction; dynalite has none")
async def test_every_repository_path_is_measured_without_per_method_code(
    ddb_session: DynamoSession, products: ProductRepository
) -> None:
    """Single, batch, transactional and paged calls all show up, one sample per wire call."""
    metrics = metrics_of(ddb_session)
    metrics.reset()
    sent_before = ddb_session.stats().total_requests

    created = [
        await products.create_product(
            {"name": f"n{i}", "price": 1, "stock": 5, "category": "metrics-cat"}
        )
        for i in range(3)
    ]
    ids = [p["product_id"] for p in created]
    await products.batch_get_products(ids)
    await products.update_product_stock(ids[0], -1)
    await products.transact_write(
        [TransactPut({"PK": "t1", "SK": "t", "n": 1}), TransactPut({"PK": "t2", "SK": "t"})]
    )
    pages = 0
    start = None
    while True:
        page = await products.get_products_by_category("metrics-cat", limit=2, start_key=start)
        pages += 1
        start = page.last_key
        if start is None:
            break

    ops = metrics.snapshot()["operations"]

    assert ops["PutItem"]["count"] == 3
    assert ops["BatchGetItem"]["count"] == 1
    assert ops["UpdateItem"]["count"] >= 1  # a stock change may take more than one request
    assert ops["TransactWriteItems"]["count"] == 1
    assert ops["Query"]["count"] == pages >= 2
    for name in ("PutItem", "BatchGetItem", "TransactWriteItems", "Query"):
        assert ops[name]["errors"] == 0, name
    sent = ddb_session.stats().total_requests - sent_before
    assert sent == sum(op["count"] for op in ops.values())


async def test_exports_parse_after_real_traffic(
    ddb_session: DynamoSession, repo: Repository
) -> None:
    """After real calls, the JSON and Prometheus exports parse and agree on the counts."""
    metrics = metrics_of(ddb_session)
    metrics.reset()
    await repo.put_item({"PK": "a", "SK": "b"})
    with pytest.raises(ItemAlreadyExists):
        await repo.create_item({"PK": "a", "SK": "b"})

    exported = json.loads(metrics.export_json())
    families = {f.name: f for f in text_string_to_metric_families(metrics.prometheus_text())}

    put = exported["operations"]["PutItem"]
    assert (put["count"], put["errors"]) == (2, 1)
    assert put["errors_by_code"] == {"ConditionalCheckFailedException": 1}
    assert exported["pools"][0]["max_concurrency"] == ddb_session.max_concurrency
    samples = {
        (s.labels.get("code"), s.value)
        for s in families["aiodynamo_patterns_request_errors"].samples
    }
    assert samples == {("ConditionalCheckFailedException", 1.0)}


async def test_failure_logs_carry_no_item_values_by_default(
    ddb_session: DynamoSession, repo: Repository, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused create logs code, request id and key shape, never the item's values or key values."""
    secret = "ssn-078-05-1120"
    await repo.create_item({"PK": "secret-key-value", "SK": "x", "ssn": secret})
    caplog.set_level(logging.DEBUG, logger="aiodynamo_patterns")

    with pytest.raises(ItemAlreadyExists) as info:
        await repo.create_item({"PK": "secret-key-value", "SK": "x", "ssn": secret})

    assert info.value.item is not None  # the old item was in the error: it must not be logged
    failures = [r for r in caplog.records if getattr(r, "ddb_code", None)]
    assert len(failures) == 1
    record = failures[0]
    assert record.ddb_code == "ConditionalCheckFailedException"  # type: ignore[attr-defined]
    assert record.ddb_request_id  # type: ignore[attr-defined]
    logged = record.getMessage() + repr(vars(record))
    assert secret not in logged
    assert "secret-key-value" not in logged
