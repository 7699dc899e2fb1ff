"""The results database connection: SQLite by default, PostgreSQL by URL, safe across forks.

Models bind to :data:`database`, a peewee :class:`~peewee.DatabaseProxy`. It is initialised

* explicitly with :func:`connect` (``connect("postgresql://astra@db:5432/astra")``), which pins
  that database until :func:`reset`, or
* lazily from the settings the first time a model touches it: ``$ASTRA_DATABASE_URL`` or the
  ``database_url`` setting, else a SQLite file ``astra.db`` in ``output_dir``. A lazily
  chosen database follows the settings (after :func:`astra.config.reload`).

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` (:func:`write_transaction`), so several worker processes on one machine
write to one file without ``database is locked`` errors. SQLite's locking needs a local
file system: on a cluster use PostgreSQL.

**Fork safety.** Luigi runs ``--workers N`` in forked processes. A connection opened before a
fork must never be used by the child. Each connection records the PID that opened it; in a
process with another PID the connection is *abandoned*: the reference is dropped (never
closed: closing would talk on the parent's socket or file) and a new one is opened. The same
happens at once after :func:`os.fork` through :func:`os.register_at_fork`.
"""

import contextlib
import os
import sqlite3
import threading
import urllib.parse
import weakref

import peewee

import astra.config
from astra.database.reconnect import ReconnectMixin

__all__ = [
    "database",
    "DatabaseURLError",
    "connect",
    "get_database",
    "reset",
    "resolve_url",
    "redact_url",
    "open_database",
    "write_transaction",
    "is_sqlite",
    "is_postgresql",
]

#: Seconds a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT = 120
#: Seconds to wait for a PostgreSQL server to answer the first connection.
POSTGRES_CONNECT_TIMEOUT = 10

_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}


class DatabaseURLError(ValueError):
    """A database URL is malformed, names an unknown scheme, or cannot be connected to."""


