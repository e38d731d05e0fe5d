"""The top-level parameter check that replaces botocore's parameter validation.

The session turns botocore's ``parameter_validation`` off: the repositories build and validate
their requests themselves (item values, key shape, limits, tokens), and botocore's deep walk of
every parameter costs CPU on every call. What a caller of ``session.call`` could still get wrong
at the top level - an unknown or missing parameter, a value of the wrong type, a string or number
outside the model's bounds - is checked here, from botocore's service model, before anything is
sent and identically in both session modes. Nested values are left to DynamoDB, which refuses
them with a ``ValidationException`` (``ValidationError``) without executing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError

__all__ = ["ParamsChecker"]

_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "structure": Mapping,
    "map": Mapping,
    "list": (list, tuple),
    "blob": (bytes, bytearray, str),
    "double": (int, float),
    "float": (int, float),
}

# (python type, min, max) per member; min/max are lengths for strings and values for numbers
_Spec = tuple[
    dict[str, tuple[type | tuple[type, ...] | None, int | None, int | None]], frozenset[str]
]


class ParamsChecker:
    """Checks ``params`` against one service model's input shapes, one operation at a time."""

    __slots__ = ("_model", "_specs")

    def __init__(self, service_model: Any) -> None:
        self._model = service_model
        self._specs: dict[str, _Spec] = {}

    def _spec(self, operation: str) -> _Spec:
        spec = self._specs.get(operation)
        if spec is None:
            shape = self._model.operation_model(operation).input_shape
            members: dict[str, tuple[type | tuple[type, ...] | None, int | None, int | None]] = {}
            required: frozenset[str] = frozenset()
            if shape is not None:
                required = frozenset(shape.required_members)
                for name, member in shape.members.items():
                    meta = member.metadata
                    members[name] = (_TYPES.get(member.type_name), meta.get("min"), meta.get("max"))
            spec = self._specs[operation] = (members, required)
        return spec

    def check(self, operation: str, params: Any) -> None:
        """Raise ``ValidationError(field=...)`` for the first top-level problem in ``params``."""
        if not isinstance(params, Mapping):
            raise ValidationError(
                "parameters must be a mapping", field="params", operation=operation
            )
        members, required = self._spec(operation)
        for name in required:
            if name not in params:
                raise ValidationError(
                    f"missing required parameter {name}", field=name, operation=operation
                )
        for name, value in params.items():
            rule = members.get(name)
            if rule is None:
                raise ValidationError(
                    f"unknown parameter {name!r} for {operation}", field=name, operation=operation
                )
            expected, low, high = rule
            if expected is None:
                continue
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ValidationError(
                    f"{name} has the wrong type {type(value).__name__}",
                    field=name,
                    operation=operation,
                )
            if isinstance(value, str | int) and (low is not None or high is not None):
                size = len(value) if isinstance(value, str) else value
                if (low is not None and size < low) or (high is not None and size > high):
                    raise ValidationError(
                        f"{name} is out of bounds ({low}..{high})", field=name, operation=operation
                    )
