"""The README's tour is code that runs: it is executed against the test endpoint."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiodynamo_patterns import DynamoSession

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_source() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A tour in 20 lines of code", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the tour has a python block"
    return match.group(1)


async def test_readme_tour_runs(
    ddb_endpoint: str,
    ddb_credentials: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The tour's main() runs end to end on the embedded server and prints what it promises."""
    namespace: dict[str, Any] = {}
    exec(compile(tour_source(), str(README), "exec"), namespace)
    # Point the tour's session at the test endpoint instead of AWS.
    namespace["DynamoSession"] = functools.partial(
        DynamoSession, endpoint_url=ddb_endpoint, **ddb_credentials
    )
    await namespace["main"]()
    out = capsys.readouterr().out
    assert "only 3 left" in out
    exported = json.loads(out[out.index("{\n") :])
    assert "UpdateItem" in json.dumps(exported)
