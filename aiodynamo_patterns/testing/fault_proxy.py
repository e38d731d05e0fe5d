"""A wire-level fault injector: an asyncio HTTP proxy in front of any plain-HTTP DynamoDB endpoint.

::

    async with FaultProxy(ddb_endpoint, throttle_rate=0.3, seed=7) as proxy:
        async with DynamoSession(endpoint_url=proxy.url, ...) as session: ...
        assert proxy.counts[Fault.THROTTLE] > 0

Per request, the proxy decides (a scripted sequence first, then the seeded rates) to

* ``FORWARD`` the request and relay the answer,
* ``THROTTLE``: answer 400 ``ProvisionedThroughputExceededException`` itself (DynamoDB's JSON
  error body, with a correct ``x-amz-crc32``) without forwarding,
* ``ERROR_500``: answer 500 ``InternalServerError`` itself without forwarding,
* ``RESET``: reset the client's connection without forwarding,
* ``DROP_RESPONSE``: forward the request (the write happens) and reset the client's connection
  instead of relaying the answer (the client never hears),
* ``HANG``: read the request and never answer (until ``go_down()``/close): the client's read
  timeout fires,

and, independently, adds ``latency`` seconds before handling it with probability
``latency_rate``. ``go_down()`` closes the listening socket and every client connection (new
connections are refused, like a dead endpoint) and ``come_up()`` listens again on the same port.

Faults apply only to the operations in ``operations`` (``X-Amz-Target``), all of them by default;
other requests are forwarded. Every decision is counted in ``counts``; ``connections`` and
``requests`` count what reached the proxy, so a test can assert that nothing did.

The client side keeps its connections alive; each forwarded request gets its own upstream
connection (moto's server closes them), and its answer is re-framed with a Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import random
import socket
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy"]

_MAX_HEADER = 64 * 1024


class Fault(enum.Enum):
    FORWARD = "forward"
    THROTTLE = "throttle"
    ERROR_500 = "error_500"
    RESET = "reset"
    DROP_RESPONSE = "drop_response"
    HANG = "hang"
    LATENCY = "latency"  # counted when latency was added; combines with the other faults


class _Closed(Exception):
    """The client closed its connection."""


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 that injects DynamoDB faults (see the module docstring)."""

    def __init__(
        self,
        upstream: str,
        *,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        reset_rate: float = 0.0,
        drop_response_rate: float = 0.0,
        hang_rate: float = 0.0,
        latency_rate: float = 0.0,
        latency: float = 0.0,
        operations: Iterable[str] | None = None,
        seed: int | None = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the fault proxy forwards to plain http:// endpoints only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.throttle_rate = throttle_rate
        self.error_rate = error_rate
        self.reset_rate = reset_rate
        self.drop_response_rate = drop_response_rate
        self.hang_rate = hang_rate
        self.latency_rate = latency_rate
        self.latency = latency
        self.operations = frozenset(operations) if operations is not None else None
        self.rng = random.Random(seed)
        self._sleep = sleep
        self.host = host
        self.port = port
        self.counts: Counter[Fault] = Counter()
        self.connections = 0
        self.requests = 0
        #: dropped answers that were successes: the request was applied, the client never knew
        self.dropped_successes = 0
        self._script: list[Fault] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._upstream: set[asyncio.StreamWriter] = set()
        self._down = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- configuration --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def script(self, faults: Iterable[Fault]) -> None:
        """Queue faults for the next requests (in arrival order), before the rates apply."""
        self._script.extend(faults)

    def set_rates(
        self,
        *,
        throttle_rate: float | None = None,
        error_rate: float | None = None,
        reset_rate: float | None = None,
        drop_response_rate: float | None = None,
        hang_rate: float | None = None,
        latency_rate: float | None = None,
    ) -> None:
        """Change some rates (for example to end a storm); the ones not given stay as they are."""
        if throttle_rate is not None:
            self.throttle_rate = throttle_rate
        if error_rate is not None:
            self.error_rate = error_rate
        if reset_rate is not None:
            self.reset_rate = reset_rate
        if drop_response_rate is not None:
            self.drop_response_rate = drop_response_rate
        if hang_rate is not None:
            self.hang_rate = hang_rate
        if latency_rate is not None:
            self.latency_rate = latency_rate

    def clear(self) -> None:
        """No more faults: every rate to zero and the script emptied."""
        self.set_rates(
            throttle_rate=0,
            error_rate=0,
            reset_rate=0,
            drop_response_rate=0,
            hang_rate=0,
            latency_rate=0,
        )
        self._script.clear()

    @property
    def is_down(self) -> bool:
        return self._server is None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.come_up()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def come_up(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        if self._server is not None:
            return
        self._down = asyncio.Event()
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def go_down(self) -> None:
        """Stop listening and close every client connection: the endpoint is gone."""
        server, self._server = self._server, None
        self._down.set()
        if server is not None:
            server.close()
        # Reset every connection, client and upstream side: each handler then ends by itself on
        # its next read or write. (Cancelling the handlers instead makes asyncio's stream
        # callback log the CancelledError on Python 3.11.)
        for writer in list(self._writers) + list(self._upstream):
            _reset(writer)
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if server is not None:
            await server.wait_closed()

    async def aclose(self) -> None:
        await self.go_down()

    # -- the proxy ------------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while self._server is not None:
                head, body = await _read_request(reader)
                if not await self._handle(head, body, writer):
                    break
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            _reset(writer)
            raise
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    def _decide(self, operation: str | None) -> tuple[Fault, bool]:
        if self.operations is not None and operation not in self.operations:
            return Fault.FORWARD, False
        delay = self.latency_rate > 0 and self.rng.random() < self.latency_rate
        if self._script:
            fault = self._script.pop(0)
            if fault is Fault.LATENCY:  # scripted latency: forward, late
                return Fault.FORWARD, self.latency > 0
            return fault, delay
        roll = self.rng.random()
        for fault, rate in (
            (Fault.RESET, self.reset_rate),
            (Fault.THROTTLE, self.throttle_rate),
            (Fault.ERROR_500, self.error_rate),
            (Fault.DROP_RESPONSE, self.drop_response_rate),
            (Fault.HANG, self.hang_rate),
        ):
            if roll < rate:
                return fault, delay
            roll -= rate
        return Fault.FORWARD, delay

    async def _handle(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the client connection is finished."""
        self.requests += 1
        operation = _operation(head)
        fault, delay = self._decide(operation)
        if delay:
            self.counts[Fault.LATENCY] += 1
            await self._sleep(self.latency)
        self.counts[fault] += 1
        if fault is Fault.RESET:
            _reset(writer)
            return False
        if fault is Fault.HANG:
            await self._down.wait()
            _reset(writer)
            return False
        if fault is Fault.THROTTLE:
            await _write(
                writer,
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded "
                "(injected by FaultProxy)",
            )
            return True
        if fault is Fault.ERROR_500:
            await _write(
                writer, 500, "InternalServerError", "Internal server error (injected by FaultProxy)"
            )
            return True
        try:
            response = await self._forward(head, body)
        except OSError:
            # the upstream itself is unreachable: tell the client as a gateway would
            await _write(writer, 502, "InternalServerError", "upstream unreachable (FaultProxy)")
            return True
        if fault is Fault.DROP_RESPONSE:
            if response.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self.dropped_successes += 1
            _reset(writer)
            return False
        writer.write(response)
        await writer.drain()
        return True

    async def _forward(self, head: bytes, body: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        self._upstream.add(writer)
        try:
            writer.write(_with_header(head, b"Connection", b"close") + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            self._upstream.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return _reframe(raw)


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise _Closed from exc
    if len(head) > _MAX_HEADER:
        raise _Closed
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def _operation(head: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-amz-target":
            return value.strip().decode("latin-1").rpartition(".")[2]
    return None


def _with_header(head: bytes, name: bytes, value: bytes) -> bytes:
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [
        line for line in lines[1:] if line.partition(b":")[0].strip().lower() != name.lower()
    ]
    kept.append(name + b": " + value)
    return b"\r\n".join(kept) + b"\r\n\r\n"


def _reframe(raw: bytes) -> bytes:
    """Turn an upstream answer read to EOF into a keep-alive answer with a Content-Length."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionResetError("upstream closed without a complete answer")
    lines = head.split(b"\r\n")
    headers = lines[1:]
    chunked = any(
        h.partition(b":")[0].strip().lower() == b"transfer-encoding" and b"chunked" in h.lower()
        for h in headers
    )
    if chunked:
        body = _dechunk(body)
    else:
        for h in headers:
            name, _, value = h.partition(b":")
            if name.strip().lower() == b"content-length":
                body = body[: int(value.strip())]
    drop = {b"connection", b"transfer-encoding", b"content-length", b"keep-alive"}
    kept = [h for h in headers if h.partition(b":")[0].strip().lower() not in drop]
    status = lines[0]
    if status.startswith(b"HTTP/1.0"):
        status = b"HTTP/1.1" + status[8:]
    out = [status, *kept, b"Content-Length: %d" % len(body), b"Connection: keep-alive"]
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def _write(writer: asyncio.StreamWriter, status: int, code: str, message: str) -> None:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    ).encode()
    reason = {400: "Bad Request", 500: "Internal Server Error", 502: "Bad Gateway"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"x-amzn-RequestId: {uuid.uuid4().hex.upper()}\r\n"
        f"x-amz-crc32: {zlib.crc32(body) & 0xFFFFFFFF}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a graceful FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
