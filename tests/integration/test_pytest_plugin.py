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


def test_real_credentials_are_stripped(ddb_credentials):
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


# A user's own suite, written before the package was installed: it relies on the caller's AWS
# environment in each of the ways the issue saw break.
AWS_SUITE = """
import os

import boto3
import botocore.session


def test_env_set_outside_pytest():
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAREALLOOKINGKEY00"


def test_monkeypatched_env(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert boto3.session.Session().region_name == "ap-south-1"


def test_profile_from_the_config_file():
    scoped = botocore.session.Session(profile="team").get_scoped_config()
    assert scoped["region"] == "us-west-2"


def test_endpoint_url_from_the_environment():
    client = botocore.session.get_session().create_client("dynamodb")
    assert client.meta.endpoint_url == os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    assert "TableNames" in client.list_tables()
"""

ISOLATED_TEST = """
import os


async def test_fixture_tests_see_no_caller_aws(ddb_session):
    assert not [name for name in os.environ if name.startswith("AWS_") and name not in (
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")]
    assert os.environ["AWS_CONFIG_FILE"] == os.devnull
    assert "TableNames" in await ddb_session.call("ListTables", {})
"""


def _outcomes(result: pytest.RunResult) -> dict[str, str]:
    rows = [line.split() for line in result.outlines if line.startswith("test_")]
    return {row[0]: row[1] for row in rows if len(row) > 1 and row[1].isupper()}


def test_a_users_aws_suite_passes_identically_with_and_without_the_plugin(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch, ddb_endpoint: str
) -> None:
    """A suite relying on AWS_* passes the same with and without the plugin; a ddb test is isolated."""
    config = pytester.path / "aws_config"
    config.write_text("[profile team]\nregion = us-west-2\n")
    user_env.setenv("AWS_CONFIG_FILE", str(config))
    user_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    user_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb_endpoint)
    user_env.delenv("AWS_PROFILE")
    pytester.makeini(INI.format(extra=""))
    # test_b (the fixtures) runs between the two halves of the user's suite: its isolation
    # must be undone before test_c.
    pytester.makepyfile(test_a=AWS_SUITE, test_b=ISOLATED_TEST, test_c=AWS_SUITE)
    args = ("-p", "no:cacheprovider", "-p", "no:randomly", "-v")
    with_plugin = pytester.runpytest_subprocess(*args)
    without = pytester.runpytest_subprocess(
        *args, "-p", "no:aiodynamo_patterns", "test_a.py", "test_c.py"
    )
    with_plugin.assert_outcomes(passed=9)
    without.assert_outcomes(passed=8)
    users = {k: v for k, v in _outcomes(with_plugin).items() if not k.startswith("test_b")}
    assert users == _outcomes(without)
    assert len(users) == 8


STRICT_SUITE = """
import pytest


@pytest.mark.asyncio
async def test_marked(ddb_session, ddb_table_factory):
    table = await ddb_table_factory()
    assert table in (await ddb_session.call("ListTables", {}))["TableNames"]


async def test_unmarked(ddb_session):
    pass


def test_plain():
    pass
"""


def test_fixtures_in_pytest_asyncio_strict_mode(
    pytester: pytest.Pytester, user_env: pytest.MonkeyPatch
) -> None:
    """In strict mode a marked test gets the fixtures; an unmarked one fails saying what to do."""
    pytester.makeini(INI.format(extra="").replace("asyncio_mode = auto", "asyncio_mode = strict"))
    pytester.makepyfile(test_strict=STRICT_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_unmarked is an async test*mark it @pytest.mark.asyncio*"])


def test_the_plugin_imports_none_of_the_library(pytester: pytest.Pytester) -> None:
    """Loading the plugin imports neither the session nor aiobotocore, so it costs milliseconds."""
    pytester.makepyfile(
        test_imports="""
import sys

def test_nothing_heavy_loaded():
    assert "aiodynamo_patterns.testing.pytest_plugin" in sys.modules
    assert "aiodynamo_patterns.session" not in sys.modules
    assert "aiobotocore" not in sys.modules
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
