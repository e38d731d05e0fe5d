"""The public API: what __all__ promises is there, and nothing public is missing from it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import aiodynamo_patterns as pkg
from aiodynamo_patterns import errors

# Modules whose names are not part of the importable API (entry points and scripts).
NOT_API = {"aiodynamo_patterns.__main__"}
NOT_API_PREFIXES = ("aiodynamo_patterns.demo",)  # the `demo` command and its sections

# Public in their module (documented there) but deliberately not re-exported at the top level:
# building blocks for layer authors and test suites, not for everyday use.
MODULE_LEVEL_ONLY = {
    "aiodynamo_patterns.layers.breaker": {
        "REPEAT_MEMORY_SECONDS",
        "Ticket",
        "is_availability_failure",
    },
    "aiodynamo_patterns.layers.cache": {"GetOutcome"},
    "aiodynamo_patterns.cli": {"main"},
    "aiodynamo_patterns.local.base": {
        "DUMMY_CREDENTIALS",
        "READY",
        "Credentials",
        "LocalEndpoint",
        "close_pipes",
        "drain",
        "readline_with_timeout",
        "terminate",
    },
    "aiodynamo_patterns.local.backends": {
        "BACKENDS",
        "LAUNCH_ERRORS",
        "add_endpoint_arguments",
        "local_server",
    },
    "aiodynamo_patterns.local.moto": {"CEILING_GETITEM_OPS", "CEILING_MIXED_OPS"},
    "aiodynamo_patterns.config": {"MAX_CONCURRENCY", "configuration_error"},
    "aiodynamo_patterns.errors": {"translate_error"},
    "aiodynamo_patterns.expressions": {
        "Placeholders",
        "from_wire",
        "item_from_wire",
        "item_to_wire",
        "to_wire",
        "validate_name",
    },
    "aiodynamo_patterns.metrics.histogram": {"BUCKETS", "RELATIVE_ERROR", "SUB_BUCKETS"},
    "aiodynamo_patterns.metrics.collector": {
        "AttemptProbe",
        "CAPACITY_OPERATIONS",
        "CacheSeries",
        "LATENCY_BUCKETS",
        "OperationSeries",
        "consumed_capacity",
    },
    "aiodynamo_patterns.metrics.series": {
        "CacheSeries",
        "LATENCY_BUCKETS",
        "MetricsView",
        "OperationSeries",
        "RecentWindow",
        "StatsSource",
    },
    # needs the `prometheus` extra, so it is not imported by the package
    "aiodynamo_patterns.metrics.prometheus": {"DynamoMetricsExporter", "prometheus_text"},
    # needs the `otel` extra, so it is not imported by the package
    "aiodynamo_patterns.otel": {"DURATION_BUCKETS", "OpenTelemetryLayer"},
    "aiodynamo_patterns.pipeline": {
        "CALL_OBSERVER",
        "CAPACITY_OPERATIONS",
        "CacheObserver",
        "DATA_PLANE_OPERATIONS",
        "PROTOCOL_STEP",
        "READ_OPERATIONS",
        "TABLE_OPERATIONS",
        "WRITE_OPERATIONS",
        "compose",
        "is_read",
        "observe_lookup",
        "report",
    },
    "aiodynamo_patterns.pool": {"RequestPool"},
    "aiodynamo_patterns.layers.retry": {"RetryBudget", "is_retryable", "provably_not_executed"},
}
# Implementation modules: their names are importable for the curious and for tests, but they are
# not the library's API and are not re-exported (private underscore modules are skipped too).
INTERNAL = {
    "aiodynamo_patterns.batches",
    "aiodynamo_patterns.keys",
    "aiodynamo_patterns.queries",
    "aiodynamo_patterns.redaction",
    "aiodynamo_patterns.transactions",
    "aiodynamo_patterns.wire.aiobotocore",
    "aiodynamo_patterns.wire.codec",
    "aiodynamo_patterns.wire.fastpath",
    "aiodynamo_patterns.metrics.snapshot",
    "aiodynamo_patterns.products.replay",
    "aiodynamo_patterns.wire.sigv4",
    "aiodynamo_patterns.wire.validation",
}
# The testing package is its own namespace: users import it as aiodynamo_patterns.testing.
TESTING = "aiodynamo_patterns.testing"


def public_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}.")]
    return [
        importlib.import_module(n)
        for n in sorted(names)
        if n not in NOT_API
        and not n.startswith(NOT_API_PREFIXES)
        and not n.rsplit(".", 1)[1].startswith("_")  # private modules are not the API
    ]


MODULES = public_modules()
# The load generator wing needs the `loadgen` extra (hdrhistogram, matplotlib, tqdm), so the
# package does not import it; the local servers are reached through EmbeddedDynamo and testing.
LOADGEN = "aiodynamo_patterns.loadgen"
LOCAL_ONLY = ("aiodynamo_patterns.local.dynalite", "aiodynamo_patterns.local.dynamodb_local")
CORE_MODULES = [
    m
    for m in MODULES
    if not m.__name__.startswith((TESTING, LOADGEN, *LOCAL_ONLY)) and m.__name__ not in INTERNAL
]


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from the package."""
    for name in pkg.__all__:
        assert hasattr(pkg, name), name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_module_has_a_complete_all(module: ModuleType) -> None:
    """Each public module defines __all__, every name in it exists, and every public class is in it."""
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module.__name__} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    classes = {
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }
    assert classes - set(exported) == set()


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda m: m.__name__)
def test_nothing_public_is_missing_at_top_level(module: ModuleType) -> None:
    """Every name a core module exports is at the top level, unless listed as module-level only."""
    allowed = MODULE_LEVEL_ONLY.get(module.__name__, set())
    assert allowed <= set(module.__all__), "stale MODULE_LEVEL_ONLY entry"
    missing = set(module.__all__) - set(pkg.__all__) - allowed
    assert missing == set()
    for name in set(module.__all__) & set(pkg.__all__):
        assert getattr(pkg, name) is getattr(module, name), name


