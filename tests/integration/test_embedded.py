"""The embedded moto server's child process: it lives exactly as long as the server object's owner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiodynamo_patterns import EmbeddedDynamo

pytestmark = pytest.mark.subprocess


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


def test_stop_ends_the_child_and_frees_the_port() -> None:
    """A started server reports its child's pid; after stop the child is gone and the port closed."""
    server = EmbeddedDynamo()
    server.start()
    pid, port = server.pid, server.port
    assert pid is not None and _listening(port)

    server.stop()

    assert server.pid is None
    assert _gone(pid) and not _listening(port)


def test_child_does_not_outlive_a_killed_parent() -> None:
    """When the process that started the embedded server is killed (no stop(), no atexit, no
    signal handler), the moto child notices its stdin closing and exits."""
    script = (
        "import sys\n"
        "from aiodynamo_patterns import EmbeddedDynamo\n"
        "server = EmbeddedDynamo()\n"
        "server.start()\n"
        "print(server.pid, server.port, flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert parent.stdout is not None and parent.stdin is not None
    pid, port = map(int, parent.stdout.readline().split())
    assert _listening(port)

    parent.kill()
    parent.wait()
    parent.stdout.close()
    parent.stdin.close()

    deadline = time.monotonic() + 20
    while not _gone(pid) and time.monotonic() < deadline:  # bounded wait for the child's exit
        time.sleep(0.05)
    assert _gone(pid) and not _listening(port), "the moto child outlived its killed parent"
