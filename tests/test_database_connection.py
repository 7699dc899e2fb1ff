"""The results database connection: URLs, the SQLite default, clear errors, fork safety."""

import json
import os

import peewee
import pytest

import astra.config
import astra.database
from astra.database import DatabaseURLError, connect, get_database, redact_url, resolve_url
from astra.database.connection import open_database
from astra.contrib.rocket.results import EstimateSNRResult
from astra.database.migrations import ensure_table
from astra.database.writer import upsert_rows

from fake_tasks import FakeTask


def _row(task_id, **values):
    return EstimateSNRResult.row_for_task(FakeTask(task_id, obj=task_id), values)


@pytest.fixture
def db_url(any_database_url):
    """SQLite, then a fresh PostgreSQL database; not set as the configured URL."""
    return any_database_url


def test_default_is_sqlite_file_in_output_dir(tmp_path):
    assert resolve_url() == "sqlite:///" + str(tmp_path / "output" / "astra.db")
    db = get_database()
    assert isinstance(db, peewee.SqliteDatabase)
    assert db.database == str(tmp_path / "output" / "astra.db")
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 60000


def test_setting_and_environment_choose_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    astra.config.reload()
    assert get_database().database == str(tmp_path / "elsewhere.db")
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{tmp_path / 'third.db'}")
    astra.config.reload()
    assert get_database().database == str(tmp_path / "third.db"), "a lazily chosen database follows the settings"


def test_models_bind_through_the_proxy(tmp_path):
    connect(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_table(EstimateSNRResult)
    upsert_rows(EstimateSNRResult, [_row("one", snr=3.0)])
    assert EstimateSNRResult.get(EstimateSNRResult.task_id == "one").snr == 3.0
    connect(f"sqlite:///{tmp_path / 'b.db'}")
    ensure_table(EstimateSNRResult)
    assert EstimateSNRResult.select().count() == 0


def test_redaction():
    assert redact_url("postgresql://astra:s3cret@db.example:5432/astra") == "postgresql://astra:***@db.example:5432/astra"
    assert redact_url("postgresql://astra@db:5432/astra") == "postgresql://astra@db:5432/astra"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mysql://user@host/db", "unknown database URL scheme 'mysql'"),
        ("sqlite://", "names no file"),
        ("postgresql://user@127.0.0.1:5432", "names no database"),
        ("postgresql://user:pw@127.0.0.1:notaport/db", "malformed database URL"),
    ],
)
def test_bad_urls_are_clear(url, expected):
    with pytest.raises(DatabaseURLError, match=expected) as info:
        connect(url)
    assert "pw" not in str(info.value)
    assert "\n" not in str(info.value)


def test_unreachable_server_is_one_clear_line():
    url = "postgresql://astra:hunter2@127.0.0.1:1/results"
    with pytest.raises(DatabaseURLError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("cannot connect to the results database postgresql://astra:***@127.0.0.1:1/results")
    assert "hunter2" not in message and "\n" not in message


@pytest.mark.postgres
def test_missing_postgres_database_is_named(postgres_server):
    url = postgres_server.rsplit("/", 1)[0] + "/astra_no_such_database"
    with pytest.raises(DatabaseURLError, match='database "astra_no_such_database" does not exist'):
        connect(url)


def test_unwritable_sqlite_location_is_clear(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseURLError, match="cannot create the directory"):
        connect(f"sqlite:///{blocker / 'sub' / 'astra.db'}")


def _backend_id(db):
    if isinstance(db, peewee.PostgresqlDatabase):
        return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    return None


def test_forked_child_never_uses_the_parents_connection(db_url):
    db = connect(db_url)
    ensure_table(EstimateSNRResult)
    upsert_rows(EstimateSNRResult, [_row("parent-1", snr=1.0)])
    parent_conn = db.connection()
    parent_backend = _backend_id(db)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read)
            child_db = get_database()
            child_conn = child_db.connection()
            upsert_rows(EstimateSNRResult, [_row("child-1", snr=2.0)])
            report = {
                "same_object": child_conn is parent_conn,
                "connection_pid": child_db.connection_pid,
                "pid": os.getpid(),
                "backend": _backend_id(child_db),
                "rows": EstimateSNRResult.select().count(),
            }
            os.write(write, json.dumps(report).encode())
            code = 0
        except BaseException as error:  # report anything to the parent
            os.write(write, json.dumps({"error": repr(error)}).encode())
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as fp:
        report = json.loads(fp.read())
    assert os.WEXITSTATUS(status) == 0, report
    assert report["same_object"] is False
    assert report["connection_pid"] == report["pid"] == pid
    assert report["rows"] == 2
    # The parent's connection is untouched and still works.
    assert db.connection() is parent_conn
    assert db.connection_pid == os.getpid()
    assert _backend_id(db) == parent_backend
    if parent_backend is not None:
        assert report["backend"] != parent_backend
    upsert_rows(EstimateSNRResult, [_row("parent-2", snr=3.0)])
    assert sorted(r.task_id for r in EstimateSNRResult.select()) == ["child-1", "parent-1", "parent-2"]


def test_connection_opened_in_parent_is_abandoned_without_fork_hook(db_url):
    """Even without the at-fork hook, a different PID means a new connection."""
    db = connect(db_url)
    first = db.connection()
    db._owner_pid = -1  # as if opened by another process
    assert db.is_closed()
    assert db.connection() is not first
    assert first in astra.database.connection._ABANDONED


def test_reset_unbinds():
    get_database()
    astra.database.reset()
    assert astra.database.database.obj is None
    assert open_database("sqlite:///:memory:").database == ":memory:"
