"""Writing results in batches with an upsert: one row per task identity, never duplicated.

:class:`ResultWriter` buffers rows and writes them every ``batch_size`` rows, when
``flush_interval`` seconds have passed since the last write (checked as rows are added), and
at :meth:`~ResultWriter.close`. Each write is one transaction of
``INSERT ... ON CONFLICT (<key>) DO UPDATE``: a row already written for the same key (the task
id, or the spectrum and Astra major.minor; a re-run) is updated in place -- everything except
its primary key and ``created`` time -- never duplicated.

On SQLite the rows go through ``executemany`` inside ``BEGIN IMMEDIATE``; on PostgreSQL
through ``psycopg2.extras.execute_values`` (many rows per statement). Rows of one write are
sorted by key, so concurrent writers on PostgreSQL lock rows in the same order and cannot
deadlock.
"""

import logging
import sqlite3
import time

import peewee

import astra.config
from astra.database.connection import get_database, is_postgresql, write_transaction
from astra.database.migrations import ensure_table
from astra.database.reconnect import retrying

__all__ = ["ResultWriter", "ResultWriteError", "upsert_rows", "flush_interval", "DEFAULT_BATCH_SIZE",
           "DEFAULT_FLUSH_INTERVAL"]

logger = logging.getLogger("astra")

#: Rows buffered before a write (setting ``database_write_batch_size``).
DEFAULT_BATCH_SIZE = 1000
#: Most seconds between writes while rows arrive (setting ``database_flush_interval``): short,
#: so a run killed every few seconds still keeps what it computed (one write a few seconds
#: costs well under 1% of a run; see docs/benchmarks.md).
DEFAULT_FLUSH_INTERVAL = 2.0


def flush_interval(given=None):
    """Most seconds between writes of buffered results, for both method styles.

    :param given: an explicit value; ``None`` takes the ``database_flush_interval`` setting
        (default :data:`DEFAULT_FLUSH_INTERVAL`).
    """
    if given is not None:
        return float(given)
    value = astra.config.get("database_flush_interval")
    return float(DEFAULT_FLUSH_INTERVAL if value is None else value)


class ResultWriteError(RuntimeError):
    """A write of buffered rows failed: those rows are not in the table.

    :param model: the results model.
    :param lost: ``(task_id, reason)`` of every row the failed write held.
    :param error: the database's exception.
    """

    def __init__(self, model, lost, error):
        self.lost = lost
        self.error = error
        super().__init__(f"{len(lost)} {model.__name__} rows not written: {type(error).__name__}: {error}")


def _columns(model):
    primary = model._meta.primary_key
    return [f for f in model._meta.sorted_fields if f is not primary]


def _upsert_key(model):
    return tuple(getattr(model, "__upsert_key__", ("task_id",)))


def _quote(db, name):
    return f"{db.quote[0]}{name}{db.quote[1]}"


