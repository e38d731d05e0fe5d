"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """``delay(n)`` is uniform in ``[0, min(cap, base * 2**n)]`` for the n-th retry (n >= 0)."""

    base: float = 0.025
    cap: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(retry, 32)))
        return self.rng.uniform(0.0, ceiling)
