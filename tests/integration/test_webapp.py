"""The FastAPI example in-process over httpx: one shared session, errors as statuses, exact stock,
honest health; and as a process: both SIGTERM and SIGINT stop the embedded server's child."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from aiodynamo_patterns import BreakerConfig, DynamoSession
from aiodynamo_patterns.testing import FaultProxy, ManualClock
from examples.fastapi_products import create_app, decode_cursor, encode_cursor

ROOT = Path(__file__).resolve().parents[2]

PRODUCT = {"name": "lamp", "price": 19.5, "stock": 50, "category": "lights"}


class App:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, sessions: list[DynamoSession]):
        self.app, self.client, self.sessions = app, client, sessions

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/products", json={**PRODUCT, **overrides})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def path_id(product: dict[str, Any]) -> str:
    return str(product["product_id"]).removeprefix("PRODUCT#")


@pytest_asyncio.fixture
async def web(ddb_endpoint: str, ddb_credentials: dict[str, Any], table: str) -> AsyncIterator[App]:
    sessions: list[DynamoSession] = []

    def factory() -> DynamoSession:
        sessions.append(DynamoSession(endpoint_url=ddb_endpoint, **ddb_credentials))
        return sessions[-1]

    app = create_app(factory, table_name=table, create_table=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield App(app, client, sessions)
    assert all(not s.is_open for s in sessions)


async def test_create_then_get(web: App) -> None:
    """A created product is returned with its id and read back by id (with or without prefix)."""
    created = await web.create()
    for pid in (path_id(created), created["product_id"].replace("#", "%23")):
        response = await web.client.get(f"/products/{pid}")
        assert response.status_code == 200
        assert response.json() == created


@pytest.mark.parametrize(
    ("request_args", "status", "field"),
    [
        (("POST", "/products", {**PRODUCT, "price": "cheap"}), 422, "price"),
        (("POST", "/products", {k: v for k, v in PRODUCT.items() if k != "stock"}), 422, "stock"),
        (("POST", "/products", [1, 2]), 422, "body"),
        (("GET", "/products/00ff", None), 404, None),
        (("POST", "/products/00ff/stock", {"delta": -1}), 404, None),
        (("POST", "/products/00ff/stock", {"delta": 1.5}), 422, "delta"),
        (("GET", "/categories/lights/products?limit=0", None), 422, "limit"),
        (("GET", "/categories/lights/products?cursor=%%%", None), 422, "cursor"),
    ],
)
async def test_errors_map_to_statuses_naming_the_field(
    web: App, request_args: tuple[str, str, Any], status: int, field: str | None
) -> None:
    """Bad input is 422 naming the field; a missing product is 404; the body names the error."""
    method, url, body = request_args
    response = await web.client.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert response.json().get("field") == field
    assert response.json()["error"] == ("ValidationError" if status == 422 else "ItemNotFound")


async def test_oversell_is_409_and_changes_nothing(web: App) -> None:
    """Decreasing stock 2 by 3 answers 409 InsufficientStock and the stock stays 2."""
    product = await web.create(stock=2)
    response = await web.client.post(f"/products/{path_id(product)}/stock", json={"delta": -3})
    assert (response.status_code, response.json()["error"]) == (409, "InsufficientStock")
    assert (await web.client.get(f"/products/{path_id(product)}")).json()["stock"] == 2


async def test_200_concurrent_decreases_on_stock_50(web: App) -> None:
    """200 concurrent HTTP decreases of 1 on stock 50: exactly 50 succeed, 150 are 409, stock 0."""
    product = await web.create(stock=50)
    url = f"/products/{path_id(product)}/stock"
    responses = await asyncio.gather(
        *(web.client.post(url, json={"delta": -1}) for _ in range(200))
    )
    assert Counter(r.status_code for r in responses) == {200: 50, 409: 150}
    assert sorted(r.json()["stock"] for r in responses if r.status_code == 200) == list(range(50))
    final = await web.client.get(f"/products/{path_id(product)}")
    assert final.json()["stock"] == 0
    assert len(web.sessions) == 1  # every request went through the one lifespan session
    assert web.sessions[0].stats().total_requests >= 202


async def test_category_pages_with_opaque_cursor(web: App) -> None:
    """Paging a category 3 at a time with next_cursor returns all 7 products once."""
    ids = {(await web.create(category="pages", name=f"p{i}"))["product_id"] for i in range(7)}
    await web.create(category="other")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await web.client.get("/categories/pages/products", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [p["product_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert "=" not in cursor and "{" not in cursor
    assert sorted(seen) == sorted(ids)


def test_cursor_of_another_category_is_refused() -> None:
    """A cursor round-trips, and one taken from another category is a ValidationError."""
    key = {"PK": "PRODUCT#1", "SK": "DETAILS", "GSI1PK": "CATEGORY#a", "GSI1SK": "PRODUCT#1"}
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, "a") == key
    with pytest.raises(Exception, match="cursor"):
        decode_cursor(cursor, "b")


async def test_health_and_metrics(web: App) -> None:
    """/health reports the open session, the pool and a closed breaker; /metrics is Prometheus text."""
    health = (await web.client.get("/health")).json()
    assert health["status"] == "ok"
    assert {c["state"] for c in health["breaker"].values()} == {"closed"}
    assert health["pool"]["max_concurrency"] == web.sessions[0].max_concurrency
    metrics = await web.client.get("/metrics")
    assert metrics.status_code == 200
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert "aiodynamo_patterns_pool_in_flight" in families
    assert any(name.startswith("aiodynamo_patterns_request") for name in families), families


async def test_health_shows_an_open_breaker(web: App) -> None:
    """After the breaker's failure threshold is reached, /health answers 503 naming it open."""
    breaker = web.sessions[0].breaker
    assert breaker is not None
    circuit = breaker.circuit()
    for _ in range(breaker.config.failure_threshold):
        ticket = circuit.admit()
        assert ticket is not None
        circuit.record(ticket, True)
    response = await web.client.get("/health")
    assert response.status_code == 503
    health = response.json()
    assert (health["status"], health["open_circuits"]) == ("degraded", ["session"])
    assert health["breaker"]["session"]["state"] == "open"