def _upsert_sql(model, db, fields, values_placeholder):
    table = _quote(db, model._meta.table_name)
    if model._meta.schema:
        table = f"{_quote(db, model._meta.schema)}.{table}"
    names = [f.column_name for f in fields]
    never = {model._meta.fields[n].column_name for n in model.never_updated()}
    updates = ", ".join(f"{_quote(db, n)} = excluded.{_quote(db, n)}" for n in names if n not in never)
    key = ", ".join(_quote(db, model._meta.fields[n].column_name) for n in _upsert_key(model))
    return (
        f"INSERT INTO {table} ({', '.join(_quote(db, n) for n in names)}) VALUES {values_placeholder} "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def _parameters(fields, rows):
    converters = [f.db_value for f in fields]
    names = [f.name for f in fields]
    out = []
    for row in rows:
        out.append(
            tuple(None if (v := row.get(n)) is None else convert(v) for n, convert in zip(names, converters))
        )
    return out


def upsert_rows(model, rows, db=None, page_size=1000):
    """Insert ``rows`` into ``model``'s table, updating rows whose upsert key already exists.

    The upsert key is the model's ``__upsert_key__``: the task id for a
    :class:`~astra.database.models.BaseResult`, (``spectrum_pk``, ``v_astra_major_minor``) for a
    :class:`~astra.models.pipeline.PipelineOutputMixin` model. An updated row keeps its primary
    key and ``created`` time.

    :param model: a results model.
    :param rows: dicts of column name to Python value (from
        :meth:`~astra.database.models.BaseResult.row_for_task`); a key repeated in ``rows``
        keeps its last row.
    :param db: the database (default: the bound one).
    :param page_size: rows per statement on PostgreSQL.
    :returns: the number of distinct rows written.
    """
    if not rows:
        return 0
    db = db if db is not None else get_database()
    ensure_table(model, db=db)
    names = _upsert_key(model)
    if len(names) == 1:
        unique = {row[names[0]]: row for row in rows}
    else:
        unique = {tuple(row[n] for n in names): row for row in rows}
    ordered = [unique[key] for key in sorted(unique)]
    fields = _columns(model)
    params = _parameters(fields, ordered)
    if is_postgresql(db):
        from psycopg2.extras import execute_values

        sql = _upsert_sql(model, db, fields, "%s")

        def write():
            with write_transaction(db), peewee.__exception_wrapper__:
                execute_values(db.cursor(), sql, params, page_size=page_size)

        retrying(db, write)  # a connection lost mid-write (a server restart): the write again
    else:
        placeholder = "(" + ", ".join([db.param] * len(fields)) + ")"
        sql = _upsert_sql(model, db, fields, placeholder)
        with write_transaction(db), peewee.__exception_wrapper__:
            db.cursor().executemany(sql, params)
    return len(ordered)


_interval = flush_interval  # (the name is also ResultWriter's parameter)


class ResultWriter:
    """A buffer of result rows written in batches with an upsert.

    Use it as a context manager (or call :meth:`close`) so the last rows are written::

        with ResultWriter(EstimateSNRResult) as writer:
            for task in tasks:
                writer.add(EstimateSNRResult.row_for_task(task, {"snr": 42.0}))

    :param model: the results model.
    :param batch_size: rows per write (default: setting ``database_write_batch_size``, 1000).
    :param flush_interval: most seconds between writes while rows arrive (default: setting
        ``database_flush_interval``, 2).
    :param db: the database (default: the bound one, resolved at each write so the writer is
        safe to carry into a forked process).
    """

    def __init__(self, model, batch_size=None, flush_interval=None, db=None):
        self.model = model
        self.batch_size = int(batch_size or astra.config.get("database_write_batch_size") or DEFAULT_BATCH_SIZE)
        self.flush_interval = _interval(flush_interval)
        self.db = db
        self.written = 0
        self._rows = []
        self._last_flush = time.monotonic()

    def __len__(self):
        return len(self._rows)

    def add(self, row):
        """Buffer one row; write the buffer if it is full or the interval has passed.

        :param row: a dict of column name to value, with ``task_id``.
        """
        self._rows.append(row)
        if len(self._rows) >= self.batch_size or time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def extend(self, rows):
        """Buffer several rows (see :meth:`add`).

        :param rows: an iterable of row dicts.
        """
        for row in rows:
            self.add(row)

    def flush(self):
        """Write the buffered rows now.

        :returns: the number of rows written.
        :raises ResultWriteError: when the write fails; its rows are dropped from the buffer
            (they are not in the table) and listed in the error, so the caller can count their
            spectra as failed. Rows added later are written by later flushes as usual.
        """
        self._last_flush = time.monotonic()
        if not self._rows:
            return 0
        rows, self._rows = self._rows, []
        try:
            count = upsert_rows(self.model, rows, db=self.db)
        except (peewee.DatabaseError, sqlite3.DatabaseError) as error:
            reason = f"{type(error).__name__}: {error}"
            logger.error("could not write %d %s rows: %s", len(rows), self.model.__name__, reason)
            raise ResultWriteError(self.model, [(row["task_id"], reason) for row in rows], error) from None
        self.written += count
        logger.debug("wrote %d %s rows", count, self.model.__name__)
        return count

    def close(self):
        """Write whatever is buffered."""
        return self.flush()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:  # already failing: write what we can, but do not hide the first error
            try:
                self.close()
            except ResultWriteError:
                pass
        return False
