"""The ``aiodynamo-patterns`` command (also ``python -m aiodynamo_patterns``)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from .errors import DynamoError
from .local.backends import LAUNCH_ERRORS, add_endpoint_arguments, local_server
from .session import DynamoSession

__all__ = ["main"]


@asynccontextmanager
async def open_session(
    endpoint_url: str | None, region: str | None, backend: str = "moto"
) -> AsyncIterator[DynamoSession]:
    """A session on ``endpoint_url``, or on a freshly started local ``backend`` when None."""
    if endpoint_url is not None:
        async with DynamoSession(endpoint_url=endpoint_url, region_name=region) as session:
            yield session
        return
    async with local_server(backend) as server, server.session() as session:
        yield session


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiodynamo-patterns",
        description="Production DynamoDB patterns for asyncio.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="walk the product exercise end to end")
    add_endpoint_arguments(demo)
    demo.add_argument(
        "--table", default="aiodynamo-patterns-demo", help="table name (default: %(default)s)"
    )
    demo.add_argument(
        "--metrics-json", metavar="PATH", help="also write the metrics JSON export to PATH"
    )
    from .loadgen.cli import add_load_parser

    add_load_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            asyncio.run(run_demo(args, functools.partial(open_session, backend=args.backend)))
        elif args.command == "load":
            from .loadgen.cli import run_load

            return run_load(args)
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except DynamoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except LAUNCH_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
