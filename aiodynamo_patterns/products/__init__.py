"""The example domain: a product catalogue with exactly-once stock changes (the replay record)."""

__all__: list[str] = []
