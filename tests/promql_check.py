"""Check a Grafana dashboard's PromQL against the metrics an exposition really has.

A small recursive-descent reader of the PromQL subset dashboards use (selectors with label
matchers, range vectors, functions, aggregations with ``by``/``without``, binary operators with
``on``/``ignoring``/``group_left``/``group_right``) that keeps what can be checked: the metric
name of every selector, its matchers, and every label an expression groups or matches on. An
unknown function or a construct outside the subset is an error, never skipped, so a query the
reader does not understand fails the check instead of passing it unread.

Grafana's template variables (``$table``, ``${operation}``, ``$__rate_interval``) stand for
values: a matcher whose value holds one is checked by label name only; ``label_values(metric,
label)`` variable queries are checked as a selector of ``metric`` and a use of ``label``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk"}
    | {"quantile", "count_values"}
)
FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "abs"}
    | {"clamp", "clamp_min", "clamp_max", "ceil", "floor", "round", "sqrt", "exp", "ln"}
    | {"changes", "resets", "scalar", "vector", "time", "timestamp", "absent"}
    | {f"{agg}_over_time" for agg in ("avg", "min", "max", "sum", "count", "last", "present")}
)
SET_OPERATORS = frozenset({"and", "or", "unless"})
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<duration>\[[^\]]*\])
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<variable>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
    | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){},])
    )""",
    re.VERBOSE,
)


class PromQLError(ValueError):
    """The expression is outside the subset this reader understands."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # "=", "!=", "=~", "!~"
    value: str

    @property
    def templated(self) -> bool:
        return "$" in self.value


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class LabelUse:
    """Labels an aggregation or a vector match names, over the selectors they apply to."""

    labels: tuple[str, ...]
    selectors: tuple[Selector, ...]
    where: str


@dataclass
class Reading:
    selectors: list[Selector] = field(default_factory=list)
    label_uses: list[LabelUse] = field(default_factory=list)


def _tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise PromQLError(f"cannot read {expr[pos : pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        pos = match.end()
    return found


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = _tokens(expr)
        self.i = 0
        self.reading = Reading()

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (value is not None and tok[1] != value):
            raise PromQLError(f"expected {value or 'a token'}, found {tok[1] or 'the end'}")
        self.i += 1
        return tok

    def parse(self) -> Reading:
        self.expression()
        if self.peek()[0] != "end":
            raise PromQLError(f"unexpected {self.peek()[1]!r}")
        return self.reading

    def expression(self) -> list[Selector]:
        selectors = self.unary()
        while True:
            kind, value = self.peek()
            binary = kind == "op" and value in {"+", "-", "*", "/", "%", "^", "==", "!="}
            binary |= kind == "op" and value in {">", "<", ">=", "<="}
            if not (binary or (kind == "ident" and value in SET_OPERATORS)):
                return selectors
            self.take()
            if self.peek()[1] == "bool":
                self.take()
            matching: list[str] = []
            for keyword in ("on", "ignoring", "group_left", "group_right"):
                if self.peek()[1] == keyword:
                    self.take()
                    if self.peek()[1] == "(":
                        matching += self.label_list()
            right = self.unary()
            selectors = selectors + right
            if matching:
                self.reading.label_uses.append(
                    LabelUse(tuple(matching), tuple(selectors), "vector matching")
                )

    def unary(self) -> list[Selector]:
        if self.peek()[1] in {"-", "+"}:
            self.take()
        selectors = self.primary()
        if self.peek()[0] == "duration":
            self.take()
        if self.peek()[1] in {"offset", "@"}:
            raise PromQLError("offset and @ modifiers are outside the subset")
        return selectors

    def primary(self) -> list[Selector]:
        kind, value = self.peek()
        if kind in {"number", "string"}:
            self.take()
            return []
        if value == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        if value == "{":
            raise PromQLError("a selector without a metric name")
        if kind != "ident":
            raise PromQLError(f"unexpected {value or 'end'!r}")
        if value in AGGREGATIONS:
            return self.aggregation()
        if self.peek(1)[1] == "(":
            if value not in FUNCTIONS:
                raise PromQLError(f"unknown function {value}()")
            self.take()
            return self.arguments()
        self.take()
        selector = Selector(value, tuple(self.matchers()) if self.peek()[1] == "{" else ())
        self.reading.selectors.append(selector)
        return [selector]

    def arguments(self) -> list[Selector]:
        self.take("(")
        selectors: list[Selector] = []
        while self.peek()[1] != ")":
            selectors += self.expression()
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return selectors

    def aggregation(self) -> list[Selector]:
        name = self.take()[1]
        grouping: list[str] = []
        if self.peek()[1] in {"by", "without"}:
            self.take()
            grouping = self.label_list()
        selectors = self.arguments()
        if self.peek()[1] in {"by", "without"}:
            self.take()
            grouping = self.label_list()
        if grouping:
            self.reading.label_uses.append(LabelUse(tuple(grouping), tuple(selectors), name))
        return selectors

    def label_list(self) -> list[str]:
        self.take("(")
        labels: list[str] = []
        while self.peek()[1] != ")":
            kind, value = self.take()
            if kind != "ident":
                raise PromQLError(f"expected a label name, found {value!r}")
            labels.append(value)
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return labels

    def matchers(self) -> Iterator[Matcher]:
        self.take("{")
        while self.peek()[1] != "}":
            kind, label = self.take()
            if kind != "ident":
                raise PromQLError(f"expected a label name, found {label!r}")
            op = self.take()[1]
            if op not in {"=", "!=", "=~", "!~"}:
                raise PromQLError(f"{op!r} is not a label matcher")
            kind, quoted = self.take()
            if kind != "string":
                raise PromQLError(f"a matcher value must be quoted, found {quoted!r}")
            yield Matcher(label, op, quoted[1:-1].replace('\\"', '"'))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")


def read_promql(expr: str) -> Reading:
    """The selectors and label uses of ``expr``; :class:`PromQLError` outside the subset."""
    return _Parser(expr).parse()


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")


def read_variable_query(query: str) -> Reading:
    """A Grafana ``label_values(selector, label)`` variable query, as one :class:`Reading`."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise PromQLError(f"only label_values(selector, label) variables are read: {query!r}")
    reading = read_promql(match["selector"])
    reading.label_uses.append(LabelUse((match["label"],), tuple(reading.selectors), "label_values"))
    return reading