def test_top_level_all_is_sorted_and_unique() -> None:
    """__all__ at the top level is sorted (case-sensitive) and has no duplicates."""
    assert pkg.__all__ == sorted(set(pkg.__all__))


def test_every_error_is_exported() -> None:
    """Every DynamoError subclass in errors.py is re-exported at the top level."""
    classes = {
        name
        for name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.DynamoError) and obj.__module__ == errors.__name__
    }
    assert classes <= set(pkg.__all__)


def test_version_is_from_metadata() -> None:
    """__version__ comes from the installed package's metadata."""
    assert pkg.__version__ != "0.0.0"


# Every import path users had before the package was split into wings, and what it must give.
PUBLIC_PATHS = [
    ("aiodynamo_patterns", "DynamoSession"),
    ("aiodynamo_patterns", "CachedRepository"),
    ("aiodynamo_patterns", "EmbeddedDynamo"),
    ("aiodynamo_patterns", "MetricsCollector"),
    ("aiodynamo_patterns", "ProductRepository"),
    ("aiodynamo_patterns.testing", "FaultProxy"),
    ("aiodynamo_patterns.testing", "Fault"),
    ("aiodynamo_patterns.testing", "ManualClock"),
    ("aiodynamo_patterns.testing", "Dynalite"),
    ("aiodynamo_patterns.testing", "DynaliteError"),
    ("aiodynamo_patterns.testing", "DYNALITE_VERSION"),
    ("aiodynamo_patterns.testing", "DynamoDBLocal"),
    ("aiodynamo_patterns.testing", "DynamoDBLocalError"),
    ("aiodynamo_patterns.testing", "DYNAMODB_LOCAL_VERSION"),
    ("aiodynamo_patterns.testing.pytest_plugin", "pytest_addoption"),
    ("aiodynamo_patterns.testing.virtual_time", "__name__"),
    ("aiodynamo_patterns.cli", "main"),
]


@pytest.mark.parametrize(("module", "name"), PUBLIC_PATHS, ids=lambda v: str(v))
def test_public_import_paths_keep_working(module: str, name: str) -> None:
    """Each import path documented before the split into wings still imports the same name."""
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(
    ("group", "name", "target"),
    [
        ("pytest11", "aiodynamo_patterns", "aiodynamo_patterns.testing.pytest_plugin"),
        ("console_scripts", "aiodynamo-patterns", "aiodynamo_patterns.cli:main"),
    ],
)
def test_entry_points_resolve(group: str, name: str, target: str) -> None:
    """The installed pytest plugin and console script point at modules that load."""
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group=group) if e.name == name]
    assert entry.value == target
    assert entry.load() is not None
