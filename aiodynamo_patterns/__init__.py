"""aiodynamo_patterns: production DynamoDB patterns for asyncio.

One :class:`DynamoSession` owns one aiobotocore client and a semaphore; every request passes its
single choke point, where layers add retry, circuit breaking, caching and metrics. Repositories
turn plain Python values into injection-safe requests.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from .backoff import Backoff
from .clock import Clock, SystemClock
from .embedded import EmbeddedDynamo
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
from .expressions import AppendToList, IfNotExists, Increment, Remove
from .histogram import LatencyHistogram
from .metrics import CallRecord, MetricsCollector, MetricsLayer
from .pipeline import Call, Layer, Request
from .products import ProductRepository
from .repository import (
    Page,
    Repository,
    TransactCheck,
    TransactDelete,
    TransactPut,
    TransactUpdate,
)
from .session import DynamoSession, PoolStats
from .tables import GlobalIndex, create_table, delete_table, ensure_product_table

# A library logs, the application decides where to: without a handler of the application's,
# records go nowhere (not to stderr through logging's last-resort handler).
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
    "Call",
    "CallRecord",
    "CancellationReason",
    "CircuitOpen",
    "Clock",
    "ConditionFailed",
    "DynamoError",
    "DynamoSession",
    "EmbeddedDynamo",
    "GlobalIndex",
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
    "Remove",
    "Repository",
    "Request",
    "ServiceUnavailable",
    "SessionClosed",
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
    "ValidationError",
    "VersionConflict",
    "__version__",
    "create_table",
    "delete_table",
    "ensure_product_table",
]
