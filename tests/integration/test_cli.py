"""The command line: the demo runs end to end; trouble is one line on stderr, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess


def run(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aiodynamo_patterns", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_demo_on_embedded_server() -> None:
    """`demo` starts moto, walks the exercise and reports the atomic-stock outcome exactly."""
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "20 applied, 30 refused (InsufficientStock), final stock 0" in result.stdout
    assert "ItemNotFound, item created: False" in result.stdout
    assert "pages of [5, 5, 2]" in result.stdout
    # resilience: the storm is ridden out, nothing is applied twice, the breaker fails fast
    assert "400/400 mixed operations succeeded" in result.stdout
    assert "0 give-ups, budget exhausted 0 times" in result.stdout
    assert "0 OutcomeUnknown, final stock 0 (150 - 150)" in result.stdout
    assert "next 2000 calls: 2000 CircuitOpen, 0 requests sent" in result.stdout
    assert "one probe succeeded, breaker closed" in result.stdout


def test_demo_against_existing_endpoint(ddb_endpoint: str) -> None:
    """`demo --endpoint-url` uses the given endpoint and can run twice on the same table."""
    env_creds = ("--region", "us-east-1")
    for _ in range(2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "aiodynamo_patterns",
                "demo",
                "--endpoint-url",
                ddb_endpoint,
                *env_creds,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        )
        assert result.returncode == 0, result.stderr
        assert ddb_endpoint in result.stdout


def test_unreachable_endpoint_is_one_line() -> None:
    """An endpoint nobody listens on exits 1 with a one-line message and no traceback."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aiodynamo_patterns",
            "demo",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_backend_and_endpoint_url_are_exclusive() -> None:
    """`--backend` starts a local server and `--endpoint-url` names one: both is a usage error."""
    result = run("demo", "--backend", "dynalite", "--endpoint-url", "http://127.0.0.1:9")

    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


@pytest.mark.npm
def test_load_on_dynamodb_local_backend(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """`load --backend dynamodb-local` starts AWS's DynamoDB Local, loads and runs error-free."""
    from aiodynamo_patterns.local.dynamodb_local import CACHE_ENV, dynamodb_local_available

    if not dynamodb_local_available():
        pytest.skip("dynamodb-local needs Java >= 17, Node.js >= 20 and npm on PATH")
    cache = pytestconfig.rootpath / pytestconfig.getini("ddb_dynamodb_local_dir")
    report_path = tmp_path / "load.json"

    result = run(
        "load", "--backend", "dynamodb-local", "--duration", "1", "--warmup", "0.2",
        "--concurrency", "4", "--keys", "20", "--quiet", "--json", str(report_path),
        env={CACHE_ENV: str(cache)},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())["reports"]["asyncio"]
    assert report["ops"] > 0
    assert report["errors"] == 0, report["errors_by_code"]
