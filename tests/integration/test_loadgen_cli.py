"""`aiodynamo-patterns load` end to end, what it says it measures, its help, and every workload
operation against moto over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession
from aiodynamo_patterns.cli import main
from aiodynamo_patterns.loadgen.cli import describe_endpoint
from aiodynamo_patterns.loadgen.workload import OPERATION_NAMES, ProductWorkload, parse_mix
from aiodynamo_patterns.local.moto import CEILING_GETITEM_OPS, CEILING_MIXED_OPS


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
    # it says what it measured: the embedded moto server and that server's ceiling
    endpoint = payload["endpoint"]
    assert endpoint["embedded"] is True and endpoint["url"].startswith("http://127.0.0.1:")
    assert endpoint["ceiling_ops_s"] == CEILING_MIXED_OPS
    assert f"endpoint: embedded moto at {endpoint['url']} (requests serialised, ~" in result.stdout
    assert "measures moto, not DynamoDB" in result.stdout
    assert f"measuring embedded moto at {endpoint['url']}" in result.stderr


@pytest.mark.parametrize(
    ("mix", "ceiling", "kind"),
    [
        ("get=100", CEILING_GETITEM_OPS, "GetItem"),
        ("get=50,cached_get=50", CEILING_GETITEM_OPS, "GetItem"),
        ("get=80,update=20", CEILING_MIXED_OPS, "mixed"),
        ("stock=1", CEILING_MIXED_OPS, "mixed"),
    ],
)
def test_embedded_endpoint_is_described_with_its_ceiling_for_the_mix(
    mix: str, ceiling: int, kind: str
) -> None:
    """The embedded server is named as moto, serialised, with the GetItem or the mixed ceiling."""
    described = describe_endpoint("http://127.0.0.1:5000", parse_mix(mix), backend="moto")
    assert described["ceiling_ops_s"] == ceiling
    assert described["description"].startswith(
        f"embedded moto at http://127.0.0.1:5000 (requests serialised, ~{ceiling} {kind} ops/s"
    )


def test_given_endpoint_is_printed_and_recorded(
    ddb_endpoint: str,
    ddb_credentials: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --endpoint-url the run names that URL, on the terminal and in the JSON report."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    report_path, table = tmp_path / "load.json", f"loadgen-endpoint-{os.getpid()}"

    code = main([
        "load", "--endpoint-url", ddb_endpoint, "--region", "us-east-1", "--table", table,
        "--count", "20", "--warmup", "0", "--concurrency", "2", "--keys", "10", "--quiet",
        "--json", str(report_path),
    ])  # fmt: skip

    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == f"endpoint: {ddb_endpoint}"
    payload = json.loads(report_path.read_text())
    assert payload["endpoint"] == {
        "url": ddb_endpoint,
        "embedded": False,
        "ceiling_ops_s": None,
        "description": ddb_endpoint,
    }
    assert payload["reports"]["asyncio"]["ops"] == 20

    async def drop() -> None:
        async with DynamoSession(endpoint_url=ddb_endpoint, **ddb_credentials) as session:
            await session.call("DeleteTable", {"TableName": table})

    asyncio.run(drop())


def test_load_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    """`load --help` states each option's default, and what running without a URL measures."""
    with pytest.raises(SystemExit) as exited:
        main(["load", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for shown in [
        "default: start a local server (--backend)",
        "dynamodb-local (AWS's DynamoDB Local: Java >= 17 and Node.js; the fastest) (default: moto)",
        "applies one request at a time",
        "table name (default: aiodynamo-patterns-load)",
        "seconds to measure (default: 10.0)",
        "(default: none, --duration bounds the run)",
        "excluded from figures (default: 1.0)",
        "workers / max in flight (default: 16)",
        "(default: none, the closed model)",
        "start times (default: constant)",
        "batch_get (default: get=80,update=20)",
        "products in the data set (default: 1000)",
        "(0: uniform) (default: 0.0)",
        "contends on (default: 8)",
        "(default: a different run each time)",
        "time-series bucket seconds (default: 1.0)",
        "(default: the AWS chain)",
    ]:
        assert shown in text, shown


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
