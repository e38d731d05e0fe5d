"""Test doubles and fixtures for users' own suites (and this project's).

``aiodynamo_patterns.testing.pytest_plugin`` is registered as a pytest plugin (entry point
``pytest11``) and provides the ``ddb_*`` fixtures; :class:`ManualClock` lets tests move time
without sleeping; :class:`FaultProxy` puts throttling, 5xx, resets, lost responses, latency and
outages on the wire between a session and any plain-HTTP DynamoDB endpoint; :class:`Dynalite`
runs the second DynamoDB implementation (Node.js) that the suite is also checked against;
:class:`ScriptedCall` and :class:`CountingLayer` test layers without a server.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..local.dynalite import DYNALITE_VERSION, Dynalite, DynaliteError
    from .clock import ManualClock
    from .fakes import CountingLayer, ScriptedCall
    from .fault_proxy import Fault, FaultProxy

# Imported on first use: pytest imports the plugin (a submodule) in every suite of an environment
# that has the package, and that must not cost the fault proxy's or dynalite's imports.
_MODULE_OF = {
    "DYNALITE_VERSION": "..local.dynalite",
    "Dynalite": "..local.dynalite",
    "DynaliteError": "..local.dynalite",
    "ManualClock": ".clock",
    "CountingLayer": ".fakes",
    "ScriptedCall": ".fakes",
    "Fault": ".fault_proxy",
    "FaultProxy": ".fault_proxy",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
