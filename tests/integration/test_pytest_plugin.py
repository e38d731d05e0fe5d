"""The pytest plugin as a user meets it: a fresh suite in a temporary directory, run by pytester."""

from __future__ import annotations

import shutil

import pytest

from aiodynamo_patterns.testing.pytest_plugin import BACKEND_ENV, ENDPOINT_ENV

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore:datetime.datetime.utcnow\\(\\) is deprecated:DeprecationWarning
{extra}
"""

USER_SUITE = """
import os

from boto3.dynamodb.conditions import Key

from aiodynamo_patterns import GlobalIndex, ProductRepository, Repository

CREATED = []


async def test_product_table_in_two_lines(ddb_session, ddb_table_factory):
    table = await ddb_table_factory()
    products = ProductRepository(ddb_session, table)
    p = await products.create_product({"name": "x", "price": 1, "stock": 2, "category": "c"})
    assert (await products.update_product_stock(p["product_id"], -1))["stock"] == 1
    CREATED.append(table)


async def test_custom_key_schema_and_gsi(ddb_session, ddb_table_factory):
    table = await ddb_table_factory(
        partition_key=("user_id", "S"),
        sort_key=("ts", "N"),
        indexes=[GlobalIndex("by_email", "email")],
    )
    repo = Repository(ddb_session, table, key_names=("user_id", "ts"))
    await repo.put_item({"user_id": "u1", "ts": 7, "email": "a@example.com"})
    page = await repo.query(Key("email").eq("a@example.com"), index="by_email")
    assert [(i["user_id"], i["ts"]) for i in page.items] == [("u1", 7)]
    described = (await ddb_session.call("DescribeTable", {"TableName": table}))["Table"]
    assert [k["AttributeName"] for k in described["KeySchema"]] == ["user_id", "ts"]
    CREATED.append(table)


async def test_tables_are_deleted_afterwards(ddb_session):
    names = (await ddb_session.call("ListTables", {}))["TableNames"]
    assert len(CREATED) == 2
    assert not set(CREATED) & set(names)


def test_real_credentials_are_stripped():
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert "AWS_PROFILE" not in os.environ
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
"""

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="dynalite needs Node.js and npm",
)


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The user's shell: real-looking AWS credentials, no test endpoint configured."""
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-really-secret")
    monkeypatch.setenv("AWS_PROFILE", "production")
    return monkeypatch


def test_user_suite_gets_tables_and_never_real_credentials(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    """A user's suite with the fixtures passes: product and custom tables, deleted, AWS_* gone."""
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        test_user=USER_SUITE
        + """
import pytest

@pytest.mark.ddb_unsupported("moto", reason="not on moto")
async def test_marked_for_the_only_backend(ddb_session):
    pass
"""
    )
    # The deletion check reads the tables of earlier tests: keep file order.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-v", "-rs"
    )
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*test_product_table_in_two_lines PASSED*", "*moto: not on moto*"])


@needs_node
def test_ddb_backends_runs_each_test_on_moto_and_dynalite(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """`ddb_backends = moto dynalite` runs every fixture test twice; ddb_unsupported skips one."""
    cache = request.config.rootpath / ".cache" / "dynalite"
    pytester.makeini(INI.format(extra=f"ddb_backends = moto dynalite\nddb_dynalite_dir = {cache}"))
    pytester.makepyfile(
        test_backends="""
import pytest

async def test_endpoint_answers(ddb_session, ddb_backend):
    assert "TableNames" in await ddb_session.call("ListTables", {})

@pytest.mark.ddb_unsupported("dynalite", reason="no transactions")
async def test_only_on_moto(ddb_backend):
    assert ddb_backend == "moto"

def test_without_fixtures_runs_once():
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*dynalite: no transactions*"])


def test_configured_endpoint_replaces_embedded_servers(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch, ddb_endpoint: str
) -> None:
    """AIODYNAMO_PATTERNS_TEST_ENDPOINT runs the suite once against that endpoint, marks applied."""
    user_env.setenv(ENDPOINT_ENV, ddb_endpoint)
    user_env.setenv(BACKEND_ENV, "alternator")
    pytester.makeini(INI.format(extra="ddb_backends = moto dynalite"))
    pytester.makepyfile(
        test_external=f"""
import pytest

async def test_uses_configured_endpoint(ddb_session, ddb_endpoint, ddb_backend):
    assert (ddb_endpoint, ddb_backend) == ({ddb_endpoint!r}, "alternator")
    assert "TableNames" in await ddb_session.call("ListTables", {{}})

@pytest.mark.ddb_unsupported("alternator", reason="differs")
async def test_marked(ddb_session):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)


def test_command_line_backend_overrides_the_ini(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    """`--ddb-backend moto` runs the fixture tests on moto only, whatever ddb_backends says."""
    pytester.makeini(INI.format(extra="ddb_backends = moto dynalite"))
    pytester.makepyfile(
        test_one="""
async def test_backend(ddb_backend, ddb_session):
    assert ddb_backend == "moto"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ddb-backend", "moto")
    result.assert_outcomes(passed=1)


def test_fault_proxy_fixtures_in_a_user_suite(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    """ddb_fault_proxy and ddb_faulty_session let a user script throttling and outages."""
    pytester.makeini(INI.format(extra=""))
    pytester.makepyfile(
        test_faults="""
import pytest

from aiodynamo_patterns import CircuitOpen, ProductRepository
from aiodynamo_patterns.testing import Fault


async def test_throttling_is_ridden_out(ddb_faulty_session, ddb_fault_proxy, ddb_table_factory):
    table = await ddb_table_factory()
    products = ProductRepository(ddb_faulty_session, table)
    ddb_fault_proxy.script([Fault.THROTTLE, Fault.THROTTLE])
    p = await products.create_product({"name": "x", "price": 1, "stock": 2, "category": "c"})
    assert (await products.get_product(p["product_id"]))["stock"] == 2
    assert ddb_fault_proxy.counts[Fault.THROTTLE] == 2
    assert ddb_faulty_session.retry_stats().retries == 2


async def test_outage_opens_the_breaker(ddb_faulty_session, ddb_fault_proxy):
    await ddb_fault_proxy.go_down()
    with pytest.raises(Exception):
        await ddb_faulty_session.call("ListTables", {})
    with pytest.raises(CircuitOpen):
        await ddb_faulty_session.call("ListTables", {})
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=2)
