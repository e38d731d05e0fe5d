"""`aiodynamo-patterns load` end to end, and every workload operation against moto over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiodynamo_patterns import DynamoSession
from aiodynamo_patterns.loadgen.workload import OPERATION_NAMES, ProductWorkload


@pytest.mark.subprocess
def test_load_smoke_on_embedded_server_writes_json_and_plot(tmp_path: Path) -> None:
    """A 2 s closed run plus the thread baseline on the embedded server reports both, error-free."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    report_path, plot_path = tmp_path / "load.json", tmp_path / "load.png"
    result = subprocess.run(
        [
            sys.executable, "-m", "aiodynamo_patterns", "load",
            "--duration", "2", "--warmup", "0.5", "--concurrency", "4", "--keys", "40",
            "--mix", "get=60,update=10,stock=10,query=10,batch_get=5,put=5",
            "--threads", "--quiet", "--json", str(report_path), "--plot", str(plot_path),
        ],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    payload = json.loads(report_path.read_text())
    reports = payload["reports"]
    assert set(reports) == {"asyncio", "threads"}
    for report in reports.values():
        assert report["ops"] > 0
        assert report["errors"] == 0, report["errors_by_code"]
        assert report["latency_corrected"]["p99_ms"] >= report["latency_corrected"]["p50_ms"] > 0
        assert set(report["per_operation"]) <= {
            "get",
            "update",
            "stock",
            "query",
            "batch_get",
            "put",
        }
    assert plot_path.read_bytes()[:4] == b"\x89PNG"
    assert "achieved ops/s" in result.stdout


@pytest.mark.parametrize("name", [n for n in OPERATION_NAMES if n != "cached_get"])
async def test_each_workload_operation_succeeds_on_the_loaded_data_set(
    ddb_session: DynamoSession, name: str
) -> None:
    """Every operation of the mix runs against the data set the workload loads itself."""
    table = f"loadgen-{name.replace('_', '-')}-{os.getpid()}"
    workload = ProductWorkload(ddb_session, table, keys=30, zipf=1.2, seed=1)
    await workload.load()
    op = workload.operations({name: 1.0})[name]

    result = await op()

    if name in ("get", "update", "stock"):
        assert isinstance(result, dict) and result["product_id"].startswith("PRODUCT#")
    if name == "batch_get":
        assert isinstance(result, list) and result
    await ddb_session.call("DeleteTable", {"TableName": table})
