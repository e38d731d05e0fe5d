"""`aiodynamo-patterns load` against the stub (or a local server), server and client pinned.

    python benchmarks/bench_load.py [--backend stub|moto|dynalite|dynamodb-local] -- <load options>
    python benchmarks/bench_load.py -- --rate 400 --duration 8 --concurrency 64 --threads \
        --mix get=80,update=20 --plot docs/latency.png --json benchmarks/results/load.json

Starts the server in its own process pinned to one CPU, pins this process to the other, and runs
the ``load`` subcommand on that endpoint with dummy credentials (the stub checks no signature).
"""

from __future__ import annotations

import argparse
import os
import sys

from _common import CREDS, SERVERS, machine, server

from aiodynamo_patterns.cli import main as cli_main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", "--backend", dest="server", choices=SERVERS, default="stub")
    parser.add_argument("load_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = [a for a in args.load_args if a != "--"]
    os.environ["AWS_ACCESS_KEY_ID"] = CREDS["aws_access_key_id"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = CREDS["aws_secret_access_key"]
    print(f"# machine: {machine()}; server: {args.server}", file=sys.stderr)
    with server(args.server) as endpoint:
        return cli_main(["load", "--endpoint-url", endpoint, "--region", "us-east-1", *rest])


if __name__ == "__main__":
    sys.exit(main())
