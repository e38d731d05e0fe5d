"""Test doubles and fixtures for users' own suites (and this project's).

``aiodynamo_patterns.testing.pytest_plugin`` is registered as a pytest plugin (entry point
``pytest11``) and provides the ``ddb_*`` fixtures; :class:`ManualClock` lets tests move time
without sleeping. :class:`Dynalite` runs the second DynamoDB implementation (Node.js) that the
suite is also checked against.
"""

from .clock import ManualClock
from .dynalite import DYNALITE_VERSION, Dynalite, DynaliteError

__all__ = ["DYNALITE_VERSION", "Dynalite", "DynaliteError", "ManualClock"]
