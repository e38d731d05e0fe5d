"""The benchmark stub server speaks enough DynamoDB for the library, over kept-alive HTTP/1.1."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession, ProductRepository
from aiodynamo_patterns.tables import ensure_product_table

STUB_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "stub_server.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stub_server", STUB_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["stub_server"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stub() -> Iterator[Any]:
    with _load().StubServer() as server:
        yield server


def test_responses_carry_crc32_and_request_id_on_one_connection(stub: Any) -> None:
    """Two requests on one connection both get a matching x-amz-crc32 and a request id."""
    conn = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=5)
    try:
        for _ in range(2):
            conn.request(
                "POST",
                "/",
                body=b"{}",
                headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"},
            )
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200
            assert int(response.headers["x-amz-crc32"]) == zlib.crc32(body)
            assert response.headers["x-amzn-RequestId"]
            assert "TableNames" in json.loads(body)
    finally:
        conn.close()


async def test_library_round_trip_and_conditional_stock_decrease(stub: Any) -> None:
    """Products can be created, read, queried and decreased down to zero but not below it."""
    async with DynamoSession(
        endpoint_url=stub.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    ) as session:
        await ensure_product_table(session, "stub-products")
        repo = ProductRepository(session, "stub-products")
        product = await repo.create_product(
            {"name": "pen", "price": 1.5, "stock": 2, "category": "office"}
        )
        pid = product["product_id"]
        assert (await repo.get_product(pid)) == product
        page = await repo.get_products_by_category("office")
        assert [p["product_id"] for p in page.items] == [pid]
        assert (await repo.update_product_stock(pid, -2))["stock"] == 0
        from aiodynamo_patterns import InsufficientStock

        with pytest.raises(InsufficientStock):
            await repo.update_product_stock(pid, -1)
        assert (await repo.get_product(pid, consistent=True))["stock"] == 0  # type: ignore[index]
