"""The shipped Grafana dashboard reads only what the library exports, and every panel has data.

The first test drives real traffic through a session on a real server (across the fault proxy,
so there are throttles and retries), takes the session's own Prometheus exposition and checks
every PromQL expression of docs/grafana/aiodynamo-patterns.json against it. The second, where
Debian's ``prometheus`` binary is installed, has a real Prometheus scrape a small exporter of a
session under traffic and evaluates every panel's query through its HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.local.base import DUMMY_CREDENTIALS
from aiodynamo_patterns.session import SessionMode
from aiodynamo_patterns.testing.clock import ManualClock
from aiodynamo_patterns.testing.fault_proxy import FaultProxy
from tests.dashboard_traffic import cached_view, one_round
from tests.promql_check import (
    dashboard_problems,
    dashboard_queries,
    load_dashboard,
    variable_queries,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "aiodynamo-patterns.json"


async def test_every_dashboard_query_names_only_exported_metrics_and_labels(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode
) -> None:
    """After traffic, each panel and variable query names metrics, labels and values exported."""
    dashboard = load_dashboard(DASHBOARD)
    async with (
        FaultProxy(ddb_endpoint) as proxy,
        DynamoSession(
            endpoint_url=proxy.url, clock=ManualClock(), mode=ddb_session_mode, **DUMMY_CREDENTIALS
        ) as session,
    ):
        repo = Repository(session, table)
        await one_round(repo, cached_view(repo), proxy)
        assert session.metrics is not None
        exposition = session.metrics.prometheus_text()

    assert len(list(dashboard_queries(dashboard))) >= 20
    assert [name for name, _ in variable_queries(dashboard)] == ["table", "operation"]
    assert dashboard_problems(dashboard, exposition) == []


def test_the_dashboard_takes_its_datasource_from_a_variable() -> None:
    """Every panel and target reads the ${datasource} Prometheus variable, none a fixed uid."""
    dashboard = load_dashboard(DASHBOARD)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == wanted, panel["title"]
        assert all(t["datasource"] == wanted for t in panel["targets"]), panel["title"]


# -- a real Prometheus ----------------------------------------------------------------------

PROMETHEUS = shutil.which("prometheus")
SCRAPE_SECONDS = 1
# what Grafana substitutes: "All" of a multi-value variable is its allValue, and
# $__rate_interval is at least four scrape intervals
SUBSTITUTIONS = {"$table": ".*", "$operation": ".*", "$__rate_interval": "5s"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _substituted(query: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        query = query.replace(variable, value)
    return query


@contextlib.asynccontextmanager
async def _exporter(session: DynamoSession) -> AsyncIterator[int]:
    """``/metrics`` of ``session`` on 127.0.0.1, yielding the port."""

    async def metrics(_: web.Request) -> web.Response:
        assert session.metrics is not None
        return web.Response(text=session.metrics.prometheus_text(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port meanwhile
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        await runner.cleanup()
        sock.close()


@contextlib.contextmanager
def _prometheus(directory: Path, target_port: int) -> Iterator[str]:
    """A Prometheus scraping ``127.0.0.1:target_port`` every second, yielding its URL."""
    assert PROMETHEUS is not None
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_SECONDS}s\n"
        f"  evaluation_interval: {SCRAPE_SECONDS}s\n"
        "scrape_configs:\n"
        "  - job_name: aiodynamo_patterns\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    port = _free_port()
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _results(http: aiohttp.ClientSession, url: str, query: str) -> list[Any]:
    async with http.get(f"{url}/api/v1/query", params={"query": query}) as response:
        body = await response.json()
    assert body["status"] == "success", (query, body)
    result: list[Any] = body["data"]["result"]
    return result


async def _empty_queries(http: aiohttp.ClientSession, url: str, queries: list[str]) -> list[str]:
    empty = []
    for query in queries:
        try:
            if not await _results(http, url, query):
                empty.append(query)
        except aiohttp.ClientError:
            empty.append(query)  # not up yet
    return empty


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary on PATH (Debian: prometheus)")
async def test_a_real_prometheus_gives_every_panel_data(
    ddb_endpoint: str, table: str, ddb_session_mode: SessionMode, tmp_path: Path
) -> None:
    """Scraped by Prometheus during traffic, every panel query and variable has a result."""
    dashboard = load_dashboard(DASHBOARD)
    queries = [_substituted(expr) for _, expr in dashboard_queries(dashboard)]
    labels = {name: q for name, q in variable_queries(dashboard)}
    async with (
        FaultProxy(ddb_endpoint) as proxy,
        DynamoSession(
            endpoint_url=proxy.url, mode=ddb_session_mode, **DUMMY_CREDENTIALS
        ) as session,
        _exporter(session) as port,
    ):
        repo = Repository(session, table)
        cached = cached_view(repo)

        async def traffic() -> None:
            while True:
                await one_round(repo, cached, proxy)
                await asyncio.sleep(0.05)

        load = asyncio.create_task(traffic())
        try:
            with _prometheus(tmp_path, port) as url:
                async with aiohttp.ClientSession() as http:
                    empty = queries
                    # Prometheus needs to start and take two scrapes before rate() has a value:
                    # poll (a bounded number of times) rather than assume a duration
                    for _ in range(120):
                        await asyncio.sleep(0.5)
                        empty = await _empty_queries(http, url, empty)
                        if not empty:
                            break
                    values = {
                        name: await _label_values(http, url, _substituted(q))
                        for name, q in labels.items()
                    }
        finally:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load

    assert empty == []
    assert table in values["table"]
    assert {"GetItem", "PutItem", "Query", "BatchGetItem"} <= set(values["operation"])


async def _label_values(http: aiohttp.ClientSession, url: str, variable_query: str) -> list[str]:
    """What Grafana asks Prometheus for ``label_values(selector, label)``."""
    inner = variable_query.strip()[len("label_values(") : -1]
    selector, label = (part.strip() for part in inner.rsplit(",", 1))
    async with http.get(
        f"{url}/api/v1/label/{label}/values", params={"match[]": selector}
    ) as response:
        body = await response.json()
    assert body["status"] == "success", body
    found: list[str] = body["data"]
    return found


def test_substitution_covers_every_variable_the_dashboard_uses() -> None:
    """No $variable is left in a query sent to Prometheus (it would be a parse error there)."""
    dashboard = load_dashboard(DASHBOARD)
    for _, expr in dashboard_queries(dashboard):
        assert "$" not in _substituted(expr), expr
