"""The data-plane fast path: request building, SigV4 signing, the JSON codec, local request
checks, and the adapter that reads what it needs from aiobotocore.
"""

__all__: list[str] = []
