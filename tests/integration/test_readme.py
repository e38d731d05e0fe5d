"""The README's tour and the docs' code are code that runs: compiled, imported and executed."""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession, ProductRepository

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def tour_source() -> str:
    section = README.read_text(encoding="utf-8").split("## A tour in", 1)[1]
    match = BLOCK.search(section)
    assert match is not None, "the tour has a python block"
    return match.group(1)


@pytest.mark.subprocess
def test_readme_tour_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The tour, executed exactly as written (its own asyncio.run and embedded server), prints
    what it promises and reaches no AWS endpoint."""
    source = tour_source()
    assert "asyncio.run(main())" in source and "EmbeddedDynamo()" in source
    exec(compile(source, str(README), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "only 3 left" in out
    assert "1 product(s) in lights" in out
    exported = json.loads(out[out.index("{\n") :])
    assert "UpdateItem" in json.dumps(exported)


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_python_block_compiles_and_its_library_imports_exist(page: Path) -> None:
    """Each python block of the README and of docs/ is valid Python (top-level await allowed),
    and every name it imports from the library exists."""
    for source in blocks(page):
        tree = compile(
            source, str(page), "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "aiodynamo_patterns"
            ):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{page.name}: {node.module}.{alias.name}"


async def run_block(source: str, namespace: dict[str, Any]) -> None:
    code = compile(source, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result


async def test_the_caching_page_runs_against_a_session(
    ddb_session: DynamoSession, ddb_table_factory: Any
) -> None:
    """The caching page's block runs on a real session: a cached read, a write, the stats."""
    table = await ddb_table_factory()
    products = ProductRepository(ddb_session, table)
    pid = (await products.create_product({"name": "x", "price": 1, "stock": 5, "category": "c"}))[
        "product_id"
    ]
    (source,) = blocks(ROOT / "docs" / "caching.md")
    namespace: dict[str, Any] = {"session": ddb_session, "pid": pid}
    await run_block(source.replace('"products"', repr(table)), namespace)
    assert (await products.get_product(pid) or {})["stock"] == 4


async def test_the_resilience_page_configures_a_session() -> None:
    """The resilience page's configuration block builds a session with its retry and breaker."""
    source = blocks(ROOT / "docs" / "resilience.md")[0]
    namespace: dict[str, Any] = {}
    await run_block(source, namespace)
    session = namespace["session"]
    assert isinstance(session, DynamoSession)
    assert session.retry is not None and session.retry.policy.max_attempts == 10
    assert session.breaker is not None and session.breaker.config.failure_threshold == 10
