"""The dashboard checker catches wrong names, labels and values, and refuses what it cannot read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.promql_check import (
    Matcher,
    PromQLError,
    Selector,
    dashboard_problems,
    read_promql,
    read_variable_query,
)

EXPOSITION = """\
# TYPE aiodynamo_patterns_requests_total counter
aiodynamo_patterns_requests_total{operation="GetItem",table="t"} 3.0
# TYPE aiodynamo_patterns_request_duration_seconds histogram
aiodynamo_patterns_request_duration_seconds_bucket{le="0.001",operation="GetItem",table="t"} 1.0
aiodynamo_patterns_request_duration_seconds_bucket{le="+Inf",operation="GetItem",table="t"} 3.0
aiodynamo_patterns_request_duration_seconds_count{operation="GetItem",table="t"} 3.0
aiodynamo_patterns_request_duration_seconds_sum{operation="GetItem",table="t"} 0.01
# TYPE aiodynamo_patterns_layer_state gauge
aiodynamo_patterns_layer_state{layer="BreakerLayer[session]",state="closed"} 1.0
"""


def dashboard(*exprs: str, variable: str | None = None) -> dict[str, Any]:
    templating = [{"type": "query", "name": "v", "query": {"query": variable}}] if variable else []
    return {
        "panels": [{"title": f"p{i}", "targets": [{"expr": e}]} for i, e in enumerate(exprs)],
        "templating": {"list": templating},
    }


def problems(*exprs: str, variable: str | None = None) -> list[str]:
    return dashboard_problems(dashboard(*exprs, variable=variable), EXPOSITION)


def test_a_query_over_exported_names_passes() -> None:
    """Quantiles over the buckets, grouped by exported labels, with variables, have no problem."""
    assert (
        problems(
            "histogram_quantile(0.99, sum by (le, operation, table) (rate("
            'aiodynamo_patterns_request_duration_seconds_bucket{table=~"$table"}[$__rate_interval])))',
            "sum(rate(aiodynamo_patterns_requests_total[5m])) by (table) / on (table) "
            "sum by (table) (rate(aiodynamo_patterns_request_duration_seconds_count[5m]))",
            'max by (state) (aiodynamo_patterns_layer_state{layer=~"BreakerLayer.*"})',
            variable='label_values(aiodynamo_patterns_requests_total{table=~"$table"}, operation)',
        )
        == []
    )


def test_a_counter_without_its_total_suffix_is_not_exported() -> None:
    """The family name of a counter is no series in Prometheus: only ``_total`` is."""
    assert problems("rate(aiodynamo_patterns_requests[5m])") == [
        "panel 'p0': no metric 'aiodynamo_patterns_requests' is exported"
    ]


def test_a_histogram_without_its_bucket_suffix_is_not_exported() -> None:
    """histogram_quantile must read ``_bucket``; the bare histogram name is no series."""
    [problem] = problems(
        "histogram_quantile(0.5, sum by (le) (rate(aiodynamo_patterns_request_duration_seconds[5m])))"
    )
    assert "no metric 'aiodynamo_patterns_request_duration_seconds'" in problem


def test_a_misspelt_metric_in_a_row_is_found() -> None:
    """Panels nested in a collapsed row are checked too."""
    nested = {"title": "p", "targets": [{"expr": "aiodynamo_patterns_request_total"}]}
    board = {"panels": [{"type": "row", "collapsed": True, "panels": [nested]}]}
    assert dashboard_problems(board, EXPOSITION) == [
        "panel 'p': no metric 'aiodynamo_patterns_request_total' is exported"
    ]


def test_a_matcher_on_a_label_the_metric_lacks_is_found() -> None:
    """``index`` is a label of the per-table capacity counters, not of the request counter."""
    [problem] = problems('aiodynamo_patterns_requests_total{index="GSI1"}')
    assert "has no label 'index'" in problem


def test_a_grouping_label_the_metric_lacks_is_found() -> None:
    """``by (code)`` over a metric without ``code`` is reported, wherever the by clause stands."""
    assert len(problems("sum by (code) (rate(aiodynamo_patterns_requests_total[5m]))")) == 1
    assert len(problems("sum(rate(aiodynamo_patterns_requests_total[5m])) by (code)")) == 1
    assert len(problems("histogram_quantile(0.5, sum by (operation) (rate(x_bucket[1m])))")) == 1


def test_vector_matching_labels_are_checked_on_both_sides() -> None:
    """``on (code)`` names a label neither side has: one problem per side."""
    found = problems(
        "aiodynamo_patterns_requests_total / on (code) aiodynamo_patterns_request_duration_seconds_count"
    )
    assert len(found) == 2


def test_a_literal_value_that_never_occurs_is_found() -> None:
    """A fixed value (a typo of a state or a layer) must be one the exposition has."""
    [problem] = problems('aiodynamo_patterns_layer_state{state="opened"}')
    assert "matches none of ['closed']" in problem
    [problem] = problems('aiodynamo_patterns_layer_state{layer=~"Breaker"}')
    assert "matches none of" in problem


def test_a_templated_value_is_checked_by_label_name_only() -> None:
    """``$table`` stands for values chosen in Grafana; the label itself must still exist."""
    assert problems('aiodynamo_patterns_requests_total{table=~"$table"}') == []
    [problem] = problems('aiodynamo_patterns_requests_total{tabel=~"$table"}')
    assert "has no label 'tabel'" in problem


def test_a_variable_query_is_checked() -> None:
    """``label_values`` names a metric and a label like a panel does."""
    [problem] = problems(variable="label_values(aiodynamo_patterns_requests_total, code)")
    assert problem.startswith("variable $v: label_values (code)")


@pytest.mark.parametrize(
    "expr",
    [
        "label_replace(aiodynamo_patterns_requests_total, 'a', '$1', 'table', '(.*)')",
        '{__name__="aiodynamo_patterns_requests_total"}',
        "aiodynamo_patterns_requests_total offset 5m",
        "sum(aiodynamo_patterns_requests_total",
        "aiodynamo_patterns_requests_total{table=t}",
    ],
)
def test_what_the_reader_does_not_understand_is_a_problem_not_a_pass(expr: str) -> None:
    """An unknown function or construct fails the check instead of being skipped unread."""
    with pytest.raises(PromQLError):
        read_promql(expr)
    assert len(problems(expr)) == 1


def test_the_reader_keeps_every_selector_and_its_matchers() -> None:
    """Both sides of a binary operator and each function argument give their selectors."""
    reading = read_promql('rate(a_total{x="1", y!~"2|3"}[5m]) * 2 - clamp_min(b, 0) > bool c')
    assert reading.selectors == [
        Selector("a_total", (Matcher("x", "=", "1"), Matcher("y", "!~", "2|3"))),
        Selector("b"),
        Selector("c"),
    ]


def test_only_label_values_variables_are_read() -> None:
    """A variable query in another form is refused rather than trusted."""
    with pytest.raises(PromQLError):
        read_variable_query("query_result(up)")
