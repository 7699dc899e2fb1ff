"""Pytest fixtures for the results database: a fresh PostgreSQL database per test.

Imported by ``tests/conftest.py`` with ``from postgres_fixtures import *  # noqa``.

* ``postgres_server`` -- the URL of a reachable server's maintenance database
  (``$ASTRA_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``); skips
  when it does not answer, or fails when ``ASTRA_REQUIRE_SERVICES=1``. Start one with
  ``.ci/start-postgres.sh``.
* ``postgres_url`` -- a new database ``astra_test_<random>`` created for the test and dropped
  afterwards (with any connections to it).
* ``sqlite_url`` -- a SQLite file in the test's temporary directory.
* ``any_database_url`` -- runs the test twice: on ``sqlite_url`` and on ``postgres_url``.
* ``db_url`` -- ``any_database_url`` set as the configured results database
  (``ASTRA_DATABASE_URL``).
* ``results_database`` -- the database unbound after every test (autouse), so no test sees
  another's connection.
"""

import os
import urllib.parse
import uuid

import pytest

__all__ = [
    "postgres_server",
    "postgres_url",
    "sqlite_url",
    "any_database_url",
    "db_url",
    "results_database",
    "DEFAULT_POSTGRES_URL",
]

#: The server the PostgreSQL tests use unless ``ASTRA_TEST_POSTGRES_URL`` is set.
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _require_or_skip(reason):
    if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ASTRA_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def _connect(url, **kwargs):
    import psycopg2

    parts = urllib.parse.urlsplit(url)
    return psycopg2.connect(
        dbname=parts.path.lstrip("/") or "postgres",
        user=parts.username,
        password=parts.password,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        connect_timeout=5,
        **kwargs,
    )


@pytest.fixture(scope="session")
def postgres_server():
    """URL of the PostgreSQL server's database used to create per-test databases."""
    url = os.environ.get("ASTRA_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _require_or_skip("psycopg2 is not installed: pip install psycopg2-binary")
    try:
        conn = _connect(url)
    except Exception as error:  # any failure to reach the server is a skip
        from astra.database import redact_url

        first = (str(error).strip().splitlines() or ["no answer"])[0]
        _require_or_skip(
            f"PostgreSQL not reachable at {redact_url(url)} ({first}): start a server "
            "(.ci/start-postgres.sh) or set ASTRA_TEST_POSTGRES_URL"
        )
    conn.close()
    return url


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    name = f"astra_test_{uuid.uuid4().hex[:12]}"
    admin = _connect(postgres_server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(postgres_server)
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        import astra.database

        astra.database.reset()
        admin.close()  # a new connection: the test may have restarted the server
        admin = _connect(postgres_server)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def sqlite_url(tmp_path):
    """A SQLite database file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'results.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_database_url(request):
    """Each test that takes it runs on SQLite and on a fresh PostgreSQL database."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def db_url(any_database_url, monkeypatch):
    """:func:`any_database_url`, set as the configured results database."""
    import astra.config

    monkeypatch.setenv("ASTRA_DATABASE_URL", any_database_url)
    astra.config.reload()
    return any_database_url


@pytest.fixture(autouse=True)
def results_database():
    """Unbind the results database after each test (the next test opens its own)."""
    yield
    import astra.database

    astra.database.reset()
    astra.database.forget_tables()
