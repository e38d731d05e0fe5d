"""Workloads for the load generator: the product data set, key choice, and the operation mix.

:class:`ProductWorkload` loads ``keys`` products (ids ``PRODUCT#00000000`` ...; about 20 per
category) into a product table and hands out zero-argument operations over the library:

=============  =========================================================================
``get``        ``ProductRepository.get_product``
``cached_get`` the same through a ``CachedRepository`` (or what ``cached=`` makes)
``put``        ``Repository.put_item`` of a whole product (overwrites it)
``update``     ``Repository.update_item`` incrementing a ``views`` counter
``stock``      ``update_product_stock(-1)`` on a few hot products (writers contend on them)
``query``      ``get_products_by_category`` (GSI1, one page of 20)
``batch_get``  ``batch_get_products`` of ``batch_size`` keys
=============  =========================================================================

Keys are chosen uniformly, or Zipf-skewed with exponent ``zipf`` (s > 0: key k has weight
1 / (k+1)^s, so a few keys are hot). :class:`ThreadWorkload` runs the same operations the classic
way: a synchronous boto3 client, meant to be called from a thread pool.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..expressions import Increment, item_to_wire
from ..layers.cached_repository import CachedRepository
from ..products.repository import ProductRepository
from ..session import DynamoSession
from ..tables import PRODUCT_GSI, ensure_product_table

__all__ = [
    "OPERATION_NAMES",
    "KeyChooser",
    "ProductWorkload",
    "ThreadWorkload",
    "parse_mix",
]

OPERATION_NAMES = ("get", "cached_get", "put", "update", "stock", "query", "batch_get")
_PER_CATEGORY = 20
_INITIAL_STOCK = 10**12  # the stock writers never run out during a run

Operation = Callable[[], Awaitable[object]]
#: builds the cached repository: ``factory(session, table_name)`` -> object with ``get_product``
CachedFactory = Callable[[DynamoSession, str], Any]


def parse_mix(text: str) -> dict[str, float]:
    """``"get=80,update=20"`` -> ``{"get": 80.0, "update": 20.0}`` (names checked)."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, weight = part.partition("=")
        name = name.strip()
        if name not in OPERATION_NAMES:
            raise ValidationError(
                f"unknown operation {name!r}; known: {', '.join(OPERATION_NAMES)}", field="mix"
            )
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            raise ValidationError(f"weight of {name} is not a number", field="mix") from None
        if value < 0:
            raise ValidationError(f"weight of {name} is negative", field="mix")
        mix[name] = mix.get(name, 0.0) + value
    if not mix or sum(mix.values()) <= 0:
        raise ValidationError("the mix needs a positive weight", field="mix")
    return mix


class KeyChooser:
    """Indexes in ``range(n)``: uniform when ``zipf == 0``, else Zipf-skewed (0 is hottest)."""

    def __init__(self, n: int, zipf: float = 0.0, rng: random.Random | None = None) -> None:
        if n < 1:
            raise ValidationError("must be positive", field="keys")
        if zipf < 0:
            raise ValidationError("must be >= 0", field="zipf")
        self.n = n
        self.zipf = zipf
        self._rng = rng or random.Random()
        self._cumulative = (
            list(itertools.accumulate(1.0 / (k + 1) ** zipf for k in range(n))) if zipf else None
        )

    def __call__(self) -> int:
        if self._cumulative is None:
            return self._rng.randrange(self.n)
        x = self._rng.random() * self._cumulative[-1]
        return min(self.n - 1, bisect.bisect_right(self._cumulative, x))


def product_id(i: int) -> str:
    return f"PRODUCT#{i:08x}"


def category(i: int, keys: int) -> str:
    return f"cat{i % max(1, keys // _PER_CATEGORY):04d}"


def product_item(i: int, keys: int) -> dict[str, Any]:
    pid = product_id(i)
    cat = category(i, keys)
    return {
        "PK": pid,
        "SK": "DETAILS",
        "GSI1PK": f"CATEGORY#{cat}",
        "GSI1SK": pid,
        "product_id": pid,
        "name": f"product {i}",
        "category": cat,
        "price": Decimal("9.99"),
        "stock": _INITIAL_STOCK,
        "views": 0,
        "version": 1,
    }


class _KeySpace:
    """What both workloads share: the table, the key set and how keys are chosen."""

    def __init__(
        self,
        table_name: str,
        *,
        keys: int,
        zipf: float,
        hot_keys: int,
        batch_size: int,
        seed: int | None,
    ) -> None:
        self.table_name = table_name
        self.keys = keys
        self.hot_keys = max(1, min(hot_keys, keys))
        self.batch_size = max(1, min(batch_size, 100, keys))
        self._rng = random.Random(seed)
        self.choose = KeyChooser(keys, zipf, self._rng)


