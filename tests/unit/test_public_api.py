"""The public API: what __all__ promises is there, and nothing public is missing from it."""

from __future__ import annotations

import inspect

import aiodynamo_patterns as pkg
from aiodynamo_patterns import errors


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from the package."""
    for name in pkg.__all__:
        assert hasattr(pkg, name), name


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
