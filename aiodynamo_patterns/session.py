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
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore import xform_name

from .clock import Clock, SystemClock
from .config import SessionConfig, SessionMode, configuration_error
from .errors import (
    DynamoError,
    SessionClosed,
    ValidationError,
    WrongEventLoop,
    translate_error,
)
from .layers.breaker import BreakerConfig, BreakerLayer
from .layers.retry import RetryLayer, RetryPolicy, RetryStats
from .metrics.collector import MetricsCollector
from .pipeline import Call, Layer, Request, Result, compose, is_read
from .pool import PoolStats, RequestPool
from .wire.fastpath import FAST_OPERATIONS, FastPath, library_user_agent
from .wire.validation import ParamsChecker

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["DynamoSession", "PoolStats", "SessionConfig", "SessionMode"]

_DEFAULTS = SessionConfig()

logger = logging.getLogger("aiodynamo_patterns")


#: one attempt of one operation: the wire parameters in, the response out
Sender = Callable[[dict[str, Any]], Awaitable[Result]]


class _Default(enum.Enum):
    TOKEN = "default"


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


def _botocore_session(config: SessionConfig, given: object | None) -> AioSession:
    """The aiobotocore session the client is made from: the caller's (an aiobotocore
    ``AioSession``, or the one inside an ``aioboto3.Session``), else a new one with the
    configured profile, credentials and region over the standard AWS chain."""
    if given is not None:
        inner = getattr(given, "_session", given)  # aioboto3.Session wraps an AioSession
        if not isinstance(inner, AioSession):
            raise ValidationError(
                "must be an aiobotocore AioSession or an aioboto3.Session", field="session"
            )
        return inner
    session = AioSession(profile=config.profile_name)
    if config.profile_name is not None:
        session.get_scoped_config()  # an unknown profile is refused now, not at the first call
    if config.aws_access_key_id or config.aws_secret_access_key or config.aws_session_token:
        session.set_credentials(
            config.aws_access_key_id, config.aws_secret_access_key, config.aws_session_token
        )
    if config.region_name is not None:
        session.set_config_variable("region", config.region_name)
    return session


def _configuration_error(exc: Exception) -> Exception:
    return configuration_error(exc) or exc


def _chosen_config(given: SessionConfig, config: object) -> SessionConfig:
    """``config`` when passed (then no individual setting may be), else the settings given."""
    if config is None:
        return given
    if not isinstance(config, SessionConfig):
        raise ValidationError("must be a SessionConfig or None", field="config")
    if given != _DEFAULTS:
        raise ValidationError(
            "pass either config or the individual settings, not both", field="config"
        )
    return config


def _client_config(config: SessionConfig, user_agent: str) -> AioConfig:
    """The aiobotocore client's configuration: pool, timeouts, no retries of its own."""
    return AioConfig(
        max_pool_connections=config.max_concurrency,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        # One attempt, and "legacy" because "standard" mode hands back a response whose
        # x-amz-crc32 does not match as a success; legacy raises ChecksumError. The
        # library's retry layer is the only retry policy.
        retries={"mode": "legacy", "total_max_attempts": 1},
        # The library builds every request itself and checks it (validation.py) before
        # sending; botocore's deep walk of the parameters would only cost CPU.
        parameter_validation=False,
        # Precomputed: botocore otherwise rebuilds its User-Agent twice per call.
        user_agent=user_agent,
    )


def _check_collaborators(layers: object, clock: object, metrics: object) -> None:
    if layers is not None and (
        isinstance(layers, str | bytes)
        or not isinstance(layers, Sequence)
        or not all(callable(layer) for layer in layers)
    ):
        raise ValidationError("must be a sequence of layers (callables) or None", field="layers")
    if clock is not None and not (
        callable(getattr(clock, "now", None)) and callable(getattr(clock, "sleep", None))
    ):
        raise ValidationError("must be a Clock (now() and sleep()) or None", field="clock")
    if metrics is not None and not isinstance(metrics, MetricsCollector | _Default):
        raise ValidationError("must be a MetricsCollector or None", field="metrics")


def _describe(loop: asyncio.AbstractEventLoop, thread: str) -> str:
    return f"{type(loop).__name__} at {id(loop):#x} (thread {thread!r})"


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

    ``session=`` takes an aiobotocore ``AioSession`` or an ``aioboto3.Session`` the application
    already has (its credentials and region are then the session's own); aioboto3 is not needed.
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
        config: SessionConfig | None = None,
        session: object | None = None,
    ) -> None:
        given = SessionConfig(
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            profile_name=profile_name,
            max_concurrency=max_concurrency,
            acquire_timeout=acquire_timeout,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            mode=mode,
            retry=retry,
            breaker=breaker,
        )
        config = _chosen_config(given, config)
        _check_collaborators(layers, clock, metrics)
        #: every setting of the session, frozen
        self.config = config
        self.endpoint_url = config.endpoint_url
        self.mode: SessionMode = config.mode
        self.clock: Clock = clock or SystemClock()
        self.max_concurrency = config.max_concurrency
        self.acquire_timeout = config.acquire_timeout
        self.read_timeout = config.read_timeout
        self._user_agent = library_user_agent()
        try:
            self._aio_session: AioSession = _botocore_session(config, session)
        except ValidationError:
            raise
        except Exception as exc:
            raise _configuration_error(exc) from None
        self._config = _client_config(config, self._user_agent)
        retry, breaker = config.retry, config.breaker
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
        self._endpoint: str | None = None  # the resolved endpoint URL, told to each Request
        self._slots = RequestPool(
            config.max_concurrency, acquire_timeout=config.acquire_timeout, clock=self.clock
        )
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

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise SessionClosed(f"a DynamoSession can be opened once; it is {self._state.value}")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.current_thread().name
        stack = AsyncExitStack()
        try:
            region = self._aio_session.get_config_variable("region")
            if region is None:
                raise ValidationError(
                    "no region: pass region_name, or set AWS_DEFAULT_REGION or a profile's region",
                    field="region_name",
                )
            client = await stack.enter_async_context(
                self._aio_session.create_client(
                    "dynamodb",
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
            )
            self._client, self._endpoint = client, client.meta.endpoint_url
            self._checker = ParamsChecker(client.meta.service_model)
            if self.mode == "fast":
                self._fast = await FastPath.open(client, self._user_agent, self._via_botocore)
        except BaseException as exc:
            await stack.aclose()
            error = configuration_error(exc) if isinstance(exc, Exception) else None
            if error is not None:
                raise error from None
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
            idempotent = is_read(operation)
        return await self._call(Request(operation, params, idempotent, endpoint=self._endpoint))

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
        await self._slots.acquire(request.operation)
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
            self._slots.release()
        return response

    def stats(self) -> PoolStats:
        return self._slots.stats()

    def __repr__(self) -> str:
        where = self.endpoint_url or "aws"
        return (
            f"<DynamoSession {self._state.value} {where} mode={self.mode} "
            f"max_concurrency={self.max_concurrency}>"
        )
