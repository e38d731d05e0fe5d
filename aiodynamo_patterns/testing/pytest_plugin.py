"""pytest fixtures for suites that use aiodynamo_patterns (registered under ``pytest11``).

Five lines in a user's pytest-asyncio suite::

    async def test_stock(ddb_session, ddb_table_factory):
        table = await ddb_table_factory()              # product layout, deleted afterwards
        products = ProductRepository(ddb_session, table)
        p = await products.create_product({"name": "x", "price": 1, "stock": 2, "category": "c"})
        assert (await products.update_product_stock(p["product_id"], -1))["stock"] == 1

Fixtures: ``ddb_endpoint`` (URL of an embedded moto server on 127.0.0.1, one per test session,
or ``AIODYNAMO_PATTERNS_TEST_ENDPOINT`` if set), ``ddb_session`` (an open DynamoSession, in the
mode ``ddb_session_mode`` returns: ``AIODYNAMO_PATTERNS_MODE`` or ``"fast"``),
``ddb_table_factory`` (creates uniquely named tables and deletes them after the test),
``ddb_backend`` (which implementation is behind the endpoint) and ``ddb_credentials``.

A test that requests any ``ddb_*`` fixture runs with every ``AWS_*`` variable removed and the
config files pointed at nothing, so that it can never reach a real account by accident; a test
that requests none runs exactly as without the plugin (same environment, no marker, and the
library is imported only when a fixture is first set up).

``ddb_backends = moto dynalite dynamodb-local`` (ini) or ``--ddb-backend dynalite`` runs every
test that uses the endpoint on each named embedded implementation (dynalite needs Node.js,
DynamoDB Local Java >= 17 and Node.js; without them those tests are skipped with the reason).
``@pytest.mark.ddb_unsupported("dynalite", reason=...)`` skips a test on the named backends.
With ``AIODYNAMO_PATTERNS_TEST_ENDPOINT`` set, tests run once against that endpoint, named by
``AIODYNAMO_PATTERNS_TEST_BACKEND`` (default ``external``), with credentials from ``AIODYNAMO_PATTERNS_TEST_ACCESS_KEY_ID`` / ``..._SECRET_ACCESS_KEY`` /
``..._SESSION_TOKEN`` / ``..._REGION`` only.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

# Nothing of the library at import time: pytest loads this module in every suite of an
# environment that has the package, and a suite that never asks for a fixture pays nothing.
if TYPE_CHECKING:
    from ..session import DynamoSession, SessionMode
    from ..tables import GlobalIndex
    from .fault_proxy import FaultProxy

__all__ = [
    "BACKEND_ENV",
    "CREDENTIAL_ENVS",
    "EMBEDDED_BACKENDS",
    "ENDPOINT_ENV",
    "MODE_ENV",
    "TableFactory",
    "ddb_backend",
    "ddb_credentials",
    "ddb_endpoint",
    "ddb_fault_proxy",
    "ddb_faulty_session",
    "ddb_session",
    "ddb_session_mode",
    "ddb_table_factory",
]

F = TypeVar("F", bound=Callable[..., Any])
try:
    from pytest_asyncio import fixture as _pytest_asyncio_fixture
except ImportError:  # pragma: no cover - the async fixtures need pytest-asyncio
    _pytest_asyncio_fixture = None  # type: ignore[assignment]  # optional dependency


def _async_fixture(func: F) -> F:
    if _pytest_asyncio_fixture is None:  # pragma: no cover
        return func
    return cast(F, _pytest_asyncio_fixture(func))


ENDPOINT_ENV = "AIODYNAMO_PATTERNS_TEST_ENDPOINT"
#: Name the configured endpoint's implementation (``dynamodb``, ``alternator``, ...) so that
#: ``ddb_unsupported`` marks apply to it; ``external`` by default.
BACKEND_ENV = "AIODYNAMO_PATTERNS_TEST_BACKEND"
#: Credentials for the configured endpoint only. Real ``AWS_*`` variables are never used.
CREDENTIAL_ENVS = {
    "aws_access_key_id": "AIODYNAMO_PATTERNS_TEST_ACCESS_KEY_ID",
    "aws_secret_access_key": "AIODYNAMO_PATTERNS_TEST_SECRET_ACCESS_KEY",
    "aws_session_token": "AIODYNAMO_PATTERNS_TEST_SESSION_TOKEN",
    "region_name": "AIODYNAMO_PATTERNS_TEST_REGION",
}
EMBEDDED_BACKENDS = ("moto", "dynalite", "dynamodb-local")
TableFactory = Callable[..., Awaitable[str]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "ddb_backends",
        "embedded DynamoDB implementations the ddb_* fixtures run every test on "
        "(moto, dynalite, dynamodb-local); default: moto",
        type="args",
        default=["moto"],
    )
    parser.addini(
        "ddb_dynalite_dir",
        "where dynalite is installed (relative to the rootdir); default: the user cache dir",
        default="",
    )
    parser.addini(
        "ddb_dynamodb_local_dir",
        "where DynamoDB Local is installed (relative to the rootdir); default: the user cache dir",
        default="",
    )
    group = parser.getgroup("aiodynamo_patterns")
    group.addoption(
        "--ddb-backend",
        action="append",
        default=None,
        choices=EMBEDDED_BACKENDS,
        help="run the ddb_* fixtures on this embedded backend (repeatable; overrides ddb_backends)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ddb: tests that use the aiodynamo_patterns fixtures")
    config.addinivalue_line(
        "markers",
        "ddb_unsupported(*backends, reason): skip this test on the named backends "
        "(moto, dynalite, dynamodb-local, or the AIODYNAMO_PATTERNS_TEST_BACKEND name) because "
        "they lack or differ in the behaviour it checks",
    )


def _backends(config: pytest.Config) -> list[str]:
    if os.environ.get(ENDPOINT_ENV):
        return [os.environ.get(BACKEND_ENV) or "external"]
    chosen = config.getoption("--ddb-backend") or config.getini("ddb_backends")
    backends = list(dict.fromkeys(chosen))
    unknown = [b for b in backends if b not in EMBEDDED_BACKENDS]
    if unknown:
        raise pytest.UsageError(f"ddb_backends: unknown {unknown}; choose from {EMBEDDED_BACKENDS}")
    return backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # With one backend the test ids stay as the user wrote them (no "[moto]" suffix).
    backends = _backends(metafunc.config)
    if "ddb_backend" in metafunc.fixturenames and len(backends) > 1:
        metafunc.parametrize("ddb_backend", backends, indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = _backends(config)
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("ddb_backend") if callspec is not None else None
        if backend is None and "ddb_backend" in getattr(item, "fixturenames", ()):
            backend = only[0] if len(only) == 1 else None
        if backend is None:
            continue
        for mark in item.iter_markers("ddb_unsupported"):
            if backend in mark.args:
                reason = mark.kwargs.get("reason", "not supported")
                item.add_marker(pytest.mark.skip(reason=f"{backend}: {reason}"))


#: The fixtures whose tests run isolated from the caller's AWS environment.
_FIXTURES = frozenset(name for name in __all__ if name.startswith("ddb_"))
_ISOLATION = pytest.StashKey[pytest.MonkeyPatch]()
_STRICT_MODE_HINT = (
    "{test} is an async test using the aiodynamo_patterns fixtures, but pytest-asyncio does not "
    "run it: in pytest-asyncio's strict mode mark it @pytest.mark.asyncio (or put "
    "`pytestmark = pytest.mark.asyncio` in the module), or set `asyncio_mode = auto` in the "
    "pytest configuration"
)
_NO_PYTEST_ASYNCIO = (
    "{test} uses the aiodynamo_patterns async fixtures, which need pytest-asyncio: "
    "pip install pytest-asyncio"
)


def _uses_fixtures(item: pytest.Item) -> bool:
    return not _FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def _isolate(item: pytest.Item) -> None:
    """Hide the caller's AWS environment (keys, profiles, AWS_ENDPOINT_URL*) from this test."""
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            patch.delenv(name)
    # Point the config chain at nothing, so a developer's ~/.aws never applies either.
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    item.stash[_ISOLATION] = patch


