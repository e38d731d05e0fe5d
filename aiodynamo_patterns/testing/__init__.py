"""Test doubles and fixtures for users' own suites (and this project's).

``aiodynamo_patterns.testing.pytest_plugin`` is registered as a pytest plugin (entry point
``pytest11``) and provides the ``ddb_*`` fixtures; :class:`ManualClock` lets tests move time
without sleeping; :class:`FaultProxy` puts throttling, 5xx, resets, lost responses, latency and
outages on the wire between a session and any plain-HTTP DynamoDB endpoint; :class:`Dynalite`
runs the second DynamoDB implementation (Node.js) that the suite is also checked against;
:class:`ScriptedCall` and :class:`CountingLayer` test layers without a server.
"""

from ..local.dynalite import DYNALITE_VERSION, Dynalite, DynaliteError
from .clock import ManualClock
from .fakes import CountingLayer, ScriptedCall
from .fault_proxy import Fault, FaultProxy

__all__ = [
    "DYNALITE_VERSION",
    "CountingLayer",
    "Dynalite",
    "DynaliteError",
    "Fault",
    "FaultProxy",
    "ManualClock",
    "ScriptedCall",
]
