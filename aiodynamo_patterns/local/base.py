"""What every local DynamoDB server shares: dummy credentials, the ready line, the lifecycle.

Each launcher (:mod:`.moto`, :mod:`.dynalite`, :mod:`.dynamodb_local`) starts a child process that prints
``AIODYNAMO_PATTERNS_READY <port>`` once it listens; :class:`LocalEndpoint` turns ``start`` /
``stop`` into sync and async context managers and binds sessions to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self, TypedDict

if TYPE_CHECKING:
    from ..session import DynamoSession

__all__ = [
    "DUMMY_CREDENTIALS",
    "READY",
    "Credentials",
    "LocalEndpoint",
    "close_pipes",
    "drain",
    "readline_with_timeout",
    "terminate",
]


class Credentials(TypedDict):
    aws_access_key_id: str
    aws_secret_access_key: str
    region_name: str


#: For the local server only. moto accepts any key; these are not secrets.
DUMMY_CREDENTIALS: Credentials = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}
#: the line a launcher's child prints when it listens, followed by its port
READY = "AIODYNAMO_PATTERNS_READY "


class LocalEndpoint:
    """What every local DynamoDB server offers: its URL, dummy credentials, a bound session,
    and its lifecycle as a context manager (sync, or async with start-up and shut-down in a
    worker thread, since both wait for a child process).
    """

    @property
    def endpoint_url(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def credentials(self) -> Credentials:
        return Credentials(**DUMMY_CREDENTIALS)

    def session(self, **kwargs: Any) -> DynamoSession:
        """A :class:`DynamoSession` bound to this server (keyword arguments pass through)."""
        from ..session import DynamoSession

        return DynamoSession(endpoint_url=self.endpoint_url, **{**self.credentials, **kwargs})


def readline_with_timeout(stream: IO[str] | None, timeout: float) -> str:
    """One line of a child's output, or ``""`` when none came within ``timeout`` seconds."""
    if stream is None:  # pragma: no cover - always a pipe here
        return ""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def drain(stream: IO[str] | None) -> None:
    """Read a child's pipe to its end, so that a chatty child can never block on a full pipe."""
    if stream is None:  # pragma: no cover
        return
    with contextlib.suppress(ValueError, OSError):
        for _ in stream:
            pass


def terminate(proc: subprocess.Popen[str]) -> None:
    """End a launcher's child: close its stdin (it exits when stdin ends), then SIGTERM, SIGKILL."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def close_pipes(proc: subprocess.Popen[str]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
