"""No value in any message: server and botocore messages that quote the caller's data get the
data replaced before they reach an error, a log line or a metric label (the one place for it)."""

from __future__ import annotations

import http.client
import re

__all__ = ["redact_message"]

# Server and botocore messages that quote the caller's data, and what replaces the data. Every
# message from outside the library passes through redact_message, so no value reaches an error,
# a log line or a metric label from there.
_VALUE_ECHOES = (
    # AWS's request validation: "1 validation error detected: Value 'x' at 'key' failed to ..."
    (re.compile(r"\bValue .*? at '", re.S), "Value (withheld) at '"),
    # "The parameter cannot be converted to a numeric value: abc"
    (re.compile(r"(converted to a numeric value): .*", re.S), r"\1 (value withheld)"),
    # "Input collection [a, a] contains duplicates."
    (re.compile(r"\b(Input collection) .*? (contains duplicates)", re.S), r"\1 (withheld) \2"),
    # botocore: "Invalid type for parameter Item.x, value: {...}, type: <class 'set'>, ..."
    (re.compile(r"\bvalue: .*?(?=, (?:type|valid)\b|$)", re.S), "value: (withheld)"),
)


def redact_message(message: str, status: int | None = None) -> str:
    """A message from the server or botocore with any quoted data replaced by "(withheld)".

    An HTML error page (a proxy's or moto's 500) becomes one line naming the status.
    """
    if message.lstrip().startswith("<"):
        status_line = " ".join(
            part for part in (str(status or "?"), http.client.responses.get(status or 0)) if part
        )
        return f"HTTP {status_line} (the body was not a DynamoDB error)"
    for pattern, replacement in _VALUE_ECHOES:
        message = pattern.sub(replacement, message)
    return message