def redact_url(url):
    """``url`` with any password replaced by ``***`` (safe to print or log).

    :param url: a database URL.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def resolve_url(url=None):
    """The database URL to use: ``url``, else the ``database_url`` setting, else a SQLite file.

    :param url: an explicit URL, or ``None``.
    :returns: a URL such as ``sqlite:////home/me/astra-output/astra.db``.
    """
    if url:
        return url
    configured = astra.config.get("database_url")
    if configured:
        return str(configured)
    output_dir = astra.config.get("output_dir") or os.path.abspath("astra-output")
    return "sqlite:///" + os.path.join(output_dir, "astra.db")


class _ForkSafeMixin:
    """Connections are per process: one inherited through a fork is abandoned, not used."""

    def __init__(self, *args, **kwargs):
        self._owner_pid = os.getpid()
        super().__init__(*args, **kwargs)
        _LIVE.add(self)

    def _connect(self):
        connection = super()._connect()
        self._owner_pid = os.getpid()
        return connection

    def abandon_inherited(self):
        """Forget the connection opened by a parent process without closing it.

        Called automatically in a forked child. The parent's connection object is kept
        referenced (so the child's garbage collector never finalises it) and never used.
        """
        state = getattr(self, "_state", None)
        if state is not None and getattr(state, "conn", None) is not None:
            _ABANDONED.append(state.conn)
        # Fresh per-thread state and lock: the parent's may be mid-transaction or held.
        self._state = peewee._ConnectionLocal() if self.thread_safe else peewee._ConnectionState()
        self._lock = threading.Lock() if self.thread_safe else peewee._NoopLock()
        self._owner_pid = os.getpid()

    def _check_process(self):
        if self._owner_pid != os.getpid():
            self.abandon_inherited()

    def is_closed(self):
        """Whether this process has no open connection (an inherited one does not count)."""
        self._check_process()
        return super().is_closed()

    def in_transaction(self):
        """Whether this process's connection is inside a transaction."""
        self._check_process()
        return super().in_transaction()

    def close(self):
        """Close this process's connection; an inherited connection is only forgotten."""
        self._check_process()
        return super().close()

    @property
    def connection_pid(self):
        """The PID of the process that opened the current connection."""
        return self._owner_pid


class SqliteDatabase(_ForkSafeMixin, peewee.SqliteDatabase):
    """A SQLite database in WAL mode with a busy timeout; fork safe.

    :param path: the database file.
    """

    def __init__(self, path, **kwargs):
        pragmas = [
            ("busy_timeout", int(SQLITE_BUSY_TIMEOUT * 1000)),  # before WAL: switching may wait
            ("journal_mode", "wal"),
            ("synchronous", "normal"),
            ("foreign_keys", 1),
        ]
        kwargs.setdefault("timeout", SQLITE_BUSY_TIMEOUT)
        super().__init__(path, pragmas=pragmas, **kwargs)


class PostgresqlDatabase(_ForkSafeMixin, ReconnectMixin, peewee.PostgresqlDatabase):
    """A PostgreSQL database (psycopg2); fork safe; a lost connection is re-opened
    (:mod:`astra.database.reconnect`)."""


_LIVE = weakref.WeakSet()
_ABANDONED = []


def _after_fork_in_child():
    for db in list(_LIVE):
        db.abandon_inherited()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _parse(url):
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as error:
        raise DatabaseURLError(f"malformed database URL {redact_url(url)}: {error}") from None
    scheme = _SCHEMES.get(parts.scheme.lower().split("+")[0])
    if scheme is None:
        raise DatabaseURLError(
            f"unknown database URL scheme {parts.scheme!r} in {redact_url(url)}: "
            "use sqlite:///path/to/astra.db or postgresql://user@host:port/database"
        )
    return scheme, parts


def open_database(url):
    """A (not yet connected) fork-safe peewee database for ``url``.

    :param url: ``sqlite:///relative.db``, ``sqlite:////absolute/astra.db``,
        ``sqlite:///:memory:`` or ``postgresql://user[:password]@host[:port]/database[?opt=v]``.
    :raises DatabaseURLError: for an unknown scheme or a URL without a database.
    """
    scheme, parts = _parse(url)
    if scheme == "sqlite":
        path = urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc:
            raise DatabaseURLError(f"SQLite URL {url} has a host; write sqlite:///path (three slashes)")
        if not path:
            raise DatabaseURLError(f"SQLite URL {url} names no file: write sqlite:///path/to/astra.db")
        if path != ":memory:":
            path = os.path.abspath(os.path.expanduser(path))
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except OSError as error:
                raise DatabaseURLError(f"cannot create the directory of the SQLite database {url}: {error}") from None
        db = SqliteDatabase(path)
    else:
        name = urllib.parse.unquote(parts.path.lstrip("/"))
        if not name:
            raise DatabaseURLError(f"PostgreSQL URL {redact_url(url)} names no database: add /<database>")
        params = {"host": parts.hostname or "localhost", "connect_timeout": POSTGRES_CONNECT_TIMEOUT}
        try:
            if parts.port:
                params["port"] = parts.port
        except ValueError as error:
            raise DatabaseURLError(f"malformed database URL {redact_url(url)}: {error}") from None
        if parts.username:
            params["user"] = urllib.parse.unquote(parts.username)
        if parts.password:
            params["password"] = urllib.parse.unquote(parts.password)
        params.update(dict(urllib.parse.parse_qsl(parts.query)))
        db = PostgresqlDatabase(name, **params)
    db.astra_url = url
    return db


def _check(db, url):
    """Open and close one connection so a bad URL fails here with a clear message."""
    try:
        db.connect(reuse_if_open=True)
    except (peewee.PeeweeException, peewee.ImproperlyConfigured, OSError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DatabaseURLError(f"cannot connect to the results database {redact_url(url)}: {first}") from None


_lock = threading.RLock()
_pinned = False
_current_url = None


class _LazyDatabaseProxy(peewee.DatabaseProxy):
    """A :class:`peewee.DatabaseProxy` that opens the configured database on first use."""


    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(get_database(), attr)

    def __enter__(self):
        return get_database().__enter__()

    def __exit__(self, *exc):
        return get_database().__exit__(*exc)


#: The database every results model is bound to.
database = _LazyDatabaseProxy()


def connect(url=None, check=True):
    """Bind the results models to the database at ``url`` (pinned until :func:`reset`).

    :param url: a database URL; default from the settings (see :func:`resolve_url`).
    :param check: open a connection now, so a bad URL fails here.
    :returns: the peewee database.
    :raises DatabaseURLError: for a bad URL, an unreachable server or a missing database.
    """
    global _pinned
    url = resolve_url(url)
    db = open_database(url)
    if check:
        _check(db, url)
    with _lock:
        _replace(db, url)
        _pinned = True
    return db


def get_database():
    """The database the models are bound to, opened from the settings if none is bound.

    :returns: a fork-safe peewee database.
    """
    with _lock:
        if _pinned and database.obj is not None:
            return database.obj
        url = resolve_url()
        if database.obj is None or url != _current_url:
            db = open_database(url)
            _check(db, url)
            _replace(db, url)
        return database.obj


def _replace(db, url):
    global _current_url
    old = database.obj
    if old is not None and old is not db:
        try:
            if not old.is_closed() and not old.in_transaction():
                old.close()
        except peewee.PeeweeException:
            pass
    database.initialize(db)
    _current_url = url


def reset():
    """Close and unbind the database; the next use opens the configured one again."""
    global _pinned
    with _lock:
        _replace(None, None)
        _pinned = False


def is_sqlite(db=None):
    """Whether ``db`` (default: the bound database) is SQLite."""
    db = db if db is not None else get_database()
    return isinstance(db, peewee.SqliteDatabase)


def is_postgresql(db=None):
    """Whether ``db`` (default: the bound database) is PostgreSQL."""
    db = db if db is not None else get_database()
    return isinstance(db, peewee.PostgresqlDatabase)


@contextlib.contextmanager
def write_transaction(db=None):
    """A transaction for writing: ``BEGIN IMMEDIATE`` on SQLite (takes the write lock up
    front, so concurrent writers wait on the busy timeout instead of failing), a plain
    transaction on PostgreSQL.

    When the commit itself fails (SQLite with a full disk), SQLite has already rolled the
    transaction back and peewee's own rollback then fails with "cannot rollback - no
    transaction is active"; that second error is dropped and the first (the real reason) is
    raised.

    :param db: a peewee database (default: the bound one).
    """
    db = db if db is not None else get_database()
    if isinstance(db, peewee.SqliteDatabase):
        transaction = db.atomic(lock_type="IMMEDIATE")
    else:
        transaction = db.atomic()
    try:
        with transaction:
            yield
    except (peewee.OperationalError, sqlite3.OperationalError) as error:
        original = error
        while original is not None and "no transaction is active" in str(original):
            original = original.__context__  # (peewee re-raises sqlite3's error as its own)
        if original is not None and original is not error:
            raise original from None
        raise
