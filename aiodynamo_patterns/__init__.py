"""aiodynamo_patterns: production DynamoDB patterns for asyncio.

One :class:`DynamoSession` owns one aiobotocore client and a semaphore; every request passes its
single choke point, where layers add retry, circuit breaking, caching and metrics. Repositories
turn plain Python values into injection-safe requests.
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from .clock import Clock, SystemClock
    from .config import SessionConfig
    from .errors import (
        AccessDenied,
        BatchIncomplete,
        CancellationReason,
        CircuitOpen,
        ConditionFailed,
        DynamoError,
        IdempotentParameterMismatch,
        InsufficientStock,
        ItemAlreadyExists,
        ItemNotFound,
        OutcomeUnknown,
        PoolTimeout,
        ServiceUnavailable,
        SessionClosed,
        TableNotFound,
        Throttled,
        TransactionCanceled,
        TransactionConflict,
        TransportError,
        ValidationError,
        VersionConflict,
        WrongEventLoop,
    )
    from .expressions import AppendToList, IfNotExists, Increment, Remove, UpdateAction
    from .layers.backoff import Backoff
    from .layers.breaker import (
        BreakerConfig,
        BreakerLayer,
        BreakerSnapshot,
        BreakerState,
        CircuitBreaker,
    )
    from .layers.cache import CacheStats, ReadCache
    from .layers.cached_repository import CachedRepository, CacheInvalidationLayer, CacheMetrics
    from .layers.retry import RetryLayer, RetryPolicy, RetryStats
    from .local.moto import EmbeddedDynamo, EmbeddedServerError
    from .metrics.collector import CallRecord, MetricsCollector, MetricsLayer
    from .metrics.histogram import LatencyHistogram
    from .pipeline import Call, Layer, Request, Result
    from .products.repository import ProductRepository
    from .repository import (
        Page,
        Repository,
        TransactCheck,
        TransactDelete,
        TransactPut,
        TransactUpdate,
    )
    from .session import DynamoSession, PoolStats, SessionMode
    from .tables import GlobalIndex, create_table, delete_table, ensure_product_table

# The names are imported on first use (PEP 562), so that importing one submodule, such as the
# pytest plugin that pytest loads in every suite of an environment with the package installed,
# costs milliseconds rather than the whole library (aiobotocore, boto3).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "clock": (
        "Clock",
        "SystemClock",
    ),
    "config": ("SessionConfig",),
    "errors": (
        "AccessDenied",
        "BatchIncomplete",
        "CancellationReason",
        "CircuitOpen",
        "ConditionFailed",
        "DynamoError",
        "IdempotentParameterMismatch",
        "InsufficientStock",
        "ItemAlreadyExists",
        "ItemNotFound",
        "OutcomeUnknown",
        "PoolTimeout",
        "ServiceUnavailable",
        "SessionClosed",
        "TableNotFound",
        "Throttled",
        "TransactionCanceled",
        "TransactionConflict",
        "TransportError",
        "ValidationError",
        "VersionConflict",
        "WrongEventLoop",
    ),
    "expressions": (
        "AppendToList",
        "IfNotExists",
        "Increment",
        "Remove",
        "UpdateAction",
    ),
    "layers.backoff": ("Backoff",),
    "layers.breaker": (
        "BreakerConfig",
        "BreakerLayer",
        "BreakerSnapshot",
        "BreakerState",
        "CircuitBreaker",
    ),
    "layers.cache": (
        "CacheStats",
        "ReadCache",
    ),
    "layers.cached_repository": (
        "CachedRepository",
        "CacheInvalidationLayer",
        "CacheMetrics",
    ),
    "layers.retry": (
        "RetryLayer",
        "RetryPolicy",
        "RetryStats",
    ),
    "local.moto": (
        "EmbeddedDynamo",
        "EmbeddedServerError",
    ),
    "metrics.collector": (
        "CallRecord",
        "MetricsCollector",
        "MetricsLayer",
    ),
    "metrics.histogram": ("LatencyHistogram",),
    "pipeline": (
        "Call",
        "Layer",
        "Request",
        "Result",
    ),
    "products.repository": ("ProductRepository",),
    "repository": (
        "Page",
        "Repository",
        "TransactCheck",
        "TransactDelete",
        "TransactPut",
        "TransactUpdate",
    ),
    "session": (
        "DynamoSession",
        "PoolStats",
        "SessionMode",
    ),
    "tables": (
        "GlobalIndex",
        "create_table",
        "delete_table",
        "ensure_product_table",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

# The library logs (breaker transitions, budget exhaustion) but never configures logging; the
# NullHandler keeps Python's last-resort handler from printing to stderr when the app did not
# configure logging either (logging HOWTO, "Configuring Logging for a Library").
logging.getLogger("aiodynamo_patterns").addHandler(logging.NullHandler())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aiodynamo-patterns")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AccessDenied",
    "AppendToList",
    "Backoff",
    "BatchIncomplete",
    "BreakerConfig",
    "BreakerLayer",
    "BreakerSnapshot",
    "BreakerState",
    "CacheInvalidationLayer",
    "CacheMetrics",
    "CacheStats",
    "CachedRepository",
    "Call",
    "CallRecord",
    "CancellationReason",
    "CircuitBreaker",
    "CircuitOpen",
    "Clock",
    "ConditionFailed",
    "DynamoError",
    "DynamoSession",
    "EmbeddedDynamo",
    "EmbeddedServerError",
    "GlobalIndex",
    "IdempotentParameterMismatch",
    "IfNotExists",
    "Increment",
    "InsufficientStock",
    "ItemAlreadyExists",
    "ItemNotFound",
    "LatencyHistogram",
    "Layer",
    "MetricsCollector",
    "MetricsLayer",
    "OutcomeUnknown",
    "Page",
    "PoolStats",
    "PoolTimeout",
    "ProductRepository",
    "ReadCache",
    "Remove",
    "Repository",
    "Request",
    "Result",
    "RetryLayer",
    "RetryPolicy",
    "RetryStats",
    "ServiceUnavailable",
    "SessionClosed",
    "SessionConfig",
    "SessionMode",
    "SystemClock",
    "TableNotFound",
    "Throttled",
    "TransactCheck",
    "TransactDelete",
    "TransactPut",
    "TransactUpdate",
    "TransactionCanceled",
    "TransactionConflict",
    "TransportError",
    "UpdateAction",
    "ValidationError",
    "VersionConflict",
    "WrongEventLoop",
    "__version__",
    "create_table",
    "delete_table",
    "ensure_product_table",
]
