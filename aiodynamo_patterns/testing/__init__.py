"""Test doubles and fixtures for users' own suites (and this project's).

``aiodynamo_patterns.testing.pytest_plugin`` is registered as a pytest plugin (entry point
``pytest11``) and provides the ``ddb_*`` fixtures; :class:`ManualClock` lets tests move time
without sleeping; :class:`FaultProxy` puts throttling, 5xx, resets, lost responses, latency and
outages on the wire between a session and any plain-HTTP DynamoDB endpoint; :class:`Dynalite`
runs the second DynamoDB implementation (Node.js) and :class:`DynamoDBLocal` AWS's own emulator
(Java), the two the suite is also checked against;
:class:`ScriptedCall` and :class:`CountingLayer` test layers without a server.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..local.dynalite import DYNALITE_VERSION, Dynalite, DynaliteError
    from ..local.dynamodb_local import DYNAMODB_LOCAL_VERSION, DynamoDBLocal, DynamoDBLocalError
    from .clock import ManualClock
    from .fakes import CountingLayer, ScriptedCall
    from .fault_proxy import Fault, FaultProxy

# Imported on first use: pytest imports the plugin (a submodule) in every suite of an environment
# that has the package, and that must not cost the fault proxy's, dynalite's or DynamoDB Local's
# imports.
_MODULE_OF = {
    "DYNALITE_VERSION": "..local.dynalite",
    "Dynalite": "..local.dynalite",
    "DynaliteError": "..local.dynalite",
    "DYNAMODB_LOCAL_VERSION": "..local.dynamodb_local",
    "DynamoDBLocal": "..local.dynamodb_local",
    "DynamoDBLocalError": "..local.dynamodb_local",
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
    "DYNAMODB_LOCAL_VERSION",
    "CountingLayer",
    "Dynalite",
    "DynaliteError",
    "DynamoDBLocal",
    "DynamoDBLocalError",
    "Fault",
    "FaultProxy",
    "ManualClock",
    "ScriptedCall",
]
