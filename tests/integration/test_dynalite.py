"""The Dynalite server class other suites and benchmarks import: install, start, answer, stop."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiodynamo_patterns import ProductRepository, ensure_product_table
from aiodynamo_patterns.local.dynalite import (
    DYNALITE_VERSION,
    Dynalite,
    DynaliteError,
    node_available,
)

needs_node = pytest.mark.skipif(not node_available(), reason="dynalite needs Node.js and npm")
pytestmark = pytest.mark.npm


@pytest.fixture
def cache_dir(request: pytest.FixtureRequest) -> Path:
    return request.config.rootpath / ".cache" / "dynalite"


def test_missing_node_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without node/npm on PATH, start() raises DynaliteError saying what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    server = Dynalite(cache_dir=tmp_path / "empty")
    with pytest.raises(DynaliteError, match=r"Node\.js >= 20 with npm on PATH, found no node"):
        server.start()
    with pytest.raises(DynaliteError, match="not running"):
        _ = server.endpoint_url


@needs_node
async def test_start_serves_dynamodb_then_stop_frees_the_port(cache_dir: Path) -> None:
    """A started Dynalite answers DynamoDB requests on 127.0.0.1; after stop nothing listens."""
    with Dynalite(cache_dir=cache_dir) as server:
        assert server.running and server.module_dir.is_dir()
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        port = int(server.endpoint_url.rsplit(":", 1)[1])
        async with server.session() as session:
            assert await ensure_product_table(session, "dynalite-smoke")
            products = ProductRepository(session, "dynalite-smoke")
            p = await products.create_product(
                {"name": "x", "price": 1, "stock": 1, "category": "c"}
            )
            assert (await products.get_product(p["product_id"])) == p
    assert not server.running
    assert not _listening(port)


@needs_node
@pytest.mark.subprocess
def test_server_does_not_outlive_a_killed_parent(cache_dir: Path, tmp_path: Path) -> None:
    """When the Python process that started dynalite is killed, dynalite exits with it."""
    script = (
        "import sys\n"
        "from aiodynamo_patterns.testing import Dynalite\n"
        f"server = Dynalite(cache_dir={str(cache_dir)!r})\n"
        "server.start()\n"
        "print(server.port, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None and parent.stdin is not None
    port = int(parent.stdout.readline())
    parent.kill()  # no stop(), no atexit: as if the test run crashed
    parent.wait()
    parent.stdout.close()
    parent.stdin.close()
    deadline = time.monotonic() + 10
    while _listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _listening(port)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@needs_node
def test_install_is_reused_and_pinned(cache_dir: Path) -> None:
    """install() reuses the pinned version already in the cache directory."""
    server = Dynalite(cache_dir=cache_dir)
    path = server.install()
    assert path == cache_dir.resolve() / DYNALITE_VERSION / "node_modules" / "dynalite"
    assert server.install() == path
