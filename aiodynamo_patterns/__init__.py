"""aiodynamo_patterns: production DynamoDB patterns for asyncio.

One :class:`DynamoSession` owns one aiobotocore client and a semaphore; every request passes its
single choke point, where layers add retry, circuit breaking, caching and metrics. Repositories
turn plain Python values into injection-safe requests.
"""

from importlib.metadata import PackageNotFoundError, version

from .backoff import Backoff
from .cache import CacheStats, ReadCache
from .cached_repository import CachedRepository, CacheInvalidationLayer, CacheMetrics
from .clock import Clock, SystemClock
from .embedded import EmbeddedDynamo, EmbeddedServerError
from .errors import (
    AccessDenied,
    BatchIncomplete,
    CancellationReason,
    CircuitOpen,
    ConditionFailed,
    DynamoError,
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
)
from .expressions import AppendToList, IfNotExists, Increment, Remove, UpdateAction
from .pipeline import Call, Layer, Request, Result
from .products import ProductRepository
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

try:
    __version__ = version("aiodynamo-patterns")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "AccessDenied",
    "AppendToList",
    "Backoff",
    "BatchIncomplete",
    "CacheInvalidationLayer",
    "CacheMetrics",
    "CacheStats",
    "CachedRepository",
    "Call",
    "CancellationReason",
    "CircuitOpen",
    "Clock",
    "ConditionFailed",
    "DynamoError",
    "DynamoSession",
    "EmbeddedDynamo",
    "EmbeddedServerError",
    "GlobalIndex",
    "IfNotExists",
    "Increment",
    "InsufficientStock",
    "ItemAlreadyExists",
    "ItemNotFound",
    "Layer",
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
    "ServiceUnavailable",
    "SessionClosed",
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
    "__version__",
    "create_table",
    "delete_table",
    "ensure_product_table",
]