Exported = dict[str, dict[str, set[str]]]


def exported_series(exposition: str) -> Exported:
    """``{sample name: {label: values seen}}``, the names as Prometheus stores them."""
    found: Exported = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return found


def _matcher_problems(selector: Selector, exported: Exported) -> Iterator[str]:
    labels = exported[selector.metric]
    for m in selector.matchers:
        values = labels.get(m.label)
        if values is None:
            yield f"{selector.metric} has no label {m.label!r} (it has {sorted(labels)})"
        elif m.templated or m.op in {"!=", "!~"}:
            continue
        elif m.op == "=" and m.value not in values:
            yield f"{selector.metric}{{{m.label}={m.value!r}}} matches none of {sorted(values)}"
        elif m.op == "=~" and not any(re.fullmatch(m.value, v) for v in values):
            yield f"{selector.metric}{{{m.label}=~{m.value!r}}} matches none of {sorted(values)}"


def reading_problems(reading: Reading, exported: Exported) -> Iterator[str]:
    """Every metric, label or label value ``reading`` names that ``exported`` lacks."""
    for selector in reading.selectors:
        if selector.metric not in exported:
            yield f"no metric {selector.metric!r} is exported"
        else:
            yield from _matcher_problems(selector, exported)
    for use in reading.label_uses:
        for selector in use.selectors:
            have = exported.get(selector.metric)
            if have is None:
                continue  # reported above
            for label in use.labels:
                if label not in have:
                    yield f"{use.where} ({label}) over {selector.metric}, which has no {label!r}"


def dashboard_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every target of every panel, rows' nested panels included."""

    def walk(panels: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield str(panel.get("title", "?")), str(target["expr"])
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard.get("panels", []))


def variable_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(variable name, label_values query)`` of every query variable."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            yield variable["name"], query["query"] if isinstance(query, dict) else query


def dashboard_problems(dashboard: Mapping[str, Any], exposition: str) -> list[str]:
    """One line per query that names what ``exposition`` does not have (or cannot be read)."""
    exported = exported_series(exposition)
    problems: list[str] = []
    checks: list[tuple[str, str, Callable[[str], Reading]]]
    checks = [(f"panel {t!r}", q, read_promql) for t, q in dashboard_queries(dashboard)]
    checks += [(f"variable ${n}", q, read_variable_query) for n, q in variable_queries(dashboard)]
    for where, query, reader in checks:
        try:
            reading = reader(query)
        except PromQLError as exc:
            problems.append(f"{where}: {exc}: {query}")
            continue
        problems += [f"{where}: {p}" for p in reading_problems(reading, exported)]
    return problems


def load_dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
