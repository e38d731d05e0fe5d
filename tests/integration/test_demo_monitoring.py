"""The demo's monitoring section: a performance report and, on request, the JSON export file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodynamo_patterns import DynamoSession
from aiodynamo_patterns.demo.monitoring import run


async def test_report_shows_cache_lookups_when_recorded(
    ddb_session: DynamoSession, table: str
) -> None:
    """Cache lookups recorded through record_cache appear as their own line of the report."""
    assert ddb_session.metrics is not None
    for hit in (True, True, False):
        ddb_session.metrics.record_cache(table, hit, 0.0001)
    lines: list[str] = []

    await run(ddb_session, table, lines.append)

    assert f"   cache on {table}: 2 hits, 1 misses (hit rate 66.7 %), lookup p50 0.100 ms" in lines


async def test_report_lists_operations_and_errors(
    ddb_session: DynamoSession, table: str, tmp_path: Path
) -> None:
    """The report has a row per operation and the error breakdown; the JSON export agrees."""
    lines: list[str] = []
    target = tmp_path / "metrics.json"

    await run(ddb_session, table, lines.append, metrics_json=str(target))

    text = "\n".join(lines)
    assert "PERFORMANCE REPORT" in text
    assert any(line.split()[:2] == ["PutItem", "5"] for line in lines), text
    assert any(line.split()[:2] == ["GetItem", "16"] for line in lines), text
    assert "errors: GetItem ResourceNotFoundException x1" in text
    assert f"consumed capacity on {table}: " in text
    assert "cache on" not in text  # no cache lookups recorded in this session
    exported = json.loads(target.read_text())
    assert exported["operations"]["GetItem"]["count"] == 16
    assert exported["operations"]["GetItem"]["errors"] == 1


@pytest.mark.ddb_unsupported(
    "moto", reason="fixed capacity figures (1 RCU per batch key), no index writes"
)
@pytest.mark.ddb_unsupported(
    "dynalite", reason="charges a write to the table only, never to its global secondary indexes"
)
async def test_report_shows_the_capacity_per_table_and_index(
    ddb_session: DynamoSession, table: str
) -> None:
    """The capacity line sums DynamoDB's units for the demo's traffic, its index's apart."""
    lines: list[str] = []

    await run(ddb_session, table, lines.append)

    # DynamoDB: 0.5 RCU per eventually consistent read of a small item (15 GetItem, 5 batch
    # keys), 1 WCU per PutItem on the table and 1 on GSI1, where every product is projected
    expected = f"consumed capacity on {table}: 10 RCU, 10 WCU (indexes: GSI1 0 RCU / 5 WCU)"
    assert expected in [line.strip() for line in lines]


@pytest.mark.subprocess
def test_cli_writes_metrics_json(ddb_endpoint: str, tmp_path: Path) -> None:
    """`demo --metrics-json PATH` writes a JSON export with per-operation figures."""
    target = tmp_path / "out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aiodynamo_patterns",
            "demo",
            "--endpoint-url",
            ddb_endpoint,
            "--region",
            "us-east-1",
            "--metrics-json",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )

    assert result.returncode == 0, result.stderr
    assert "PERFORMANCE REPORT" in result.stdout
    exported = json.loads(target.read_text())
    update = exported["operations"]["UpdateItem"]
    # the oversell refusals, counted as what the caller got; dynalite returns no old item with
    # the failure, so the metrics can only name the server's code there
    codes = update["errors_by_code"]
    assert codes.get("InsufficientStock", codes.get("ConditionalCheckFailedException", 0)) >= 30
    for field in ("count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "consumed_capacity"):
        assert field in update
