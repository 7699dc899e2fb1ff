"""Re-opening a lost PostgreSQL connection: a server restart does not end a run.

When PostgreSQL restarts (or ends a connection), psycopg2's connection is dead for good, and
peewee would keep handing it out ("connection already closed" on every later query). Here:

* a connection found dead is dropped and a new one opened (:class:`ReconnectMixin`);
* a query outside a transaction that fails because the connection was lost is retried once a
  new connection opens;
* a write transaction that failed because the connection was lost is run again as a whole by
  :func:`retrying` (writes are upserts: running one again is safe).

While the server does not answer, these keep trying for ``database_reconnect_seconds`` (setting,
default :data:`DEFAULT_RECONNECT_SECONDS`), counted from the start of the outage and shared by
every query of the process: once an outage has lasted that long, each query tries once and
raises at once, so a run whose database stays down ends soon, with each spectrum it could not
store failed or unrun, and its summary true.
"""

import logging
import time

import peewee

import astra.config
from astra.logfiles import add_repeated_cause

__all__ = ["ReconnectMixin", "retrying", "connection_lost", "connection_lost_text", "reconnect_seconds", "DEFAULT_RECONNECT_SECONDS",
           "LOST_MARKS"]

logger = logging.getLogger("astra")

#: Default of the ``database_reconnect_seconds`` setting.
DEFAULT_RECONNECT_SECONDS = 60.0
#: Seconds between attempts to re-open the connection.
RETRY_INTERVAL = 0.5

#: What psycopg2 (and the server) say when a connection is lost or cannot be opened now.
LOST_MARKS = (
    "connection already closed",
    "server closed the connection",
    "terminating connection",
    "could not connect to server",
    "connection to server at",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "is not currently accepting connections",
    "could not receive data",
    "could not send data",
    "ssl syscall error",
    "ssl connection has been closed",
    "no connection to the server",
    "the connection is closed",
)

_outage = {"since": None}  # monotonic start of the outage this process is in, if any


def connection_lost(error):
    """Whether ``error`` says the database connection was lost, or cannot be opened now.

    :param error: an exception (peewee's, or psycopg2's).
    """
    if not isinstance(error, (peewee.OperationalError, peewee.InterfaceError, peewee.DatabaseError)):
        module = type(error).__module__ or ""
        if not module.startswith("psycopg"):
            return False
    text = str(error).lower()
    return any(mark in text for mark in LOST_MARKS)


def connection_lost_text(error):
    """:func:`connection_lost` of an exception, or of a text (a log message, a failure's reason)."""
    if isinstance(error, str):
        text = error.lower()
        return any(mark in text for mark in LOST_MARKS)
    return error is not None and connection_lost(error)


add_repeated_cause("lost database connection", connection_lost_text)


def reconnect_seconds():
    """The ``database_reconnect_seconds`` setting: how long to keep re-opening a lost connection.

    :raises ValueError: naming the setting when it is not a number.
    """
    value = astra.config.get("database_reconnect_seconds", DEFAULT_RECONNECT_SECONDS)
    try:
        return float(DEFAULT_RECONNECT_SECONDS if value is None else value)
    except (TypeError, ValueError):
        raise ValueError(f"setting database_reconnect_seconds must be a number of seconds; got {value!r}") from None


def _wait_or_raise(db, error):
    """After ``error`` (a lost connection): drop the connection and wait a little, or re-raise
    ``error`` when the outage has lasted ``database_reconnect_seconds``."""
    now = time.monotonic()
    if _outage["since"] is None:
        _outage["since"] = now
        logger.warning("lost the connection to the results database (%s); re-opening it (for up to %g s)",
                       str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                       reconnect_seconds())
    db.forget_connection()
    if now - _outage["since"] >= reconnect_seconds():
        raise error
    time.sleep(RETRY_INTERVAL)


def _recovered():
    _outage["since"] = None


def retrying(db, operation):
    """Run ``operation()``; when it fails because the connection was lost, open a new one and
    run it again (for up to ``database_reconnect_seconds`` in all).

    ``operation`` must be safe to run again after a failure (a whole transaction, an upsert).
    Inside an enclosing transaction nothing is retried: the transaction is lost with the
    connection, and it is the enclosing code's to run again.

    :param db: the peewee database.
    :param operation: a callable.
    :returns: what ``operation`` returns.
    """
    if not hasattr(db, "forget_connection"):
        return operation()
    while True:
        try:
            result = operation()
        except Exception as error:
            if db.in_transaction() or not connection_lost(error):
                raise
            _wait_or_raise(db, error)
            continue
        _recovered()
        return result


class ReconnectMixin:
    """For a peewee PostgreSQL database: a dead connection is replaced, and a query outside a
    transaction that lost its connection is run again on a new one (see the module)."""

    def forget_connection(self):
        """Drop this process's connection (closing it quietly): the next query opens a new one."""
        conn = getattr(self._state, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already dead
                pass
        self._state.reset()

    def _dead(self):
        conn = None if self._state.closed else self._state.conn
        return conn is not None and bool(getattr(conn, "closed", 0))

    def cursor(self, *args, **kwargs):
        """A cursor; on a new connection when the current one is dead (outside a transaction)."""
        if self._dead() and not self.in_transaction():
            self.forget_connection()
        return super().cursor(*args, **kwargs)

    def connect(self, reuse_if_open=False):
        """Open a connection; after a lost one, wait while the server is being restarted (see the
        module). A first connection that fails raises at once (a wrong URL, a server that is down)."""
        while True:
            try:
                opened = super().connect(reuse_if_open=reuse_if_open)
            except Exception as error:
                if not getattr(self, "_astra_connected", False) or not connection_lost(error):
                    raise
                _wait_or_raise(self, error)
                continue
            self._astra_connected = True
            _recovered()
            return opened

    def execute_sql(self, sql, params=None, *args, **kwargs):
        """Run ``sql``; outside a transaction, again on a new connection when this one was lost."""
        while True:
            try:
                result = super().execute_sql(sql, params, *args, **kwargs)
            except Exception as error:
                if self.in_transaction() or not connection_lost(error):
                    raise
                _wait_or_raise(self, error)
                continue
            _recovered()
            return result
