"""The Dynalite server class other suites and benchmarks import: install, start, answer, stop."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aiodynamo_patterns import ProductRepository, ensure_product_table
from aiodynamo_patterns.testing.dynalite import (
    DYNALITE_VERSION,
    Dynalite,
    DynaliteError,
    node_available,
)

needs_node = pytest.mark.skipif(not node_available(), reason="dynalite needs Node.js and npm")


@pytest.fixture
def cache_dir(request: pytest.FixtureRequest) -> Path:
    return request.config.rootpath / ".cache" / "dynalite"


def test_missing_node_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without node/npm on PATH, start() raises DynaliteError saying what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    server = Dynalite(cache_dir=tmp_path / "empty")
    with pytest.raises(DynaliteError, match=r"Node\.js"):
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
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(1)
        sock.connect(("127.0.0.1", port))


@needs_node
def test_install_is_reused_and_pinned(cache_dir: Path) -> None:
    """install() reuses the pinned version already in the cache directory."""
    server = Dynalite(cache_dir=cache_dir)
    path = server.install()
    assert path == cache_dir.resolve() / DYNALITE_VERSION / "node_modules" / "dynalite"
    assert server.install() == path
