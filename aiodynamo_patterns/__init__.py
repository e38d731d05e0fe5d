"""aiodynamo_patterns: production DynamoDB patterns for asyncio.

One :class:`DynamoSession` owns one aiobotocore client and a semaphore; every request passes its
single choke point, where layers add retry, circuit breaking, caching and metrics. Repositories
turn plain Python values into injection-safe requests.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

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

# The library logs (breaker transitions, budget exhaustion) but never configures logging; the
# NullHandler keeps Python's last-resort handler from printing to stderr when the app did not
# configure logging either (logging HOWTO, "Configuring Logging for a Library").
logging.getLogger("aiodynamo_patterns").addHandler(logging.NullHandler())

try:
    __version__ = version("aiodynamo-patterns")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

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
