"""Fixtures that start the real pieces: the bot's aiohttp app on a loopback port, the reference platform,
the Slack stand-in, a SQLite file, and a PostgreSQL 15 cluster (or RUNBOT_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import defaultdict

import pytest

from tests.support.harness import Harness, start_harness
from tests.support.postgres import Cluster, PostgresUnavailable, create_database

_db_counter = itertools.count()
_started_clusters: list[Cluster] = []  # the cluster pg_admin_url started, for pg_cluster


@pytest.fixture(scope="session")
def pg_admin_url():
    """A PostgreSQL server for the tests: never skipped; fails saying why when it cannot start."""
    url = os.environ.get("RUNBOT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    cluster = Cluster()
    try:
        url = cluster.start()
    except PostgresUnavailable as exc:
        cluster.stop()
        pytest.fail(f"cannot start PostgreSQL for the tests: {exc}", pytrace=False)
    os.environ["RUNBOT_TEST_PG_CLUSTER_DIR"] = str(cluster.dir)
    _started_clusters.append(cluster)
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster(pg_admin_url):
    """The cluster object itself, for tests that restart PostgreSQL (only when the tests started it)."""
    if os.environ.get("RUNBOT_TEST_DATABASE_URL"):
        pytest.fail(
            "this test restarts PostgreSQL: it needs the cluster the tests start (unset RUNBOT_TEST_DATABASE_URL)",
            pytrace=False,
        )
    return _started_clusters[-1]


@pytest.fixture
async def pg_url(pg_admin_url):
    return await create_database(pg_admin_url, f"runbot_test_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'runbot.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'runbot.db'}"
    admin = request.getfixturevalue("pg_admin_url")
    return await create_database(admin, f"runbot_test_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def settings_overrides():
    """Tests override settings by parametrizing or replacing this fixture."""
    return {}


@pytest.fixture
async def harness(sqlite_url, settings_overrides):
    h = await start_harness(database_url=sqlite_url, **settings_overrides)
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def pg_harness(pg_url, settings_overrides):
    h = await start_harness(database_url=pg_url, **settings_overrides)
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def any_harness(db_url, settings_overrides):
    h = await start_harness(database_url=db_url, **settings_overrides)
    try:
        yield h
    finally:
        await h.stop()


_file_seconds: dict[str, float] = defaultdict(float)
_file_tests: dict[str, int] = defaultdict(int)


def pytest_runtest_logreport(report):
    """Time per test file (setup, call and teardown), for the summary `make test` prints."""
    path = report.nodeid.split("::", 1)[0]
    _file_seconds[path] += report.duration
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _file_tests[path] += 1


def pytest_terminal_summary(terminalreporter):
    if not _file_seconds:
        return
    terminalreporter.section("time per test file")
    for path, seconds in sorted(_file_seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{path:<45} {_file_tests[path]:>4} tests {seconds:>8.1f} s")
    terminalreporter.write_line(
        f"{'total':<45} {sum(_file_tests.values()):>4} tests {sum(_file_seconds.values()):>8.1f} s"
    )


__all__ = ["Harness", "asyncio"]
