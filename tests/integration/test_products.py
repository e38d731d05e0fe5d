"""The product domain: atomic stock under contention, validation, category pages."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aiodynamo_patterns import (
    InsufficientStock,
    ItemNotFound,
    ProductRepository,
    ValidationError,
)

BASE = {"name": "Widget", "price": 9.5, "stock": 10, "category": "tools"}


async def test_create_and_get_product(products: ProductRepository) -> None:
    """create_product returns the stored product; get_product reads it back."""
    p = await products.create_product(BASE)
    assert p["product_id"].startswith("PRODUCT#")
    assert {k: p[k] for k in BASE} == {**BASE, "price": p["price"]}
    assert str(p["price"]) == "9.5"
    assert await products.get_product(p["product_id"]) == p
    assert "PK" not in p and "GSI1PK" not in p


async def test_200_concurrent_decrements_on_stock_10(products: ProductRepository) -> None:
    """200 concurrent decrements of 1 on stock 10: exactly 10 succeed, 190 refused, stock 0."""
    p = await products.create_product(BASE)
    results = await asyncio.gather(
        *(products.update_product_stock(p["product_id"], -1) for _ in range(200)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, dict) for r in results) == 10
    assert sum(isinstance(r, InsufficientStock) for r in results) == 190
    assert (await products.get_product(p["product_id"], consistent=True))["stock"] == 0  # type: ignore[index]
    assert sorted(r["stock"] for r in results if isinstance(r, dict)) == list(range(10))


async def test_oversell_refused_and_nothing_written(products: ProductRepository) -> None:
    """A decrease larger than the stock raises InsufficientStock and leaves stock and version."""
    p = await products.create_product(BASE)
    with pytest.raises(InsufficientStock) as info:
        await products.update_product_stock(p["product_id"], -11)
    assert info.value.item is not None and info.value.item["stock"] == 10
    after = await products.get_product(p["product_id"], consistent=True)
    assert after is not None and (after["stock"], after["version"]) == (10, 1)


async def test_stock_increase_and_version(products: ProductRepository) -> None:
    """An increase adds to the stock and bumps the version."""
    p = await products.create_product(BASE)
    after = await products.update_product_stock(p["product_id"], 5)
    assert (after["stock"], after["version"]) == (15, 2)


async def test_stock_update_of_missing_product_creates_nothing(products: ProductRepository) -> None:
    """Changing the stock of a product that does not exist raises ItemNotFound, no phantom."""
    ghost = f"PRODUCT#{uuid.uuid4().hex}"
    for delta in (-1, 3):
        with pytest.raises(ItemNotFound):
            await products.update_product_stock(ghost, delta)
    assert await products.get_product(ghost, consistent=True) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"price": -1}, "price"),
        ({"price": float("nan")}, "price"),
        ({"price": "9"}, "price"),
        ({"stock": 1.5}, "stock"),
        ({"stock": -1}, "stock"),
        ({"stock": True}, "stock"),
        ({"category": 3}, "category"),
        ({"PK": "PRODUCT#x"}, "PK"),
        ({"version": 3}, "version"),
    ],
)
async def test_invalid_product_data_names_the_field(
    products: ProductRepository, change: dict[str, object], field: str
) -> None:
    """Invalid product data raises ValidationError naming the field before anything is sent."""
    before = products.session.stats().total_requests
    with pytest.raises(ValidationError) as info:
        await products.create_product({**BASE, **change})
    assert info.value.field == field
    assert products.session.stats().total_requests == before


async def test_missing_required_field(products: ProductRepository) -> None:
    """A product without a price is refused naming `price`."""
    with pytest.raises(ValidationError) as info:
        await products.create_product({"name": "x", "stock": 1, "category": "c"})
    assert info.value.field == "price"


@pytest.mark.parametrize("bad", ["", "ABC", "PRODUCT#", 5])
async def test_bad_product_id(products: ProductRepository, bad: object) -> None:
    """Ids that are not PRODUCT#<something> are refused naming product_id."""
    with pytest.raises(ValidationError) as info:
        await products.update_product_stock(bad, -1)  # type: ignore[arg-type]  # on purpose
    assert info.value.field == "product_id"


async def test_category_pagination_visits_each_product_once(products: ProductRepository) -> None:
    """Paging a category with limit 4 returns all 11 products once, other categories excluded."""
    ids = {
        (await products.create_product({**BASE, "name": f"p{i}", "category": "pages"}))[
            "product_id"
        ]
        for i in range(11)
    }
    await products.create_product({**BASE, "category": "other"})
    seen: list[str] = []
    start = None
    while True:
        page = await products.get_products_by_category("pages", limit=4, start_key=start)
        assert len(page.items) <= 4
        seen += [p["product_id"] for p in page.items]
        start = page.last_key
        if start is None:
            break
    assert sorted(seen) == sorted(ids)


async def test_an_index_start_key_with_more_than_the_index_keys_is_refused(
    products: ProductRepository,
) -> None:
    """An index page's last_key holds the table's and the index's keys; a third extra is refused."""
    for i in range(3):
        await products.create_product({**BASE, "name": f"p{i}", "category": "tamper"})
    page = await products.get_products_by_category("tamper", limit=2)
    assert page.last_key is not None and set(page.last_key) == {"PK", "SK", "GSI1PK", "GSI1SK"}
    with pytest.raises(ValidationError) as info:
        await products.get_products_by_category("tamper", start_key={**page.last_key, "stock": 1})
    assert info.value.field == "start_key.stock"
    rest = await products.get_products_by_category("tamper", start_key=page.last_key)
    assert len(page.items) + len(rest.items) == 3


async def test_batch_get_products(products: ProductRepository) -> None:
    """batch_get_products returns the existing products in the order asked, skipping misses."""
    a = await products.create_product({**BASE, "name": "a"})
    b = await products.create_product({**BASE, "name": "b"})
    got = await products.batch_get_products(
        [b["product_id"], f"PRODUCT#{uuid.uuid4().hex}", a["product_id"]]
    )
    assert [g["name"] for g in got] == ["b", "a"]
