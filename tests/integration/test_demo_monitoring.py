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


@pytest.mark.ddb_unsupported(
    "dynalite", reason="asserts moto's fixed capacity units; dynalite sizes them differently"
)
@pytest.mark.ddb_unsupported(
    "dynamodb-local",
    reason="sizes capacity by the item (as DynamoDB does, test_aws_semantics.py); this asserts moto's fixed units",
)
async def test_report_lists_operations_capacity_and_errors(
    ddb_session: DynamoSession, table: str, tmp_path: Path
) -> None:
    """The report has a row per operation, the capacity per table and the error breakdown."""
    lines: list[str] = []
    target = tmp_path / "metrics.json"

    await run(ddb_session, table, lines.append, metrics_json=str(target))

    text = "\n".join(lines)
    assert "PERFORMANCE REPORT" in text
    assert any(line.split()[:2] == ["PutItem", "5"] for line in lines), text
    assert any(line.split()[:2] == ["GetItem", "16"] for line in lines), text
    assert "errors: GetItem ResourceNotFoundException x1" in text
    assert "cache on" not in text  # no cache lookups recorded in this session
    # moto: 0.5 RCU per GetItem (15), 1 per key of the batch (5), 1 WCU per PutItem (5)
    assert f"consumed capacity on {table}: 12.5 RCU, 5 WCU" in text
    exported = json.loads(target.read_text())
    assert exported["operations"]["GetItem"]["count"] == 16
    assert exported["operations"]["GetItem"]["errors"] == 1


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
    assert update["errors_by_code"]["ConditionalCheckFailedException"] >= 30
    for field in ("count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "consumed_capacity"):
        assert field in update
