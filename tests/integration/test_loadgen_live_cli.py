"""The live view of `aiodynamo-patterns load` for real: frames under a pseudo-terminal, one line
per interval through pipes, and the session's throttles and retries as the view counts them."""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from aiodynamo_patterns import DynamoSession, Repository
from aiodynamo_patterns.loadgen.live import SessionDeltas
from aiodynamo_patterns.testing import FaultProxy, ManualClock
from aiodynamo_patterns.testing.fault_proxy import Fault
from aiodynamo_patterns.testing.pytest_plugin import TableFactory

_LOAD = [
    sys.executable, "-m", "aiodynamo_patterns", "load", "--duration", "3.5", "--warmup", "0",
    "--interval", "1", "--concurrency", "4", "--keys", "40", "--mix", "get=80,update=20",
]  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TTY_", "FORCE_"))}
    env.pop("NO_COLOR", None)
    env.pop("COLUMNS", None)
    env["TERM"] = "xterm-256color"
    return env


def _run_under_pty(argv: list[str], timeout: float = 180.0) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a 160x50 pseudo-terminal; all it wrote."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=follower, stdout=follower, stderr=follower, env=_env(), close_fds=True
    )
    os.close(follower)
    chunks: list[bytes] = []
    give_up = time.monotonic() + timeout
    try:
        while time.monotonic() < give_up:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.subprocess
def test_load_on_a_terminal_refreshes_frames_then_prints_the_report() -> None:
    """Under a pseudo-terminal `load` draws a rich frame per interval (tables, cursor moves,
    the seconds counting up), never the plain lines, and the final report after them."""
    code, text = _run_under_pty(_LOAD)

    assert code == 0, text[-3000:]
    # Live draws the last frame once more as it stops: consecutive repeats are one frame
    seconds = [t for t, _ in itertools.groupby(re.findall(r"asyncio · t=([\d.]+)s · last", text))]
    assert seconds == ["1.0", "2.0", "3.0", "3.5"], text[-3000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # colours and cursor moves off
    assert plain.count("┃ operation ┃") >= 4  # a whole table per frame
    for row in ("│ get ", "│ update ", "│ GetItem ", "│ UpdateItem "):
        assert row in plain
    assert "\x1b[1A" in text and "\x1b[2K" in text  # each frame redrawn over the last one
    assert re.search(r"pool \d/4 in flight, \d+ waiting", plain) and "breaker " in plain
    assert "[asyncio t=" not in text  # never both forms
    assert text.index("achieved ops/s") > text.rindex("asyncio · t=")


@pytest.mark.subprocess
def test_load_through_pipes_prints_one_plain_line_per_interval() -> None:
    """With stdout and stderr piped, `load` prints one plain line per measured interval (the
    last one for the half interval left) on stderr, no frames, no escape codes, and the report
    alone on stdout."""
    result = subprocess.run(_LOAD, capture_output=True, text=True, timeout=180, env=_env())

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[asyncio ")]
    assert [line.split("]")[0] for line in lines] == [
        "[asyncio t=1.0s",
        "[asyncio t=2.0s",
        "[asyncio t=3.0s",
        "[asyncio t=3.5s",
    ]
    for line in lines:
        assert re.search(r"\| get \d+ ops/s p50 [\d.]+ p99 [\d.]+ ms err 0 \|", line), line
        assert re.search(r"\| GetItem \d+/s err 0 thr 0 retry 0 \|", line), line
    assert "\x1b" not in result.stderr and "┃" not in result.stderr
    assert "[asyncio" not in result.stdout and "achieved ops/s" in result.stdout


@pytest.mark.subprocess
def test_no_live_on_a_terminal_prints_lines_instead_of_frames() -> None:
    """--no-live on a terminal gives the plain lines and no frame."""
    code, text = _run_under_pty([*_LOAD, "--no-live"])

    assert code == 0, text[-3000:]
    assert len(re.findall(r"\[asyncio t=[\d.]+s\] \| get ", text)) == 4
    assert "┃ operation ┃" not in text


async def test_session_deltas_count_throttles_and_retries_of_the_interval(
    ddb_fault_proxy: FaultProxy,
    ddb_credentials: dict[str, object],
    ddb_table_factory: TableFactory,
) -> None:
    """What the view shows per DynamoDB call is the change of the session's own counters since
    the last take: throttled attempts and the retries after them, then nothing new."""
    table = await ddb_table_factory()
    session = DynamoSession(
        endpoint_url=ddb_fault_proxy.url,
        clock=ManualClock(),  # the backoff sleeps take no time
        **ddb_credentials,  # type: ignore[arg-type]  # region and keys of the fixture
    )
    async with session:
        repo = Repository(session, table)
        await repo.put_item({"PK": "p", "SK": "s"})
        deltas = SessionDeltas(session)
        deltas.take(1.0)  # the baseline: the put above is not in the interval
        ddb_fault_proxy.script([Fault.THROTTLE, Fault.THROTTLE])
        await repo.get_item({"PK": "p", "SK": "s"})

        rows = deltas.take(2.0)
        again = deltas.take(1.0)

    assert [(r.operation, r.table) for r in rows] == [("GetItem", table)]
    row = rows[0]
    assert (row.throttles, row.retries, row.errors) == (2, 2, 0)
    assert row.calls_per_s == pytest.approx(0.5)
    assert again == ()
