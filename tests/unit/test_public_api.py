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
NOT_API_PREFIXES = ("aiodynamo_patterns.demo",)  # demo.py and its demo_<topic>.py sections

# Public in their module (documented there) but deliberately not re-exported at the top level:
# building blocks for layer authors and test suites, not for everyday use.
MODULE_LEVEL_ONLY = {
    "aiodynamo_patterns.breaker": {"Ticket", "is_availability_failure"},
    "aiodynamo_patterns.cache": {"GetOutcome"},
    "aiodynamo_patterns.cli": {"main"},
    "aiodynamo_patterns.embedded": {"DUMMY_CREDENTIALS", "Credentials", "LocalEndpoint"},
    "aiodynamo_patterns.errors": {"translate_error"},
    "aiodynamo_patterns.expressions": {
        "Placeholders",
        "from_wire",
        "item_from_wire",
        "item_to_wire",
        "to_wire",
        "validate_name",
    },
    "aiodynamo_patterns.histogram": {"BUCKETS", "RELATIVE_ERROR", "SUB_BUCKETS"},
    "aiodynamo_patterns.metrics": {
        "AttemptProbe",
        "CAPACITY_OPERATIONS",
        "CacheSeries",
        "LATENCY_BUCKETS",
        "OperationSeries",
    },
    # needs the `prometheus` extra, so it is not imported by the package
    "aiodynamo_patterns.metrics_prometheus": {"DynamoMetricsExporter", "prometheus_text"},
    "aiodynamo_patterns.pipeline": {"DATA_PLANE_OPERATIONS", "READ_OPERATIONS", "compose"},
    "aiodynamo_patterns.retry": {"RetryBudget", "is_retryable", "provably_not_executed"},
}
# Implementation modules: their names are importable for the curious and for tests, but they are
# not the library's API and are not re-exported (private underscore modules are skipped too).
INTERNAL = {
    "aiodynamo_patterns._aiobotocore_adapter",
    "aiodynamo_patterns.codec",
    "aiodynamo_patterns.fastpath",
    "aiodynamo_patterns.metrics_snapshot",
    "aiodynamo_patterns.replay",
    "aiodynamo_patterns.sigv4",
    "aiodynamo_patterns.validation",
}
# The testing package is its own namespace: users import it as aiodynamo_patterns.testing.
TESTING = "aiodynamo_patterns.testing"


def public_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}.")]
    return [
        importlib.import_module(n)
        for n in sorted(names)
        if n not in NOT_API and not n.startswith(NOT_API_PREFIXES)
    ]


MODULES = public_modules()
# The load generator is imported as aiodynamo_patterns.loadgen: it needs the `loadgen` extra
# (hdrhistogram, matplotlib, tqdm), so the package does not import it.
LOADGEN = "aiodynamo_patterns.loadgen"
CORE_MODULES = [
    m
    for m in MODULES
    if not m.__name__.startswith((TESTING, LOADGEN)) and m.__name__ not in INTERNAL
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
