"""``as_dict()`` for the statistics dataclasses (pool, retry, cache), written once."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

__all__ = ["StatsRecord"]


class StatsRecord:
    """Mixin for a frozen statistics dataclass: :meth:`as_dict` gives its fields, in order, then
    the derived properties named in ``derived`` (rates, utilisation), rounded to 2 decimals."""

    __slots__ = ()
    derived: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, float | int]:
        values: dict[str, float | int] = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)  # type: ignore[arg-type]  # always a dataclass
        }
        for name in self.derived:
            values[name] = round(getattr(self, name), 2)
        return values
