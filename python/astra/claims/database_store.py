"""Claims kept as rows of the table ``astra_claim`` in the results database (SQLite or PostgreSQL).

A claim is taken with ``INSERT ... ON CONFLICT DO NOTHING`` and a stale one taken over with a
compare-and-swap ``UPDATE``, so runs on hosts that share only the database coordinate.
"""

import os
import threading
import time
import weakref

from astra.claims.protocol import holds, record_from_values

__all__ = ["DatabaseClaimStore", "CLAIMS_TABLE"]

#: The table of claims in the results database.
CLAIMS_TABLE = "astra_claim"

_COLUMNS = ("key", "token", "description", "host", "boot", "pid", "started", "heartbeat")
#: Databases whose claims table exists, with the process that made sure (weak keys: the id of a
#: database object that is gone may be reused by a new one for another file).
_tables_ready = weakref.WeakKeyDictionary()
_tables_lock = threading.Lock()


class DatabaseClaimStore:
    """Claims kept in the table ``astra_claim`` of a database (SQLite or PostgreSQL).

    :param db: a peewee database; default: the results database (:func:`astra.database.connection.get_database`),
        looked up at each use so a store carried into a forked worker uses that worker's connection.
    """

    spec = "database"

    def __init__(self, db=None):
        self._db = db

    @property
    def db(self):
        """The database used now."""
        if self._db is not None:
            return self._db
        from astra.database.connection import get_database  # the database package is heavy: only when used

        return get_database()

    def _execute(self, sql, params=()):
        return self.db.execute_sql(sql.replace("?", self.db.param), params)

    def ensure_table(self):
        """Create the claims table if it does not exist (once per process and database)."""
        db = self.db
        try:
            if _tables_ready.get(db) == os.getpid():
                return
        except TypeError:  # not weakly referable: ask each time
            pass
        import peewee

        with _tables_lock:
            try:
                db.execute_sql(
                    f"CREATE TABLE IF NOT EXISTS {CLAIMS_TABLE} (key TEXT PRIMARY KEY, token TEXT NOT NULL, "
                    "description TEXT, host TEXT NOT NULL, boot TEXT, pid INTEGER NOT NULL, started BIGINT, "
                    "heartbeat DOUBLE PRECISION NOT NULL)"
                )
            except peewee.DatabaseError:  # PostgreSQL: created by another process just now
                # (two CREATEs at once fail as a unique violation or "type ... already exists")
                if not db.table_exists(CLAIMS_TABLE):
                    raise
            try:
                _tables_ready[db] = os.getpid()
            except TypeError:
                pass

    def holder(self, key):
        """The current claim of ``key`` (live or stale), or ``None``."""
        self.ensure_table()
        row = self._execute(f"SELECT {', '.join(_COLUMNS)} FROM {CLAIMS_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else record_from_values(dict(zip(_COLUMNS, row)))

    def acquire(self, record, expiry=None):
        """Take the claim of ``record.key`` unless another live claim holds it.

        :param record: the new claim (this process's).
        :param expiry: seconds a heartbeat stays fresh.
        :returns: ``(taken, other)`` as :meth:`FileClaimStore.acquire`.
        """
        from astra.database.connection import write_transaction

        self.ensure_table()
        record.heartbeat = time.time()
        values = record.as_dict()
        placeholders = ", ".join("?" for _ in _COLUMNS)
        for _ in range(3):  # a claim released between our statements: try again
            with write_transaction(self.db):
                self._execute(
                    f"INSERT INTO {CLAIMS_TABLE} ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                    "ON CONFLICT (key) DO NOTHING",
                    tuple(values[c] for c in _COLUMNS),
                )
                other = self.holder(record.key)
                if other is None:
                    continue
                if other.token == record.token:
                    return True, None
                if holds(other, record, expiry):
                    return False, other
                # Stale: take it over unless another process took it first (compare-and-swap).
                sets = ", ".join(f"{c} = ?" for c in _COLUMNS if c != "key")
                cursor = self._execute(
                    f"UPDATE {CLAIMS_TABLE} SET {sets} WHERE key = ? AND token = ?",
                    tuple(values[c] for c in _COLUMNS if c != "key") + (record.key, other.token),
                )
                if cursor.rowcount == 1:
                    return True, other
        current = self.holder(record.key)
        return (current is not None and current.token == record.token), current

    def refresh(self, record):
        """Renew the heartbeat of a claim held by ``record``.

        :returns: whether the claim is still ``record``'s.
        """
        from astra.database.connection import write_transaction

        now = time.time()
        with write_transaction(self.db):
            cursor = self._execute(
                f"UPDATE {CLAIMS_TABLE} SET heartbeat = ? WHERE key = ? AND token = ?", (now, record.key, record.token)
            )
        if cursor.rowcount == 1:
            record.heartbeat = now
            return True
        return False

    def release(self, record):
        """Release the claim if it still is ``record``'s.

        The row stays, without a token: the next claimant then knows that someone worked on
        the batch since it last looked (see :func:`astra.claims.claimed_run`).
        """
        from astra.database.connection import write_transaction

        with write_transaction(self.db):
            self._execute(
                f"UPDATE {CLAIMS_TABLE} SET token = '', heartbeat = 0 WHERE key = ? AND token = ?",
                (record.key, record.token),
            )
