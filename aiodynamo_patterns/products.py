"""The example domain: products in a single table, stock changed atomically.

Layout: ``PK = "PRODUCT#<hex>"``, ``SK = "DETAILS"``, ``GSI1PK = "CATEGORY#<category>"``,
``GSI1SK = PK``. A stock change is ONE conditional UpdateItem: ``stock = stock + :delta`` only
while the item exists and (for a decrease) ``stock >= -delta``; it never creates an item.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from .errors import ConditionFailed, InsufficientStock, ItemNotFound, ValidationError
from .expressions import Increment, Placeholders, item_from_wire, update_expression
from .repository import Item, Page, Repository, utc_now_iso
from .session import DynamoSession
from .tables import PRODUCT_GSI

__all__ = ["ProductRepository"]

_RESERVED = {"PK", "SK", "GSI1PK", "GSI1SK", "product_id", "version", "created_at", "updated_at"}
_DETAILS = "DETAILS"


def _product_key(product_id: object) -> dict[str, str]:
    if (
        not isinstance(product_id, str)
        or not product_id.startswith("PRODUCT#")
        or len(product_id) <= 8
    ):
        raise ValidationError("product ids look like 'PRODUCT#<hex>'", field="product_id")
    return {"PK": product_id, "SK": _DETAILS}


def _public(item: Item) -> Item:
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK")}


def _validate(data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError("product data must be a mapping", field="data")
    for name in ("name", "price", "stock", "category"):
        if name not in data:
            raise ValidationError("is required", field=name)
    for name in data:
        if name in _RESERVED:
            raise ValidationError("is set by the repository", field=name)
    name = data["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError("must be a non-empty string of at most 200 characters", field="name")
    category = data["category"]
    if not isinstance(category, str) or not category.strip() or len(category) > 100:
        raise ValidationError(
            "must be a non-empty string of at most 100 characters", field="category"
        )
    price = data["price"]
    if isinstance(price, bool) or not isinstance(price, int | float | Decimal):
        raise ValidationError("must be a number", field="price")
    if (isinstance(price, float) and not math.isfinite(price)) or (
        isinstance(price, Decimal) and not price.is_finite()
    ):
        raise ValidationError("must be finite", field="price")
    if price < 0:
        raise ValidationError("must be >= 0", field="price")
    stock = data["stock"]
    if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
        raise ValidationError("must be an int >= 0", field="stock")
    return dict(data)


class ProductRepository(Repository):
    """Products of the single-table layout (see :func:`ensure_product_table`)."""

    def __init__(self, session: DynamoSession, table_name: str, **kwargs: Any) -> None:
        super().__init__(session, table_name, key_names=("PK", "SK"), **kwargs)

    async def create_product(self, data: Mapping[str, Any]) -> Item:
        """Validate and store a new product; returns it with its ``product_id``."""
        fields = _validate(data)
        product_id = f"PRODUCT#{uuid.uuid4().hex}"
        item = {
            **fields,
            "PK": product_id,
            "SK": _DETAILS,
            "GSI1PK": f"CATEGORY#{fields['category']}",
            "GSI1SK": product_id,
            "product_id": product_id,
        }
        return _public(await self.create_item(item))

    async def get_product(self, product_id: str, *, consistent: bool = False) -> Item | None:
        item = await self.get_item(_product_key(product_id), consistent=consistent)
        return _public(item) if item is not None else None

    async def update_product_stock(self, product_id: str, delta: int) -> Item:
        """Add ``delta`` (negative to decrease) to the stock in one atomic conditional update.

        Raises ``InsufficientStock`` when a decrease would go below zero and ``ItemNotFound``
        when there is no such product; in both cases nothing is written.
        """
        key = _product_key(product_id)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise ValidationError("must be an int", field="delta")
        ph = Placeholders()
        expression = update_expression(
            ph,
            {"stock": Increment(delta), "updated_at": utc_now_iso(), "version": Increment(1)},
        )
        cond = Attr("PK").exists()
        if delta < 0:
            cond = cond & Attr("stock").gte(-delta)
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(key),
            "UpdateExpression": expression,
            "ConditionExpression": ph.condition(cond, "condition"),
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        ph.apply(params)
        try:
            response = await self.session.call("UpdateItem", params)
        except ConditionFailed as exc:
            failure = await self._classify_condition_failure(
                exc, key, expected_version=None, must_exist=True
            )
            if isinstance(failure, ItemNotFound):
                raise failure from None
            old = failure.item or {}
            raise InsufficientStock(
                f"stock {old.get('stock')} cannot be decreased by {-delta}",
                item=_public(old) if old else None,
                operation=exc.operation,
                request_id=exc.request_id,
            ) from None
        return _public(item_from_wire(response["Attributes"]))

    async def get_products_by_category(
        self,
        category: str,
        *,
        limit: int = 20,
        start_key: Mapping[str, Any] | None = None,
    ) -> Page:
        """One page of a category (GSI1); pass ``page.last_key`` back for the next page."""
        if not isinstance(category, str) or not category:
            raise ValidationError("must be a non-empty string", field="category")
        page = await self.query(
            Key("GSI1PK").eq(f"CATEGORY#{category}"),
            index=PRODUCT_GSI,
            limit=limit,
            start_key=start_key,
        )
        return Page(
            items=[_public(i) for i in page.items],
            last_key=page.last_key,
            count=page.count,
            scanned_count=page.scanned_count,
        )

    async def batch_get_products(self, product_ids: Sequence[str]) -> list[Item]:
        if isinstance(product_ids, str):
            raise ValidationError("must be a list of product ids", field="product_ids")
        keys = [_product_key(pid) for pid in product_ids]
        return [_public(i) for i in await self.batch_get(keys)]
