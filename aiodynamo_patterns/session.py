"""DynamoSession: one aiobotocore client, one semaphore, one choke point for every request.

``await session.call("GetItem", params)`` is the only way a request reaches DynamoDB. It runs the
request through the session's layers (retry, breaker, cache, metrics, ...) down to the innermost
call, which holds one semaphore slot per attempt (never across a backoff sleep), calls the shared
client, and translates every failure into the library's errors.

The aiohttp connector behind the client is sized to ``max_concurrency``, so the semaphore is the
real bound: no request waits in a hidden second pool.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import aioboto3
from aiobotocore.config import AioConfig
from botocore import xform_name

from .clock import Clock, SystemClock
from .errors import (
    DynamoError,
    PoolTimeout,
    SessionClosed,
    ValidationError,
    WrongEventLoop,
    translate_error,
)
from .layers.breaker import BreakerConfig, BreakerLayer
from .layers.retry import RetryLayer, RetryPolicy, RetryStats
from .metrics.collector import MetricsCollector
from .pipeline import READ_OPERATIONS, Call, Layer, Request, Result, compose
from .wire.fastpath import FAST_OPERATIONS, FastPath, library_user_agent
from .wire.validation import ParamsChecker

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["DynamoSession", "PoolStats", "SessionMode"]

SessionMode = Literal["fast", "compatible"]

logger = logging.getLogger("aiodynamo_patterns")


#: one attempt of one operation: the wire parameters in, the response out
Sender = Callable[[dict[str, Any]], Awaitable[Result]]


class _Default(enum.Enum):
    TOKEN = "default"


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class _Slots:
    """The session's request slots: handed over first come, first served, and closable.

    Unlike ``asyncio.Semaphore`` it never binds itself to whichever loop first waits (each
    waiter's future comes from the loop passed in, the session's own), and ``close()`` tells
    every waiter at once instead of letting it through to a closed client.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[bool]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody is queued for it (no await)."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wait in line: True once a slot is handed over, False if the pool closed first."""
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.give()  # handed over just as this waiter gave up: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def give(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1

    def close(self) -> None:
        """Answer every waiter "closed"; slots given back later are simply kept."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)


def _describe(loop: asyncio.AbstractEventLoop, thread: str) -> str:
    return f"{type(loop).__name__} at {id(loop):#x} (thread {thread!r})"


@dataclass(frozen=True, slots=True)
class PoolStats:
    max_concurrency: int
    in_flight: int
    peak_in_flight: int
    waiting: int
    total_requests: int
    acquire_timeouts: int
    total_wait_seconds: float
    max_wait_seconds: float

    @property
    def utilization_percent(self) -> float:
        return 100.0 * self.in_flight / self.max_concurrency

    def as_dict(self) -> dict[str, float | int]:
        return {
            "max_concurrency": self.max_concurrency,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "waiting": self.waiting,
            "total_requests": self.total_requests,
            "acquire_timeouts": self.acquire_timeouts,
            "total_wait_seconds": self.total_wait_seconds,
            "max_wait_seconds": self.max_wait_seconds,
            "utilization_percent": self.utilization_percent,
        }


class DynamoSession:
    """An open connection to one DynamoDB endpoint, shared by every repository coroutine.

    Endpoint, region and credentials default to the standard AWS chain (environment, config
    files, instance roles); pass ``endpoint_url`` for DynamoDB Local, moto, dynalite or any
    compatible endpoint. Use as ``async with DynamoSession(...) as session:``.

    ``mode="fast"`` (the default) sends the data-plane operations (GetItem, PutItem, UpdateItem,
    DeleteItem, Query, Scan, BatchGetItem, BatchWriteItem, TransactGetItems,
    TransactWriteItems) over the library's fast path (:mod:`aiodynamo_patterns.wire.fastpath`):
    credentials, endpoint rules, TLS and the connection pool stay aiobotocore's, but the request
    is built, signed and decoded by the library. ``mode="compatible"`` keeps every call on
    aiobotocore's own path, for botocore event hooks (X-Ray, OpenTelemetry's botocore
    instrumentation), proxies or endpoint discovery. Both return the same values and raise the
    same errors.

    ``retry`` (a :class:`RetryPolicy`) and ``breaker`` (a :class:`BreakerConfig`) configure the
    built-in layers, on by default; ``None`` switches one off. ``layers`` go outside them.

    Every call is measured by ``session.metrics``, a :class:`MetricsCollector` wrapped around
    all layers (outermost); pass ``metrics=`` a collector of your own, or ``None`` for none.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile_name: str | None = None,
        max_concurrency: int = 64,
        acquire_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        layers: Sequence[Layer] | None = None,
        clock: Clock | None = None,
        mode: SessionMode = "fast",
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        breaker: BreakerConfig | None = BreakerConfig(),  # noqa: B008 - frozen, shared safely
        metrics: MetricsCollector | _Default | None = _Default.TOKEN,
    ) -> None:
        if mode not in ("fast", "compatible"):
            raise ValidationError("must be 'fast' or 'compatible'", field="mode")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValidationError("must be a positive int", field="max_concurrency")
        if acquire_timeout <= 0:
            raise ValidationError("must be positive", field="acquire_timeout")
        self.endpoint_url = endpoint_url
        self.mode: SessionMode = mode
        self.clock: Clock = clock or SystemClock()
        self.max_concurrency = max_concurrency
        self.acquire_timeout = acquire_timeout
        self._user_agent = library_user_agent()
        self.read_timeout = read_timeout
        self._aio_session = aioboto3.Session(
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            region_name=region_name,
            profile_name=profile_name,
        )
        self._config = AioConfig(
            max_pool_connections=max_concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # One attempt, and "legacy" because "standard" mode hands back a response whose
            # x-amz-crc32 does not match as a success; legacy raises ChecksumError. The
            # library's retry layer is the only retry policy.
            retries={"mode": "legacy", "total_max_attempts": 1},
            # The library builds every request itself and checks it (validation.py) before
            # sending; botocore's deep walk of the parameters would only cost CPU.
            parameter_validation=False,
            # Precomputed: botocore otherwise rebuilds its User-Agent twice per call.
            user_agent=self._user_agent,
        )
        # Order, outermost first: the caller's layers (metrics, cache, ...), then retry, then
        # the breaker, then _send. Retry loops around the breaker, so an open circuit ends
        # a call at once; the breaker fails fast before the semaphore and the network.
        self._layers: list[Layer] = list(layers or ())
        self.retry: RetryLayer | None = (
            RetryLayer(retry, clock=self.clock) if retry is not None else None
        )
        self.breaker: BreakerLayer | None = (
            BreakerLayer(breaker, clock=self.clock) if breaker is not None else None
        )
        self._resilience: list[Layer] = [
            layer for layer in (self.retry, self.breaker) if layer is not None
        ]
        self._state = _State.UNOPENED
        self._stack: AsyncExitStack | None = None
        self._client: DynamoDBClient | None = None
        self._slots = _Slots(max_concurrency)
        #: the loop that opened the session, and its thread's name (for WrongEventLoop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = ""
        self._methods: dict[str, Any] = {}
        self._senders: dict[str, Sender] = {}
        self._fast: FastPath | None = None
        self._checker: ParamsChecker | None = None
        if metrics is _Default.TOKEN:
            metrics = MetricsCollector(clock=self.clock)
        #: the collector measuring every call, or None when switched off
        self.metrics: MetricsCollector | None = metrics
        self._metrics_layers: tuple[Layer, Layer] | None = None
        if metrics is not None:
            metrics.add_source(self)
            self._metrics_layers = metrics.layers()
        self._call: Call = self._compose()
        self._in_flight = 0
        self._peak = 0
        self._waiting = 0
        self._total = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise SessionClosed(f"a DynamoSession can be opened once; it is {self._state.value}")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.current_thread().name
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                self._aio_session.client(
                    "dynamodb", endpoint_url=self.endpoint_url, config=self._config
                )
            )
            self._client = client
            self._checker = ParamsChecker(client.meta.service_model)
            if self.mode == "fast":
                self._fast = await FastPath.open(client, self._user_agent, self._via_botocore)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its connections. Safe to call more than once."""
        if self._state is _State.CLOSED:
            return
        self.check_loop("aclose")
        self._state = _State.CLOSED
        # Calls still waiting for a slot were never sent: they get SessionClosed now, rather
        # than a slot on a client about to close.
        self._slots.close()
        stack, self._stack, self._client = self._stack, None, None
        self._fast = None
        self._senders.clear()
        if stack is not None:
            await stack.aclose()

    @property
    def is_open(self) -> bool:
        return self._state is _State.OPEN

    @property
    def fast_path_active(self) -> bool:
        """True when data-plane calls take the fast path (mode "fast" and the client allows it)."""
        return self._fast is not None and self._fast.active

    @property
    def client(self) -> DynamoDBClient:
        """The shared aiobotocore client, for control-plane calls the library does not wrap."""
        if self._client is None:
            raise SessionClosed("the session is not open")
        return self._client

    @property
    def region_name(self) -> str | None:
        return self._client.meta.region_name if self._client is not None else None

    # -- the choke point ------------------------------------------------------------------

    def add_layer(self, layer: Layer, *, outermost: bool = False) -> None:
        """Add a layer: outermost of all if ``outermost``, else innermost of the caller's layers,
        which is still outside the built-in retry and breaker layers.
        The metrics layers stay outside (and the attempt probe inside) every added layer.
        """
        if outermost:
            self._layers.insert(0, layer)
        else:
            self._layers.append(layer)
        self._call = self._compose()

    def _compose(self) -> Call:
        # metrics wrap every other layer: one sample per logical call outside, one attempt
        # count per request really sent inside
        if self._metrics_layers is None:
            return compose(self.layers, self._send)
        outer, inner = self._metrics_layers
        return compose([outer, *self.layers, inner], self._send)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer, outermost first (the caller's, then retry and breaker if enabled)."""
        return (*self._layers, *self._resilience)

    def retry_stats(self) -> RetryStats | None:
        """Statistics of the retry layer (None when the session was made with ``retry=None``)."""
        return self.retry.stats() if self.retry is not None else None

    async def call(
        self, operation: str, params: dict[str, Any], *, idempotent: bool | None = None
    ) -> Result:
        """Send one DynamoDB request (wire name and wire parameters) through every layer.

        ``idempotent`` says whether resending after an unknown outcome is safe; by default only
        reads are.
        """
        # Refused before any layer runs: a call that is not going to be sent must not touch
        # the breaker, the retry budget, the cache or the slots.
        if self._state is not _State.OPEN:
            raise SessionClosed(f"the session is {self._state.value}", operation=operation)
        if asyncio.get_running_loop() is not self._loop:
            self.check_loop(operation)
        if idempotent is None:
            idempotent = operation in READ_OPERATIONS
        return await self._call(Request(operation, params, idempotent))

    def check_loop(self, operation: str | None = None) -> None:
        """Raise :class:`WrongEventLoop` unless running on the loop that opened the session.

        Views of the session that keep state of their own (the read cache of a
        :class:`CachedRepository`) ask this before touching it.
        """
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return
        caller = (
            _describe(running, threading.current_thread().name)
            if running is not None
            else "no running event loop"
        )
        raise WrongEventLoop(
            f"this session belongs to the event loop that opened it, "
            f"{_describe(loop, self._loop_thread)}; it was called from {caller}",
            operation=operation,
        )

    def _sender(self, operation: str) -> Sender:
        """How ``operation`` is sent, decided once per operation: the fast path for the data
        plane when it is on, aiobotocore otherwise (an unknown name is refused here, before
        anything waits for a slot)."""
        sender = self._senders.get(operation)
        if sender is None:
            if self._fast is not None and operation in FAST_OPERATIONS:
                sender = partial(self._fast.send, operation)
            else:
                self._method(operation)
                sender = partial(self._via_botocore, operation)
            self._senders[operation] = sender
        return sender

    def _method(self, operation: str) -> Any:
        method = self._methods.get(operation)
        if method is None:
            method = getattr(self.client, xform_name(operation), None)
            if method is None:
                raise ValidationError(
                    f"unknown DynamoDB operation {operation!r}", field="operation"
                )
            self._methods[operation] = method
        return method

    async def _via_botocore(self, operation: str, params: dict[str, Any]) -> Result:
        response: Result = await self._method(operation)(**params)
        return response

    async def _send(self, request: Request) -> Result:
        if self._client is None:
            raise SessionClosed("the session is not open", operation=request.operation)
        send = self._sender(request.operation)
        if self._checker is not None:
            self._checker.check(request.operation, request.params)
        await self._acquire(request.operation)
        self._in_flight += 1
        self._total += 1
        if self._in_flight > self._peak:
            self._peak = self._in_flight
        try:
            if self._state is not _State.OPEN:
                # closed while this call waited for its slot: it was never sent
                raise SessionClosed(
                    "the session was closed before the request was sent",
                    operation=request.operation,
                )
            response = await send(request.params)
        except asyncio.CancelledError:
            raise
        except DynamoError:
            raise
        except Exception as exc:
            error = translate_error(exc, request.operation)
            if self._state is not _State.OPEN and error.code == "Unexpected":
                # the client was closed under the request before it was written (aiohttp's
                # "Session is closed"): not an unknown outcome
                raise SessionClosed(
                    "the session was closed before the request was sent",
                    operation=request.operation,
                ) from None
            raise error from None
        finally:
            self._in_flight -= 1
            self._slots.give()
        return response

    async def _acquire(self, operation: str) -> None:
        if self._slots.try_take():
            return  # immediate: no wait to account for
        assert self._loop is not None  # open, and call() checked the loop
        self._waiting += 1
        started = self.clock.now()
        try:
            async with asyncio.timeout(self.acquire_timeout):
                granted = await self._slots.take(self._loop)
            if not granted:
                raise SessionClosed(
                    "the session was closed while the request waited for a slot; it was not sent",
                    operation=operation,
                )
        except TimeoutError:
            self._timeouts += 1
            raise PoolTimeout(
                f"no request slot free after {self.acquire_timeout:g}s "
                f"({self.max_concurrency} in flight)",
                operation=operation,
            ) from None
        finally:
            self._waiting -= 1
            waited = self.clock.now() - started
            self._wait_total += waited
            self._wait_max = max(self._wait_max, waited)

    def stats(self) -> PoolStats:
        return PoolStats(
            max_concurrency=self.max_concurrency,
            in_flight=self._in_flight,
            peak_in_flight=self._peak,
            waiting=self._waiting,
            total_requests=self._total,
            acquire_timeouts=self._timeouts,
            total_wait_seconds=self._wait_total,
            max_wait_seconds=self._wait_max,
        )

    def __repr__(self) -> str:
        where = self.endpoint_url or "aws"
        return (
            f"<DynamoSession {self._state.value} {where} mode={self.mode} "
            f"max_concurrency={self.max_concurrency}>"
        )