def _check_async_runner(item: pytest.Item) -> None:
    if not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        return
    if _pytest_asyncio_fixture is None:
        pytest.fail(_NO_PYTEST_ASYNCIO.format(test=item.nodeid), pytrace=False)
    if item.get_closest_marker("asyncio") is None:
        pytest.fail(_STRICT_MODE_HINT.format(test=item.nodeid), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    # Before any fixture (the session-scoped endpoint included) is set up, only for our tests.
    if _uses_fixtures(item):
        _isolate(item)
        _check_async_runner(item)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        # After every fixture's teardown: the caller's environment comes back as it was.
        patch = item.stash.get(_ISOLATION, None)
        if patch is not None:
            patch.undo()


@pytest.fixture(scope="session")
def ddb_backend(request: pytest.FixtureRequest) -> str:
    """Name of the implementation behind ``ddb_endpoint`` (``moto``, ``dynalite``, ...).

    Tests run once per backend in the ``ddb_backends`` ini option (default ``moto``).
    """
    return str(getattr(request, "param", None) or _backends(request.config)[0])


@pytest.fixture(scope="session")
def ddb_endpoint(ddb_backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a DynamoDB endpoint for the whole test session (embedded moto by default).

    ``AIODYNAMO_PATTERNS_TEST_ENDPOINT`` replaces the embedded servers with that endpoint.
    """
    configured = os.environ.get(ENDPOINT_ENV)
    if configured:
        yield configured
        return
    if ddb_backend == "dynalite":
        from ..local.dynalite import Dynalite, node_available

        if not node_available():
            pytest.skip("dynalite needs Node.js and npm on PATH")
        directory = request.config.getini("ddb_dynalite_dir")
        cache_dir = request.config.rootpath / directory if directory else None
        with Dynalite(cache_dir=cache_dir) as dynalite:
            yield dynalite.endpoint_url
        return
    if ddb_backend == "dynamodb-local":
        from ..local.dynamodb_local import DynamoDBLocal, dynamodb_local_available

        if not dynamodb_local_available():
            pytest.skip("dynamodb-local needs Java >= 17, Node.js >= 20 and npm on PATH")
        directory = request.config.getini("ddb_dynamodb_local_dir")
        cache_dir = request.config.rootpath / directory if directory else None
        with DynamoDBLocal(cache_dir=cache_dir) as local:
            yield local.endpoint_url
        return
    from ..local.moto import EmbeddedDynamo

    server = EmbeddedDynamo()
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


def _session_credentials() -> dict[str, Any]:
    from ..local.base import DUMMY_CREDENTIALS

    if not os.environ.get(ENDPOINT_ENV):
        return dict(DUMMY_CREDENTIALS)
    given = {arg: os.environ[env] for arg, env in CREDENTIAL_ENVS.items() if os.environ.get(env)}
    return {**DUMMY_CREDENTIALS, **given}


@pytest.fixture
def ddb_credentials() -> dict[str, Any]:
    """Keyword arguments for ``DynamoSession`` that reach ``ddb_endpoint`` (never ``AWS_*``)."""
    return _session_credentials()


MODE_ENV = "AIODYNAMO_PATTERNS_MODE"


@pytest.fixture
def ddb_session_mode() -> SessionMode:
    """The ``DynamoSession`` mode of ``ddb_session``: ``$AIODYNAMO_PATTERNS_MODE`` or ``"fast"``.

    Override it in a conftest (e.g. parametrised over ``["fast", "compatible"]``) to run a
    suite in both modes.
    """
    mode = os.environ.get(MODE_ENV, "fast")
    if mode not in ("fast", "compatible"):
        raise pytest.UsageError(f"{MODE_ENV} must be 'fast' or 'compatible', not {mode!r}")
    return cast("SessionMode", mode)


@_async_fixture
async def ddb_session(
    ddb_endpoint: str, ddb_credentials: dict[str, Any], ddb_session_mode: SessionMode
) -> AsyncIterator[DynamoSession]:
    """An open DynamoSession on ``ddb_endpoint``, in ``ddb_session_mode``."""
    from ..session import DynamoSession

    async with DynamoSession(
        endpoint_url=ddb_endpoint, mode=ddb_session_mode, **ddb_credentials
    ) as session:
        yield session


@_async_fixture
async def ddb_table_factory(ddb_session: DynamoSession) -> AsyncIterator[TableFactory]:
    """``await ddb_table_factory()`` makes a product-layout table and returns its name.

    Keyword arguments choose another layout: ``partition_key=("id", "S")``,
    ``sort_key=None``, ``indexes=[GlobalIndex(...)]``.
    """
    from ..tables import PRODUCT_GSI, GlobalIndex, create_table, delete_table

    created: list[str] = []

    async def factory(
        *,
        partition_key: tuple[str, str] = ("PK", "S"),
        sort_key: tuple[str, str] | None = ("SK", "S"),
        indexes: Sequence[GlobalIndex] | None = None,
        prefix: str = "test",
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if indexes is None:
            indexes = (
                [GlobalIndex(PRODUCT_GSI, "GSI1PK", "GSI1SK")]
                if (partition_key, sort_key) == (("PK", "S"), ("SK", "S"))
                else []
            )
        await create_table(
            ddb_session, name, partition_key=partition_key, sort_key=sort_key, indexes=indexes
        )
        created.append(name)
        return name

    yield factory
    for name in created:
        await delete_table(ddb_session, name)


@_async_fixture
async def ddb_fault_proxy(ddb_endpoint: str) -> AsyncIterator[FaultProxy]:
    """A :class:`FaultProxy` in front of ``ddb_endpoint``, passing everything until told.

    ``ddb_fault_proxy.set_rates(throttle_rate=0.3)``, ``.script([...])``, ``await .go_down()``;
    point a session at ``ddb_fault_proxy.url`` (or use ``ddb_faulty_session``).
    """
    from .fault_proxy import FaultProxy

    async with FaultProxy(ddb_endpoint, seed=0) as proxy:
        yield proxy


@_async_fixture
async def ddb_faulty_session(
    ddb_fault_proxy: FaultProxy,
    ddb_credentials: dict[str, Any],
    ddb_session_mode: SessionMode,
) -> AsyncIterator[DynamoSession]:
    """An open DynamoSession (default retry and breaker) whose requests cross the fault proxy."""
    from ..session import DynamoSession

    async with DynamoSession(
        endpoint_url=ddb_fault_proxy.url, mode=ddb_session_mode, **ddb_credentials
    ) as session:
        yield session
