"""The embedded default: moto's DynamoDB server on 127.0.0.1, in a child process.

moto applies an UpdateItem without a lock, so two concurrent conditional updates of one item can
both pass their condition and one increment is lost. DynamoDB applies each item write atomically;
to keep that guarantee the server here runs moto's WSGI application behind one lock, so requests
are applied one at a time (moto's own throughput, near 550 GetItem/s, is not changed by that).

Use from async code::

    async with EmbeddedDynamo() as server:
        async with server.session() as session: ...

or synchronously (pytest fixtures): ``server = EmbeddedDynamo(); server.start(); ...; server.stop()``.
The child also exits when this process closes its stdin pipe, so it cannot outlive a parent that
was killed or stopped by a signal before ``stop()`` ran.
The server speaks plain HTTP on loopback and accepts the dummy credentials in
:data:`DUMMY_CREDENTIALS` only because moto does not check signatures; real endpoints use the
standard AWS credential chain.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import Any

from .base import READY, LocalEndpoint, readline_with_timeout

__all__ = ["CEILING_GETITEM_OPS", "CEILING_MIXED_OPS", "EmbeddedDynamo", "EmbeddedServerError"]


_START_TIMEOUT = 60.0
#: About the most the serialised server answers, GetItem alone and a mix of reads and writes
#: (`aiodynamo-patterns load`, concurrency 16, quiet 2-core AMD EPYC machine, moto 5.x): a load
#: run against it measures moto's ceiling, not the library or DynamoDB.
CEILING_GETITEM_OPS = 550
CEILING_MIXED_OPS = 200


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started (moto missing, port trouble, crash)."""


class EmbeddedDynamo(LocalEndpoint):
    """A moto DynamoDB server in a child process on 127.0.0.1 (a free port by default)."""

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The child process's id while the server runs, else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def endpoint_url(self) -> str:
        if self._proc is None:
            raise EmbeddedServerError("the embedded server is not running")
        return f"http://{self.host}:{self.port}"

    # -- sync lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._proc is not None:
            return
        try:
            import moto  # noqa: F401
        except ImportError:
            raise EmbeddedServerError(
                "the embedded server needs moto: pip install 'aiodynamo-patterns[embedded]'"
            ) from None
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiodynamo_patterns.local.moto",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--exit-with-stdin",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = readline_with_timeout(proc.stdout, _START_TIMEOUT)
        if not line.startswith(READY):
            proc.kill()
            proc.wait()
            _close_pipe(proc)
            raise EmbeddedServerError(f"moto server did not start (said {line.strip()!r})")
        self.port = int(line[len(READY) :].strip())
        self._proc = proc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _close_pipe(proc, stdin_only=True)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close_pipe(proc)


def _close_pipe(proc: subprocess.Popen[str], *, stdin_only: bool = False) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):  # the child is gone already
            proc.stdin.close()
    if proc.stdout is not None and not stdin_only:
        proc.stdout.close()


# -- the child process ----------------------------------------------------------------------


class _Serialised:
    """WSGI middleware applying one request at a time, body included."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            chunks = self._app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        return [body]


def _serve(host: str, port: int, *, exit_with_stdin: bool = False) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = _Serialised(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if exit_with_stdin:

        def shutdown_at_eof() -> None:
            # The parent holds the other end: EOF means it closed it or died.
            sys.stdin.read()
            server.shutdown()

        threading.Thread(target=shutdown_at_eof, daemon=True).start()
    print(f"{READY}{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto DynamoDB server, one request at a time")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when stdin reaches end of file (the parent closed it, or died)",
    )
    args = parser.parse_args(argv)
    _serve(args.host, args.port, exit_with_stdin=args.exit_with_stdin)


if __name__ == "__main__":
    main()
