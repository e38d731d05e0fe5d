"""The session's built-in resilience layers: on by default, ordered, and switchable."""

from __future__ import annotations

from aiodynamo_patterns import BreakerConfig, BreakerLayer, DynamoSession, RetryLayer, RetryPolicy
from aiodynamo_patterns.pipeline import Call, Request, Result


class Marker:
    async def __call__(self, request: Request, call_next: Call) -> Result:
        return await call_next(request)


def test_retry_and_breaker_are_on_by_default_with_retry_outside_the_breaker() -> None:
    """A new session has [RetryLayer, BreakerLayer], the breaker innermost."""
    session = DynamoSession(endpoint_url="http://127.0.0.1:9")

    assert [type(layer) for layer in session.layers] == [RetryLayer, BreakerLayer]
    assert session.retry is not None and session.retry.policy == RetryPolicy()
    assert session.breaker is not None and session.breaker.config == BreakerConfig()
    assert session.retry.clock is session.clock is session.breaker.clock


def test_caller_layers_go_outside_the_resilience_layers() -> None:
    """Constructor layers and add_layer() land outside retry; outermost=True goes first."""
    first, second, outer = Marker(), Marker(), Marker()
    session = DynamoSession(endpoint_url="http://127.0.0.1:9", layers=[first])

    session.add_layer(second)
    session.add_layer(outer, outermost=True)

    kinds = session.layers
    assert kinds[:3] == (outer, first, second)
    assert [type(layer) for layer in kinds[3:]] == [RetryLayer, BreakerLayer]


def test_none_switches_a_layer_off() -> None:
    """retry=None and breaker=None leave no resilience layer and no retry statistics."""
    session = DynamoSession(endpoint_url="http://127.0.0.1:9", retry=None, breaker=None)

    assert session.layers == ()
    assert session.retry_stats() is None
    assert session.breaker is None
