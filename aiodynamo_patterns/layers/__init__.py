"""The composable layers around the session's one call: retry (with backoff and a budget), the
circuit breaker, the read cache, and the repository wrapper that caches reads.
"""

__all__: list[str] = []