class ProductWorkload(_KeySpace):
    """The product data set and the library operations over it."""

    def __init__(
        self,
        session: DynamoSession,
        table_name: str,
        *,
        keys: int = 1000,
        zipf: float = 0.0,
        hot_keys: int = 8,
        batch_size: int = 10,
        seed: int | None = None,
        cached: CachedFactory | None = None,
    ) -> None:
        super().__init__(
            table_name, keys=keys, zipf=zipf, hot_keys=hot_keys, batch_size=batch_size, seed=seed
        )
        self.session = session
        self.repo = ProductRepository(session, table_name)
        self._cached_factory = cached
        self.cached_repo: Any = None

    async def load(self) -> None:
        """Create the table if needed and write the data set (25 items per request)."""
        await ensure_product_table(self.session, self.table_name)
        items = [product_item(i, self.keys) for i in range(self.keys)]
        for start in range(0, len(items), 500):
            await self.repo.batch_write(items[start : start + 500])

    def operations(self, names: Mapping[str, float] | None = None) -> dict[str, Operation]:
        """The operations named in ``names`` (all available ones when None)."""
        wanted = list(names) if names is not None else list(OPERATION_NAMES)
        ops: dict[str, Operation] = {}
        repo, choose, rng = self.repo, self.choose, self._rng

        async def get() -> object:
            return await repo.get_product(product_id(choose()))

        async def put() -> object:
            await repo.put_item(product_item(choose(), self.keys))
            return None

        async def update() -> object:
            key = {"PK": product_id(choose()), "SK": "DETAILS"}
            return await repo.update_item(key, {"views": Increment(1)})

        async def stock() -> object:
            return await repo.update_product_stock(product_id(rng.randrange(self.hot_keys)), -1)

        async def query() -> object:
            return await repo.get_products_by_category(category(choose(), self.keys), limit=20)

        async def batch_get() -> object:
            ids = {product_id(choose()) for _ in range(self.batch_size)}
            return await repo.batch_get_products(sorted(ids))

        table: dict[str, Operation] = {
            "get": get,
            "put": put,
            "update": update,
            "stock": stock,
            "query": query,
            "batch_get": batch_get,
        }
        for name in wanted:
            if name == "cached_get":
                ops[name] = self._cached_get()
            elif name in table:
                ops[name] = table[name]
            else:
                raise ValidationError(f"unknown operation {name!r}", field="mix")
        return ops

    def _cached_get(self) -> Operation:
        factory = self._cached_factory or default_cached_factory()
        self.cached_repo = cached = factory(self.session, self.table_name)
        choose = self.choose

        async def cached_get() -> object:
            result: object = await cached.get_product(product_id(choose()))
            return result

        return cached_get


def default_cached_factory() -> CachedFactory:
    """A :class:`CachedRepository` around a :class:`ProductRepository` of the table."""

    def factory(session: DynamoSession, table_name: str) -> Any:
        return CachedRepository(ProductRepository(session, table_name))

    return factory


class ThreadWorkload(_KeySpace):
    """The same operations, the classic way: one thread-safe boto3 client, blocking calls."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        keys: int = 1000,
        zipf: float = 0.0,
        hot_keys: int = 8,
        batch_size: int = 10,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            table_name, keys=keys, zipf=zipf, hot_keys=hot_keys, batch_size=batch_size, seed=seed
        )
        self.client = client
        from boto3.dynamodb.types import TypeDeserializer

        self._deserialize = TypeDeserializer().deserialize

    def _item(self, raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        return {k: self._deserialize(v) for k, v in raw.items()}

    def operations(self, names: Mapping[str, float]) -> dict[str, Callable[[], object]]:
        c, t, choose, rng = self.client, self.table_name, self.choose, self._rng

        def key(i: int) -> dict[str, Any]:
            return {"PK": {"S": product_id(i)}, "SK": {"S": "DETAILS"}}

        def get() -> object:
            return self._item(c.get_item(TableName=t, Key=key(choose())).get("Item"))

        def put() -> object:
            return c.put_item(TableName=t, Item=item_to_wire(product_item(choose(), self.keys)))

        def update() -> object:
            response = c.update_item(
                TableName=t,
                Key=key(choose()),
                UpdateExpression="ADD #v :one SET #ver = #ver + :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#v": "views", "#ver": "version"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
            return self._item(response.get("Attributes"))

        def stock() -> object:
            response = c.update_item(
                TableName=t,
                Key=key(rng.randrange(self.hot_keys)),
                UpdateExpression="SET #s = #s - :q",
                ConditionExpression="attribute_exists(PK) AND #s >= :q",
                ExpressionAttributeNames={"#s": "stock"},
                ExpressionAttributeValues={":q": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
            return self._item(response.get("Attributes"))

        def query() -> object:
            response = c.query(
                TableName=t,
                IndexName=PRODUCT_GSI,
                KeyConditionExpression="#p = :p",
                ExpressionAttributeNames={"#p": "GSI1PK"},
                ExpressionAttributeValues={
                    ":p": {"S": f"CATEGORY#{category(choose(), self.keys)}"}
                },
                Limit=20,
            )
            return [self._item(i) for i in response.get("Items", [])]

        def batch_get() -> object:
            ids = sorted({choose() for _ in range(self.batch_size)})
            response = c.batch_get_item(RequestItems={t: {"Keys": [key(i) for i in ids]}})
            return [self._item(i) for i in response.get("Responses", {}).get(t, [])]

        table: dict[str, Callable[[], object]] = {
            "get": get,
            "cached_get": get,  # the classic version has no cache: a plain read
            "put": put,
            "update": update,
            "stock": stock,
            "query": query,
            "batch_get": batch_get,
        }
        return {name: table[name] for name in names}
