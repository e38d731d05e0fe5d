"""The example domain: products in a single table, stock changed atomically and exactly once.

Layout: ``PK = "PRODUCT#<hex>"``, ``SK = "DETAILS"``, ``GSI1PK = "CATEGORY#<category>"``,
``GSI1SK = PK``. A stock change is ONE conditional UpdateItem: ``stock = stock + :delta`` only
while the item exists and (for a decrease) ``stock >= -delta``; it never creates an item.

Exactly once under lost responses: each stock change carries a random request token that the same
UpdateItem records on the item, on the condition that the token is not recorded yet (see
:mod:`aiodynamo_patterns.products.replay`). The request is therefore idempotent and the retry layer may
resend it after a timeout or a lost response; a resend that finds its token already recorded fails
its condition, and the old item returned with the failure (``ReturnValuesOnConditionCheckFailure``)
shows the token: the change was applied once, by the earlier attempt, and the call reports that
success instead of applying it again.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from ..errors import ConditionFailed, InsufficientStock, ItemNotFound, ValidationError
from ..expressions import Increment, Placeholders, item_from_wire, update_expression
from ..pipeline import PROTOCOL_STEP
from ..repository import Item, Page, Repository, utc_now_iso
from ..session import DynamoSession
from ..tables import PRODUCT_GSI
from .replay import CURRENT, RECORD_ATTRIBUTES, WINDOW, ReplayRecord, new_token

__all__ = ["ProductRepository"]

logger = logging.getLogger("aiodynamo_patterns")

_RESERVED = {
    "PK",
    "SK",
    "GSI1PK",
    "GSI1SK",
    "product_id",
    "version",
    "created_at",
    "updated_at",
    *RECORD_ATTRIBUTES,
}
_HIDDEN = ("PK", "SK", "GSI1PK", "GSI1SK", *RECORD_ATTRIBUTES)
#: a stock change takes at most this many conditional requests (the replay record's window can
#: move once between two of them; more means the clocks of the writers disagree wildly)
_MAX_STEPS = 4
#: what the caller of a stock change sees of a condition failure, for the metrics (PROTOCOL_STEP)
_SEEN_AS = {"replay": "success", "window": "resend", "refused": "InsufficientStock"}
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
    return {k: v for k, v in item.items() if k not in _HIDDEN}


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

    def __init__(
        self,
        session: DynamoSession,
        table_name: str,
        *,
        replay_window: float = 60.0,
        max_clock_skew: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        """``replay_window``: how long (seconds) a stock change's token stays recognisable; it
        must exceed the longest a call can keep resending (the retry policy's deadline plus the
        acquire and read timeouts) plus ``max_clock_skew`` between writers' clocks.
        """
        super().__init__(session, table_name, key_names=("PK", "SK"), **kwargs)
        needed = max_clock_skew
        if session.retry is not None:
            needed += session.retry.policy.max_call_duration(
                session.read_timeout + session.acquire_timeout
            )
        if not replay_window > needed:
            raise ValidationError(
                f"must exceed {needed:g}s: the longest a stock change can be resent "
                "(retry deadline + acquire and read timeouts) plus max_clock_skew",
                field="replay_window",
            )
        self.replay = ReplayRecord(replay_window, wall_clock)
        self.replays_recognised = 0
        #: UpdateItems resent because the replay record's window was not the one assumed
        self.protocol_resends = 0

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
            # the replay record starts in the current window (holding the create's own token:
            # a rotation copies the current tokens, which must exist), so the first stock
            # changes, a burst too, send the right variant at once: one UpdateItem each
            WINDOW: self.replay.current_window(),
            CURRENT: {new_token()},
        }
        created = await self.create_item(item)
        self.replay.remember(product_id, created)
        return _public(created)

    async def get_product(self, product_id: str, *, consistent: bool = False) -> Item | None:
        item = await self.get_item(_product_key(product_id), consistent=consistent)
        if item is None:
            return None
        # the window, for this writer's next change (a stale read cannot teach an older one)
        self.replay.remember(product_id, item, newer_only=not consistent)
        return _public(item)

    async def update_product_stock(
        self, product_id: str, delta: int, *, request_token: str | None = None
    ) -> Item:
        """Add ``delta`` (negative to decrease) to the stock, atomically and exactly once.

        Raises ``InsufficientStock`` when a decrease would go below zero and ``ItemNotFound``
        when there is no such product; in both cases nothing is written. The change is safe to
        resend (the retry layer does after a timeout or a lost response): it is applied once
        however many attempts reach the server. Pass your own ``request_token`` (8 to 64
        characters) to extend that to your own resends of the same change within
        ``replay_window``. A recognised replay returns the product as it is now.
        """
        key = _product_key(product_id)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise ValidationError("must be an int", field="delta")
        token = new_token() if request_token is None else request_token
        if not isinstance(token, str) or not 8 <= len(token) <= 64:
            raise ValidationError("must be a string of 8 to 64 characters", field="request_token")
        wire_key = self._key(key)
        # A writer that does not know this item's window yet sends one request to learn it;
        # concurrent changes of the item wait for that answer instead of all guessing wrong.
        leads = await self.replay.learn(product_id)
        try:
            return await self._change_stock(key, wire_key, product_id, delta, token)
        finally:
            if leads:
                self.replay.learnt(product_id)

    async def _change_stock(
        self,
        key: Mapping[str, Any],
        wire_key: dict[str, Any],
        product_id: str,
        delta: int,
        token: str,
    ) -> Item:
        def protocol_step(exc: BaseException) -> str | None:
            # What the caller sees of this failure: a success (a replay), nothing (the next
            # step of the protocol follows), InsufficientStock, or the failure as it is.
            if not isinstance(exc, ConditionFailed) or exc.item is None:
                return None
            return _SEEN_AS[self._verdict(item_from_wire(exc.item), token, delta)]

        for _ in range(_MAX_STEPS):
            ph = Placeholders()
            expression = update_expression(
                ph,
                {"stock": Increment(delta), "updated_at": utc_now_iso(), "version": Increment(1)},
            )
            record_expression, record_condition = self.replay.update(ph, token, product_id)
            cond = Attr("PK").exists() & record_condition
            if delta < 0:
                cond = cond & Attr("stock").gte(-delta)
            params: dict[str, Any] = {
                "TableName": self.table_name,
                "Key": wire_key,
                "UpdateExpression": expression + record_expression,
                "ConditionExpression": ph.condition(cond, "condition"),
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            ph.apply(params)
            marked = PROTOCOL_STEP.set(protocol_step)
            try:
                # idempotent: a resend cannot apply twice, the token condition refuses it
                response = await self.session.call("UpdateItem", params, idempotent=True)
            except ConditionFailed as exc:
                if exc.item is not None:
                    old: Item | None = item_from_wire(exc.item)
                else:  # servers that ignore ReturnValuesOnConditionCheckFailure (dynalite)
                    old = await self.get_item(key, consistent=True)
                common = {"operation": exc.operation, "request_id": exc.request_id}
                if old is None:
                    raise ItemNotFound(f"no product {product_id}", **common) from None
                self.replay.remember(product_id, old)
                verdict = self._verdict(old, token, delta)
                if verdict == "replay":
                    # An earlier attempt of this call was applied and its answer was lost.
                    self.replays_recognised += 1
                    logger.debug("stock change replay recognised for a product; not reapplied")
                    return _public(old)
                if verdict == "refused":
                    raise InsufficientStock(
                        f"stock {old.get('stock')} cannot be decreased by {-delta}",
                        item=_public(old),
                        **common,
                    ) from None
                # Only the replay record's window was not the one this request assumed:
                # not a failure but the next step of the protocol, with the window now known.
                self.protocol_resends += 1
                continue
            finally:
                PROTOCOL_STEP.reset(marked)
            new = item_from_wire(response["Attributes"])
            self.replay.remember(product_id, new)
            return _public(new)
        raise ConditionFailed(
            f"the replay record of {product_id} kept changing window; are the writers' "
            "clocks far apart?",
            operation="UpdateItem",
        )

    def _verdict(self, old: Item, token: str, delta: int) -> str:
        """Why a stock change's condition failed on ``old``: replay, refused or window."""
        if self.replay.contains(old, token):
            return "replay"
        if delta < 0 and old.get("stock", 0) < -delta:
            return "refused"
        return "window"

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