async def test_outage_makes_health_503_naming_the_circuit_and_logs_a_warning(
    ddb_fault_proxy: FaultProxy,
    ddb_credentials: dict[str, Any],
    table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the endpoint down, the breaker opens: /health is 503 "degraded" naming the circuit and
    the failure (class, operation, table), a WARNING says so; once a probe succeeds, 200 "ok"."""
    clock = ManualClock()
    breaker = BreakerConfig(failure_threshold=3, reset_timeout=5.0)

    def factory() -> DynamoSession:
        return DynamoSession(
            endpoint_url=ddb_fault_proxy.url,
            clock=clock,
            retry=None,
            breaker=breaker,
            **ddb_credentials,
        )

    app = create_app(factory, table_name=table, create_table=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
    ):
        assert (await client.get("/health")).status_code == 200
        await ddb_fault_proxy.go_down()
        with caplog.at_level(logging.WARNING, logger="aiodynamo_patterns"):
            statuses = [(await client.get(f"/products/00ff{i}")).status_code for i in range(4)]
        assert statuses == [503] * 4  # 3 transport failures, then CircuitOpen without sending

        response = await client.get("/health")
        assert response.status_code == 503
        health = response.json()
        assert (health["status"], health["open_circuits"]) == ("degraded", ["session"])
        circuit = health["breaker"]["session"]
        assert (circuit["state"], circuit["consecutive_failures"]) == ("open", 3)
        cause = circuit["last_failure"]  # e.g. "TransportError ConnectFailed on GetItem (table t)"
        assert cause.startswith("TransportError") and cause.endswith(f"on GetItem (table {table})")
        opened = [r for r in caplog.records if "circuit session opened" in r.getMessage()]
        assert [r.levelname for r in opened] == ["WARNING"]
        assert cause in opened[0].getMessage()

        await ddb_fault_proxy.come_up()
        clock.advance(breaker.reset_timeout)
        assert (await client.get("/products/00ff")).status_code == 404  # the probe: an answer
        response = await client.get("/health")
        assert (response.status_code, response.json()["status"]) == (200, "ok")
        assert response.json()["open_circuits"] == []


async def test_health_is_503_closed_after_shutdown(web: App) -> None:
    """A session that has shut down is not healthy: /health answers 503 "closed"."""
    await web.sessions[0].aclose()
    response = await web.client.get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "closed")


@pytest.mark.parametrize("price", [1, 0, 9.99, 19.5, 1234567.25])
async def test_prices_are_always_json_floats(web: App, price: float) -> None:
    """Whatever the price, every endpoint returns it as the same JSON number type (a float):
    1 comes back as 1.0, 9.99 as 9.99, never as a string."""
    created = await web.create(price=price, category="priced")
    pid = path_id(created)
    answers = [
        created,
        (await web.client.get(f"/products/{pid}")).json(),
        (await web.client.post(f"/products/{pid}/stock", json={"delta": -1})).json(),
        (await web.client.get("/categories/priced/products")).json()["items"][0],
    ]
    for answer in answers:
        assert type(answer["price"]) is float and answer["price"] == price, answer
        assert type(answer["stock"]) is int
    raw = (await web.client.get(f"/products/{pid}")).text
    assert re.search(r'"price":\s*\d+\.\d+', raw), raw


def test_examples_extra_installs_every_module_the_example_imports() -> None:
    """The `examples` extra (with the extras it names) covers each third-party module the example
    needs: its own imports, moto for the embedded server and prometheus_client for /metrics."""
    provided_by = {
        "fastapi": "fastapi",
        "uvicorn": "uvicorn",
        "moto": "moto",  # main() runs on EmbeddedDynamo
        "prometheus_client": "prometheus-client",  # /metrics: MetricsCollector.prometheus_text()
    }
    source = (ROOT / "examples" / "fastapi_products.py").read_text()
    imported = {
        name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
    }
    third_party = imported - set(sys.stdlib_module_names) - {"aiodynamo_patterns", "__future__"}
    assert third_party <= set(provided_by), "add the new import to provided_by and to the extra"

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    names: set[str] = set()
    pending = ["examples"]
    while pending:
        for requirement in extras[pending.pop()]:
            found = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
            assert found, requirement
            if found[1] == "aiodynamo-patterns":
                pending += found[2].split(",")
            else:
                names.add(found[1].lower())
    assert set(provided_by.values()) <= names, names


def test_module_level_app_for_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uvicorn examples.fastapi_products:app` finds a FastAPI app configured from the environment."""
    import examples.fastapi_products as module

    monkeypatch.setenv("PRODUCTS_TABLE", "shop")
    assert isinstance(module.app, FastAPI)
    assert {"/products", "/health", "/metrics"} <= {
        getattr(r, "path", "") for r in module.app.routes
    }


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie left for init to reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.subprocess
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_app_and_the_embedded_server_child(sig: signal.Signals) -> None:
    """`python -m examples.fastapi_products` sent SIGTERM or SIGINT exits promptly, and the moto
    server child it started is gone with it: its pid exists no more, its port is closed."""
    pytest.importorskip("uvicorn", reason="the examples extra (uvicorn) is not installed")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PORT"] = str(port)
    app = subprocess.Popen(
        [sys.executable, "-m", "examples.fastapi_products"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal goes to the app alone, not its process group
    )
    try:
        assert app.stderr is not None
        line = app.stderr.readline()
        found = re.search(r"embedded moto server at http://127\.0\.0\.1:(\d+) \(pid (\d+)\)", line)
        assert found, line
        moto_port, moto_pid = int(found[1]), int(found[2])
        deadline = time.monotonic() + 60
        while True:  # bounded wait for uvicorn to answer
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert _listening(moto_port) and not _gone(moto_pid)

        app.send_signal(sig)
        returncode = app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        assert app.stderr is not None
        rest = app.stderr.read()
        app.stderr.close()
    assert returncode in (0, 128 + sig, -sig), rest
    assert "Traceback" not in rest, rest
    assert _gone(moto_pid) and not _listening(moto_port), "the moto child outlived the app"


@pytest.mark.ddb_unsupported(
    "dynalite",
    reason="ignores ReturnValuesOnConditionCheckFailure: refusals keep the server's code",
)
async def test_concurrent_stock_calls_cost_one_update_each_and_count_only_refusals(
    web: App,
) -> None:
    """40 concurrent decreases of 5 products holding 3 each: 15 succeed, 25 are 409; the service
    sent 40 UpdateItems and its metrics show 25 InsufficientStock errors and nothing else."""
    ids = [path_id(await web.create(stock=3)) for _ in range(5)]
    session = web.sessions[0]
    assert session.metrics is not None
    session.metrics.reset()
    responses = await asyncio.gather(
        *(web.client.post(f"/products/{ids[i % 5]}/stock", json={"delta": -1}) for i in range(40))
    )
    assert Counter(r.status_code for r in responses) == {200: 15, 409: 25}
    update = session.metrics.snapshot()["operations"]["UpdateItem"]
    assert (update["count"], update["errors_by_code"]) == (40, {"InsufficientStock": 25})
    assert update["protocol_resends"] == 0
    series = [s for s in session.metrics.series() if s.operation == "UpdateItem"]
    assert sum(s.attempts for s in series) == 40  # requests that reached the server
