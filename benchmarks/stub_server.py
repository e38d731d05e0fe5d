"""A minimal in-memory DynamoDB-compatible HTTP server, cheap enough that the client's cost dominates.

Run it in its own process::

    python benchmarks/stub_server.py --port 0 [--cpu 1]      # prints "READY <port>"

or from Python::

    with StubServer(cpu=1) as stub:          # subprocess, optionally pinned to a CPU
        session = DynamoSession(endpoint_url=stub.endpoint_url, ...)

What it is: a raw ``asyncio.Protocol`` HTTP/1.1 server (keep-alive, pipelining tolerated, uvloop when
installed) that answers the DynamoDB JSON protocol from dicts, with a correct ``x-amz-crc32`` and an
``x-amzn-RequestId`` on every response. It does not check signatures, capacity or most validation
rules. Supported: CreateTable, DescribeTable, DeleteTable, ListTables, GetItem, PutItem,
DeleteItem, UpdateItem (SET with ``+``/``-``/``if_not_exists``/``list_append``, REMOVE, ADD),
Query (tables and GSIs, Limit / ExclusiveStartKey / ScanIndexForward / FilterExpression), Scan,
BatchGetItem, BatchWriteItem, TransactWriteItems; condition expressions with comparisons,
BETWEEN, IN, AND/OR/NOT, attribute_exists / attribute_not_exists / begins_with / contains / size.
Stdlib only, so it runs without the library installed.

It is for benchmarks and load-generator runs, not for correctness tests (use moto for those).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
import zlib
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Any

__all__ = ["StubServer", "serve"]

Item = dict[str, Any]
_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_PAGE_BYTES = 1024 * 1024


class DynamoFault(Exception):
    def __init__(self, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra or {}


def _validation(message: str) -> DynamoFault:
    return DynamoFault("ValidationException", message)


# -- values ---------------------------------------------------------------------------------


def _hkey(value: dict[str, Any]) -> tuple[str, Any]:
    ((t, v),) = value.items()
    return (t, v)


def _sort_value(value: dict[str, Any]) -> Any:
    ((t, v),) = value.items()
    return Decimal(v) if t == "N" else v


def _num(v: dict[str, Any]) -> Decimal:
    if "N" not in v:
        raise _validation("An operand in the update expression has an incorrect data type")
    return Decimal(v["N"])


def _fmt(d: Decimal) -> str:
    s = format(d.normalize(), "f") if d == d.to_integral_value() else str(d)
    return s


def _compare_key(v: dict[str, Any]) -> tuple[str, Any]:
    ((t, x),) = v.items()
    if t == "N":
        return (t, Decimal(x))
    return (t, x)


# -- expressions ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<op><>|<=|>=|=|<|>|\(|\)|,|\+|-)|(?P<word>[#:]?[A-Za-z_][\w.#\[\]]*|[#:]\w+))"
)


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _validation(f"Invalid expression near {text[pos : pos + 20]!r}")
        tokens.append(m.group("op") or m.group("word"))
        pos = m.end()
    return tokens


class _Ctx:
    __slots__ = ("names", "values")

    def __init__(self, names: dict[str, str] | None, values: dict[str, Any] | None) -> None:
        self.names = names or {}
        self.values = values or {}

    def path(self, token: str) -> list[str]:
        out: list[str] = []
        for part in token.split("."):
            if part.startswith("#"):
                if part not in self.names:
                    raise _validation(f"undefined attribute name {part}")
                part = self.names[part]
            out.append(part)
        return out

    def value(self, token: str) -> dict[str, Any]:
        if token not in self.values:
            raise _validation(f"undefined attribute value {token}")
        v: dict[str, Any] = self.values[token]
        return v


def _get(item: Item, path: list[str]) -> dict[str, Any] | None:
    cur: Any = item.get(path[0])
    for part in path[1:]:
        if cur is None or "M" not in cur:
            return None
        cur = cur["M"].get(part)
    return cur  # type: ignore[no-any-return]


Operand = Callable[[Item], "dict[str, Any] | None"]
Pred = Callable[[Item], bool]


class _Parser:
    def __init__(self, text: str, ctx: _Ctx) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.ctx = ctx

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok.upper() != expected):
            raise _validation(f"Invalid expression: expected {expected}, got {tok}")
        self.i += 1
        return tok

    # condition := or
    def condition(self) -> Pred:
        pred = self.or_()
        if self.peek() is not None:
            raise _validation(f"Invalid expression: unexpected {self.peek()}")
        return pred

    def or_(self) -> Pred:
        left = self.and_()
        while (self.peek() or "").upper() == "OR":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda it: a(it) or b(it))(left, right)
        return left

    def and_(self) -> Pred:
        left = self.not_()
        while (self.peek() or "").upper() == "AND":
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda it: a(it) and b(it))(left, right)
        return left

    def not_(self) -> Pred:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            inner = self.not_()
            return lambda it: not inner(it)
        return self.primary()

    def primary(self) -> Pred:
        tok = self.peek()
        if tok == "(":
            self.take()
            pred = self.or_()
            self.take(")")
            return pred
        low = (tok or "").lower()
        if low in ("attribute_exists", "attribute_not_exists", "begins_with", "contains"):
            self.take()
            self.take("(")
            path = self.ctx.path(self.take())
            if low == "attribute_exists":
                self.take(")")
                return lambda it: _get(it, path) is not None
            if low == "attribute_not_exists":
                self.take(")")
                return lambda it: _get(it, path) is None
            self.take(",")
            operand = self.operand()
            self.take(")")
            if low == "begins_with":

                def begins(it: Item) -> bool:
                    a, b = _get(it, path), operand(it)
                    if a is None or b is None:
                        return False
                    (ta, va), (tb, vb) = _hkey(a), _hkey(b)
                    return ta == tb and ta in ("S", "B") and va.startswith(vb)

                return begins

            def contains(it: Item) -> bool:
                a, b = _get(it, path), operand(it)
                if a is None or b is None:
                    return False
                ((ta, va),) = a.items()
                ((_, vb),) = b.items()
                if ta == "S":
                    return isinstance(vb, str) and vb in va
                if ta in ("SS", "NS", "BS"):
                    return vb in va
                if ta == "L":
                    return b in va
                return False

            return contains
        left = self.operand()
        op = self.take()
        if op.upper() == "BETWEEN":
            lo = self.operand()
            self.take("AND")
            hi = self.operand()

            def between(it: Item) -> bool:
                a, b, c = left(it), lo(it), hi(it)
                if a is None or b is None or c is None:
                    return False
                ka, kb, kc = _compare_key(a), _compare_key(b), _compare_key(c)
                return ka[0] == kb[0] == kc[0] and kb[1] <= ka[1] <= kc[1]

            return between
        if op.upper() == "IN":
            self.take("(")
            options = [self.operand()]
            while self.peek() == ",":
                self.take()
                options.append(self.operand())
            self.take(")")
            return lambda it: left(it) is not None and any(left(it) == o(it) for o in options)
        right = self.operand()
        return _comparison(op, left, right)

    def operand(self) -> Operand:
        tok = self.take()
        if tok.lower() == "size":
            self.take("(")
            inner = self.operand()
            self.take(")")

            def size(it: Item) -> dict[str, Any] | None:
                v = inner(it)
                if v is None:
                    return None
                ((t, x),) = v.items()
                return {"N": str(len(x) if t != "N" else 0)}

            return size
        if tok.startswith(":"):
            value = self.ctx.value(tok)
            return lambda it: value
        path = self.ctx.path(tok)
        return lambda it: _get(it, path)


def _comparison(op: str, left: Operand, right: Operand) -> Pred:
    if op == "=":
        return lambda it: (a := left(it)) is not None and a == right(it)
    if op == "<>":
        return lambda it: left(it) != right(it)

    def compare(it: Item) -> bool:
        a, b = left(it), right(it)
        if a is None or b is None:
            return False
        ka, kb = _compare_key(a), _compare_key(b)
        if ka[0] != kb[0]:
            return False
        if op == "<":
            return bool(ka[1] < kb[1])
        if op == "<=":
            return bool(ka[1] <= kb[1])
        if op == ">":
            return bool(ka[1] > kb[1])
        if op == ">=":
            return bool(ka[1] >= kb[1])
        raise _validation(f"unknown comparator {op}")

    return compare


def _condition(params: dict[str, Any], field: str) -> Pred | None:
    text = params.get(field)
    if not text:
        return None
    ctx = _Ctx(params.get("ExpressionAttributeNames"), params.get("ExpressionAttributeValues"))
    return _Parser(text, ctx).condition()


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def _apply_update(item: Item, params: dict[str, Any]) -> None:
    text = params.get("UpdateExpression") or ""
    ctx = _Ctx(params.get("ExpressionAttributeNames"), params.get("ExpressionAttributeValues"))
    pieces = _CLAUSE.split(text)
    writes: list[Callable[[Item], None]] = []
    snapshot = dict(item)  # every right-hand side reads the item as it was before the update
    for kw, body in zip(pieces[1::2], pieces[2::2], strict=True):
        kw = kw.upper()
        for action in _split_top(body):
            if kw == "SET":
                target, _, expr = action.partition("=")
                path = ctx.path(target.strip())
                value = _set_value(expr.strip(), ctx, snapshot)
                writes.append(lambda it, p=path, v=value: _put(it, p, v))
            elif kw == "REMOVE":
                path = ctx.path(action)
                writes.append(lambda it, p=path: _remove(it, p))
            elif kw == "ADD":
                target, value_tok = action.split()
                path = ctx.path(target)
                value = ctx.value(value_tok)
                current = _get(snapshot, path)
                if "N" in value:
                    base = _num(current) if current is not None else Decimal(0)
                    new = {"N": _fmt(base + _num(value))}
                else:
                    ((t, xs),) = value.items()
                    old = current[t] if current is not None else []
                    new = {t: old + [x for x in xs if x not in old]}
                writes.append(lambda it, p=path, v=new: _put(it, p, v))
            else:
                target, value_tok = action.split()
                path = ctx.path(target)
                value = ctx.value(value_tok)
                current = _get(snapshot, path)
                if current is not None:
                    ((t, xs),) = value.items()
                    rest = [x for x in current[t] if x not in xs]
                    writes.append(
                        lambda it, p=path, t=t, r=rest: _put(it, p, {t: r}) if r else _remove(it, p)
                    )
    for write in writes:
        write(item)


def _set_value(expr: str, ctx: _Ctx, item: Item) -> dict[str, Any]:
    parser = _Parser(expr, ctx)

    def term() -> dict[str, Any]:
        tok = parser.peek() or ""
        if tok.lower() in ("if_not_exists", "list_append"):
            parser.take()
            parser.take("(")
            a = term()
            parser.take(",")
            b = term()
            parser.take(")")
            if tok.lower() == "list_append":
                return {"L": list(a["L"]) + list(b["L"])}
            return a if a else b
        tok = parser.take()
        if tok.startswith(":"):
            return ctx.value(tok)
        return _get(item, ctx.path(tok)) or {}

    # if_not_exists returns {} for a missing path so the fallback is used
    value = term()
    while parser.peek() in ("+", "-"):
        op = parser.take()
        rhs = term()
        if not value or not rhs:
            raise _validation("The provided expression refers to an attribute that does not exist")
        value = {"N": _fmt(_num(value) + _num(rhs) if op == "+" else _num(value) - _num(rhs))}
    if not value:
        raise _validation("The provided expression refers to an attribute that does not exist")
    return value


def _put(item: Item, path: list[str], value: dict[str, Any]) -> None:
    cur = item
    for part in path[:-1]:
        cur = cur.setdefault(part, {"M": {}})["M"]
    cur[path[-1]] = value


def _remove(item: Item, path: list[str]) -> None:
    cur = item
    for part in path[:-1]:
        nxt = cur.get(part)
        if nxt is None or "M" not in nxt:
            return
        cur = nxt["M"]
    cur.pop(path[-1], None)


def _project(item: Item, params: dict[str, Any]) -> Item:
    proj = params.get("ProjectionExpression")
    if not proj:
        return item
    names = params.get("ExpressionAttributeNames") or {}
    out: Item = {}
    for tok in proj.split(","):
        name = tok.strip().split(".")[0]
        name = names.get(name, name)
        if name in item:
            out[name] = item[name]
    return out


# -- tables ---------------------------------------------------------------------------------


class Table:
    def __init__(self, params: dict[str, Any]) -> None:
        self.name: str = params["TableName"]
        self.description = params
        schema = {k["KeyType"]: k["AttributeName"] for k in params["KeySchema"]}
        self.hash: str = schema["HASH"]
        self.range: str | None = schema.get("RANGE")
        # partition -> sort -> item
        self.partitions: dict[tuple[str, Any], dict[Any, Item]] = {}
        self.indexes: dict[str, tuple[str, str | None]] = {}
        for gsi in params.get("GlobalSecondaryIndexes") or []:
            ks = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
            self.indexes[gsi["IndexName"]] = (ks["HASH"], ks.get("RANGE"))
        for lsi in params.get("LocalSecondaryIndexes") or []:
            ks = {k["KeyType"]: k["AttributeName"] for k in lsi["KeySchema"]}
            self.indexes[lsi["IndexName"]] = (ks["HASH"], ks.get("RANGE"))
        self.count = 0

    def _where(self, key: Item) -> tuple[tuple[str, Any], Any]:
        try:
            h = _hkey(key[self.hash])
            r = _hkey(key[self.range]) if self.range else None
        except (KeyError, ValueError):
            raise _validation("The provided key element does not match the schema") from None
        if len(key) != (2 if self.range else 1):
            raise _validation("The provided key element does not match the schema")
        return h, r

    def key_of(self, item: Item) -> Item:
        key = {self.hash: item[self.hash]}
        if self.range:
            key[self.range] = item[self.range]
        return key

    def get(self, key: Item) -> Item | None:
        h, r = self._where(key)
        part = self.partitions.get(h)
        return part.get(r) if part is not None else None

    def put(self, item: Item) -> Item | None:
        h, r = self._where(self.key_of(item))
        part = self.partitions.setdefault(h, {})
        old = part.get(r)
        part[r] = item
        if old is None:
            self.count += 1
        return old

    def delete(self, key: Item) -> Item | None:
        h, r = self._where(key)
        part = self.partitions.get(h)
        if part is None:
            return None
        old = part.pop(r, None)
        if old is not None:
            self.count -= 1
            if not part:
                del self.partitions[h]
        return old

    def items(self) -> list[Item]:
        return [item for part in self.partitions.values() for item in part.values()]

    def describe(self) -> dict[str, Any]:
        d = dict(self.description)
        d.pop("BillingMode", None)
        d["TableStatus"] = "ACTIVE"
        d["ItemCount"] = self.count
        d["TableSizeBytes"] = 0
        d["TableArn"] = f"arn:aws:dynamodb:us-east-1:000000000000:table/{self.name}"
        d["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
        d["ProvisionedThroughput"] = {
            "ReadCapacityUnits": 0,
            "WriteCapacityUnits": 0,
            "NumberOfDecreasesToday": 0,
        }
        if "GlobalSecondaryIndexes" in d:
            d["GlobalSecondaryIndexes"] = [
                {**g, "IndexStatus": "ACTIVE", "ItemCount": 0} for g in d["GlobalSecondaryIndexes"]
            ]
        return d


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}

    def table(self, name: Any) -> Table:
        table = self.tables.get(name)
        if table is None:
            raise DynamoFault(
                "ResourceNotFoundException", "Requested resource not found: Table not found"
            )
        return table

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "op_" + operation, None)
        if handler is None:
            raise DynamoFault("UnknownOperationException", f"unsupported: {operation}")
        result: dict[str, Any] = handler(params)
        return result

    # control plane
    def op_CreateTable(self, p: dict[str, Any]) -> dict[str, Any]:
        if p["TableName"] in self.tables:
            raise DynamoFault("ResourceInUseException", "Table already exists")
        table = Table(p)
        self.tables[table.name] = table
        return {"TableDescription": table.describe()}

    def op_DescribeTable(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Table": self.table(p["TableName"]).describe()}

    def op_DeleteTable(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        del self.tables[table.name]
        return {"TableDescription": {**table.describe(), "TableStatus": "DELETING"}}

    def op_ListTables(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"TableNames": sorted(self.tables)}

    # items
    def _check(self, pred: Pred | None, old: Item | None, p: dict[str, Any]) -> None:
        if pred is not None and not pred(old or {}):
            extra = {}
            if p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                extra["Item"] = old
            raise DynamoFault(
                "ConditionalCheckFailedException", "The conditional request failed", extra
            )

    def op_GetItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self.table(p["TableName"]).get(p["Key"])
        return {"Item": _project(item, p)} if item is not None else {}

    def op_PutItem(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        item = p["Item"]
        old = table.get(table.key_of(item))
        self._check(_condition(p, "ConditionExpression"), old, p)
        table.put(item)
        if p.get("ReturnValues") == "ALL_OLD" and old is not None:
            return {"Attributes": old}
        return {}

    def op_DeleteItem(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        old = table.get(p["Key"])
        self._check(_condition(p, "ConditionExpression"), old, p)
        table.delete(p["Key"])
        if p.get("ReturnValues") == "ALL_OLD" and old is not None:
            return {"Attributes": old}
        return {}

    def op_UpdateItem(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        old = table.get(p["Key"])
        self._check(_condition(p, "ConditionExpression"), old, p)
        new = {k: v for k, v in old.items()} if old is not None else dict(p["Key"])
        _apply_update(new, p)
        table.put(new)
        rv = p.get("ReturnValues", "NONE")
        if rv in ("ALL_NEW", "UPDATED_NEW"):
            return {"Attributes": new}
        if rv in ("ALL_OLD", "UPDATED_OLD") and old is not None:
            return {"Attributes": old}
        return {}

    def op_BatchGetItem(self, p: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[Item]] = {}
        for name, req in p["RequestItems"].items():
            table = self.table(name)
            out = responses.setdefault(name, [])
            for key in req["Keys"]:
                item = table.get(key)
                if item is not None:
                    out.append(_project(item, req))
        return {"Responses": responses, "UnprocessedKeys": {}}

    def op_BatchWriteItem(self, p: dict[str, Any]) -> dict[str, Any]:
        for name, requests in p["RequestItems"].items():
            table = self.table(name)
            for req in requests:
                if "PutRequest" in req:
                    table.put(req["PutRequest"]["Item"])
                else:
                    table.delete(req["DeleteRequest"]["Key"])
        return {"UnprocessedItems": {}}

    def op_TransactWriteItems(self, p: dict[str, Any]) -> dict[str, Any]:
        plan: list[Callable[[], None]] = []
        reasons: list[dict[str, Any]] = []
        failed = False
        for entry in p["TransactItems"]:
            ((kind, body),) = entry.items()
            table = self.table(body["TableName"])
            key = table.key_of(body["Item"]) if kind == "Put" else body["Key"]
            old = table.get(key)
            pred = _condition(body, "ConditionExpression")
            if pred is not None and not pred(old or {}):
                failed = True
                reason: dict[str, Any] = {
                    "Code": "ConditionalCheckFailed",
                    "Message": "The conditional request failed",
                }
                if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old:
                    reason["Item"] = old
                reasons.append(reason)
                continue
            reasons.append({"Code": "None"})
            if kind == "Put":
                plan.append(lambda t=table, i=body["Item"]: t.put(i) and None)
            elif kind == "Delete":
                plan.append(lambda t=table, k=key: t.delete(k) and None)
            elif kind == "Update":

                def update(t: Table = table, o: Item | None = old, b: Any = body) -> None:
                    new = dict(o) if o is not None else dict(b["Key"])
                    _apply_update(new, b)
                    t.put(new)

                plan.append(update)
        if failed:
            raise DynamoFault(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                {"CancellationReasons": reasons},
            )
        for step in plan:
            step()
        return {}

    def _page(self, items: list[Item], p: dict[str, Any], key_names: list[str]) -> dict[str, Any]:
        start = p.get("ExclusiveStartKey")
        if start is not None:
            want = {k: start.get(k) for k in key_names}
            for i, item in enumerate(items):
                if all(item.get(k) == want[k] for k in key_names):
                    items = items[i + 1 :]
                    break
        limit = p.get("Limit")
        last_key = None
        if limit is not None and len(items) > limit:
            items = items[:limit]
            last_key = {k: items[-1][k] for k in key_names if k in items[-1]}
        if len(items) > 50:  # DynamoDB stops a page at 1 MB; only large pages can get there
            size = 0
            for i, item in enumerate(items):
                size += len(_dumps(item))
                if size > _PAGE_BYTES and i + 1 < len(items):
                    items = items[: i + 1]
                    last_key = {k: items[-1][k] for k in key_names if k in items[-1]}
                    break
        scanned = len(items)
        filt = _condition(p, "FilterExpression")
        if filt is not None:
            items = [i for i in items if filt(i)]
        out: dict[str, Any] = {
            "Items": [_project(i, p) for i in items],
            "Count": len(items),
            "ScannedCount": scanned,
        }
        if last_key is not None:
            out["LastEvaluatedKey"] = last_key
        return out

    def op_Query(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        index = p.get("IndexName")
        hash_name, range_name = (table.hash, table.range)
        if index is not None:
            if index not in table.indexes:
                raise _validation("The table does not have the specified index")
            hash_name, range_name = table.indexes[index]
        ctx = _Ctx(p.get("ExpressionAttributeNames"), p.get("ExpressionAttributeValues"))
        text = p.get("KeyConditionExpression") or ""
        pred = _Parser(text, ctx).condition()
        hash_value = _hash_value(text, ctx, hash_name)
        if index is None:
            part = table.partitions.get(_hkey(hash_value), {})
            items = [i for i in part.values() if pred(i)]
        else:
            items = [i for i in table.items() if i.get(hash_name) == hash_value and pred(i)]
        if range_name is not None:
            items.sort(
                key=lambda i: _sort_value(i[range_name]) if range_name in i else "",
                reverse=p.get("ScanIndexForward", True) is False,
            )
        keys = [table.hash] + ([table.range] if table.range else [])
        if index is not None:
            keys += [hash_name] + ([range_name] if range_name else [])
        return self._page(items, p, keys)

    def op_Scan(self, p: dict[str, Any]) -> dict[str, Any]:
        table = self.table(p["TableName"])
        keys = [table.hash] + ([table.range] if table.range else [])
        return self._page(table.items(), p, keys)


def _hash_value(text: str, ctx: _Ctx, hash_name: str) -> dict[str, Any]:
    tokens = _tokenize(text)
    for i, tok in enumerate(tokens):
        if tok in ("(", ")"):
            continue
        if (
            not tok.startswith(":")
            and ctx.path(tok) == [hash_name]
            and i + 2 < len(tokens)
            and tokens[i + 1] == "="
        ):
            return ctx.value(tokens[i + 2])
        if (
            tok.startswith(":")
            and i + 2 < len(tokens)
            and tokens[i + 1] == "="
            and ctx.path(tokens[i + 2]) == [hash_name]
        ):
            return ctx.value(tok)
    raise _validation("Query condition missed key schema element")


# -- HTTP -----------------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _response(status: int, body: bytes) -> bytes:
    reason = b"OK" if status == 200 else b"Bad Request"
    head = (
        b"HTTP/1.1 %d %s\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: %d\r\n"
        b"x-amzn-RequestId: %s\r\n"
        b"x-amz-crc32: %d\r\n"
        b"\r\n"
    ) % (status, reason, len(body), uuid.uuid4().hex.encode(), zlib.crc32(body))
    return head + body


class _HttpProtocol(asyncio.Protocol):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            target = ""
            close = False
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                lname = name.strip().lower()
                if lname == "content-length":
                    length = int(value)
                elif lname == "x-amz-target":
                    target = value.strip()
                elif lname == "connection" and value.strip().lower() == "close":
                    close = True
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self.handle(target, body))
            if close:
                self.transport.close()
                return

    def handle(self, target: str, body: bytes) -> bytes:
        operation = target.rpartition(".")[2]
        try:
            params = json.loads(body) if body else {}
            result = self.store.dispatch(operation, params)
            return _response(200, _dumps(result))
        except DynamoFault as fault:
            payload = {"__type": _PREFIX + fault.code, "message": fault.message, **fault.extra}
            return _response(400, _dumps(payload))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            payload = {"__type": _PREFIX + "ValidationException", "message": f"bad request: {exc}"}
            return _response(400, _dumps(payload))


async def serve(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Start the stub on the running loop; the caller closes the returned server."""
    store = Store()
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _HttpProtocol(store), host, port, backlog=1024)


async def _main(host: str, port: int) -> None:
    server = await serve(host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop  # optional speed-up

            runner = uvloop.run
        except ImportError:
            pass
    runner(_main(args.host, args.port))


class StubServer:
    """Run the stub in a child process: ``with StubServer(cpu=1) as stub: stub.endpoint_url``."""

    def __init__(self, *, cpu: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cpu = cpu
        self.host = host
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StubServer:
        cmd = [sys.executable, os.path.abspath(__file__), "--host", self.host]
        cmd += ["--port", str(self.port)]
        if self.cpu is not None:
            cmd += ["--cpu", str(self.cpu)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"stub server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
