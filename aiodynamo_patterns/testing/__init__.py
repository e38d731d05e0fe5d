"""Test doubles and fixtures for users' own suites (and this project's).

``aiodynamo_patterns.testing.pytest_plugin`` is registered as a pytest plugin (entry point
``pytest11``) and provides the ``ddb_*`` fixtures; :class:`ManualClock` lets tests move time
without sleeping.
"""

from .clock import ManualClock

__all__ = ["ManualClock"]
