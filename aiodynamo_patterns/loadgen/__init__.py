"""The asyncio load generator (needs the ``loadgen`` extra): generator, workloads, report, CLI."""

__all__: list[str] = []
