"""dynalite: a second, independent DynamoDB implementation (Node.js, LevelDB, in memory).

moto is the default embedded server; running the same suite against dynalite keeps moto's quirks
from being mistaken for DynamoDB's behaviour. Usage::

    with Dynalite() as server:                      # installs dynalite on first use, needs node
        async with DynamoSession(endpoint_url=server.endpoint_url, **DUMMY_CREDENTIALS) as s: ...

    async with Dynalite() as server, server.session() as session: ...   # from async code

The first start runs ``npm install --prefix <cache_dir> dynalite@<DYNALITE_VERSION>`` (a few
seconds); later starts reuse it. The cache directory is, in order: the ``cache_dir`` argument,
``$AIODYNAMO_PATTERNS_DYNALITE_DIR``, ``$XDG_CACHE_HOME/aiodynamo-patterns/dynalite``
(``~/.cache/...``). The server listens on 127.0.0.1 on a port the OS picks, keeps its data in
memory, and exits when this process closes its stdin pipe, so it cannot outlive a crashed test
run. Tables become ACTIVE at once (dynalite's default is a 500 ms CREATING state).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from ._npm import cache_dir, installed_version, node_available, node_version, npm_install
from .base import READY, LocalEndpoint, close_pipes, drain, readline_with_timeout, terminate

__all__ = [
    "DYNALITE_VERSION",
    "Dynalite",
    "DynaliteError",
    "default_cache_dir",
    "node_available",
    "node_version",
]

#: The dynalite release the suite is checked against (npm; needs Node.js >= 20).
DYNALITE_VERSION = "4.0.0"
CACHE_ENV = "AIODYNAMO_PATTERNS_DYNALITE_DIR"
_START_TIMEOUT = 30.0

# Runs inside node: start dynalite on a port the OS picks, report it, exit when stdin closes.
_LAUNCHER = r"""
const [modulePath, optionsJson] = process.argv.slice(1);
const options = JSON.parse(optionsJson);
const server = require(modulePath)(options);
server.on('error', (err) => { console.error(String(err)); process.exit(3); });
server.listen(0, options.host, () => {
  console.log('AIODYNAMO_PATTERNS_READY ' + server.address().port);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
"""


class DynaliteError(RuntimeError):
    """dynalite could not be installed or started (no node/npm, offline, crash)."""


def default_cache_dir() -> Path:
    return cache_dir(CACHE_ENV, "dynalite")


class Dynalite(LocalEndpoint):
    """A dynalite server in a child process on 127.0.0.1: ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        version: str = DYNALITE_VERSION,
        host: str = "127.0.0.1",
        table_state_ms: int = 0,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        self.cache_dir = (
            Path(cache_dir) if cache_dir is not None else default_cache_dir()
        ).resolve()
        self.version = version
        self.host = host
        self.port: int | None = None
        self.table_state_ms = table_state_ms
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._drains: list[threading.Thread] = []

    @property
    def endpoint_url(self) -> str:
        if self._proc is None or self.port is None:
            raise DynaliteError("dynalite is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # -- installation -----------------------------------------------------------------------

    @property
    def module_dir(self) -> Path:
        return self.cache_dir / self.version / "node_modules" / "dynalite"

    def _installed(self) -> bool:
        return installed_version(self.module_dir) == self.version

    def install(self) -> Path:
        """Install the pinned dynalite into the cache directory unless it is there already."""
        if self._installed():
            return self.module_dir
        npm_install(
            "dynalite",
            self.cache_dir / self.version,
            f"dynalite@{self.version}",
            self._installed,
            DynaliteError,
        )
        return self.module_dir

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._proc is not None:
            return
        module = self.install()
        node = shutil.which("node")
        if node is None:  # pragma: no cover - install() checked it
            raise DynaliteError("dynalite needs Node.js on PATH")
        options = {
            "host": self.host,
            "createTableMs": self.table_state_ms,
            "deleteTableMs": self.table_state_ms,
            "updateTableMs": self.table_state_ms,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = subprocess.Popen(
            [node, "-e", _LAUNCHER, str(module), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = readline_with_timeout(proc.stdout, self.start_timeout)
        if not line.startswith(READY):
            terminate(proc)
            err = proc.stderr.read() if proc.stderr is not None else ""
            close_pipes(proc)
            raise DynaliteError(
                f"dynalite did not start (said {line.strip()!r}; stderr {err.strip()[-1000:]!r})"
            )
        self.port = int(line[len(READY) :].strip())
        self._proc = proc
        # dynalite never writes to stderr in normal operation; drain it anyway so a chatty
        # failure cannot fill the pipe and block the server.
        self._drains = [
            threading.Thread(target=drain, args=(pipe,), daemon=True)
            for pipe in (proc.stdout, proc.stderr)
        ]
        for thread in self._drains:
            thread.start()
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        url = f"http://{self.host}:{self.port}/"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is serving
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise DynaliteError(f"dynalite at {url} does not answer: {exc}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.port = None
        if proc is None:
            return
        terminate(proc)
        drains, self._drains = self._drains, []
        for thread in drains:
            thread.join(timeout=2)  # the pipes are at EOF once the process has exited
        close_pipes(proc)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        where = f"http://{self.host}:{self.port}" if self._proc is not None else "stopped"
        return f"<Dynalite {self.version} {where}>"
