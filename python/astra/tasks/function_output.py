"""Where the results of a ``@task`` go: the results database, or files, or nowhere.

One method, written once; the ``results_output`` setting chooses (``database``, the default,
or ``files``):

* :class:`DatabaseSink` -- rows upserted in batches (``batch_size`` rows, or every
  ``write_frequency`` seconds while results arrive, and at the end), one row per spectrum and
  Astra major.minor; after each write the results are given back with the ``task_pk`` and
  ``created`` the database holds (a re-run keeps both);
* :class:`FileSink` -- one FITS table per spectrum, written atomically at a path derived from
  the task's identity (see :meth:`astra.tasks.function_luigi.FunctionTask.result_path`);
* :class:`~astra.core.sinks.MemorySink` -- nothing written (``write_to_database=False``).

All three follow the one sink protocol of :mod:`astra.core.sinks` (``add`` and ``close``).
"""

import datetime
import time

import astra.config
from astra.core.sinks import MemorySink, Sink
from astra.database.connection import get_database, is_sqlite
from astra.database.writer import upsert_rows
from astra.provenance.table import intern, provenance_hdu_columns
from astra.version import __version__

__all__ = ["DatabaseSink", "FileSink", "MemorySink", "results_output", "RESULTS_OUTPUTS", "write_result_fits"]

#: The values of the ``results_output`` setting.
RESULTS_OUTPUTS = ("database", "files")


def results_output():
    """Where results go by configuration: ``"database"`` (default) or ``"files"``.

    :raises ValueError: for another value of the ``results_output`` setting.
    """
    value = (astra.config.get("results_output") or "database").strip().lower()
    if value not in RESULTS_OUTPUTS:
        raise ValueError(f"the results_output setting is {value!r}; use one of {', '.join(RESULTS_OUTPUTS)}")
    return value


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class DatabaseSink(Sink):
    """Results upserted into their model's table in batches.

    :param model: the results model (a :class:`~astra.models.pipeline.PipelineOutputMixin`).
    :param batch_size: results per write.
    :param write_frequency: most seconds between writes while results arrive.
    :param tag: a label written into every row's ``tag`` (``None``: the results' own).
    :param db: the database (default: the bound one).
    :param provenance: the run's :class:`~astra.provenance.record.MethodProvenance`: stored once
        in ``astra_provenance`` and referenced by every row's ``provenance_pk``.
    """

    def __init__(self, model, batch_size=1000, write_frequency=300, tag=None, db=None, provenance=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        self.write_frequency = float(write_frequency)
        self.tag = tag
        self.db = db
        self.provenance = provenance
        self.written = 0
        self._buffer = []
        self._last = time.monotonic()

    def add(self, result):
        """Buffer ``result``; write the buffer when it is full or the interval has passed.

        :returns: the results written now (with ``task_pk`` and ``created``), or ``[]``.
        """
        self._buffer.append(result)
        if len(self._buffer) >= self.batch_size or time.monotonic() - self._last >= self.write_frequency:
            return self.flush()
        return []

    def flush(self):
        """Write the buffered results now.

        :returns: the results written. On an error they stay buffered.
        """
        self._last = time.monotonic()
        results = self._buffer
        if not results:
            return []
        db = self.db if self.db is not None else get_database()
        now = _utcnow()
        rows = []
        provenance_pk = intern(self.provenance, db=db) if self.provenance is not None else None
        for result in results:
            if provenance_pk is not None:
                result.provenance_pk = provenance_pk
            row = dict(result.__data__)
            row["modified"] = now
            row["created"] = now  # kept by the upsert when the row exists
            if self.tag is not None:
                row["tag"] = self.tag
            rows.append(row)
        upsert_rows(self.model, rows, db=db)
        self._read_back(results, db)
        self._buffer = []
        self.written += len(results)
        return results

    def _read_back(self, results, db):
        """Give the results the ``task_pk`` and ``created`` of their rows (one query per chunk).

        Plain SQL with the keys as parameters: a peewee ``IN`` list builds a node per key, which
        cost more than the query itself.
        """
        model = self.model
        by_pk = {}
        for result in results:
            by_pk.setdefault(result.spectrum_pk, []).append(result)
        keys = list(by_pk)
        chunk = 900 if is_sqlite(db) else 50000
        version = results[0].v_astra_major_minor
        fields = model._meta.fields
        created_value = fields["created"].python_value
        quote = db.quote
        table = f"{quote[0]}{model._meta.table_name}{quote[1]}"
        if model._meta.schema:
            table = f"{quote[0]}{model._meta.schema}{quote[1]}.{table}"
        columns = [f"{quote[0]}{fields[name].column_name}{quote[1]}"
                   for name in ("spectrum_pk", "task_pk", "created", "v_astra_major_minor")]
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            sql = (f"SELECT {columns[0]}, {columns[1]}, {columns[2]} FROM {table} WHERE {columns[3]} = {db.param} "
                   f"AND {columns[0]} IN ({', '.join([db.param] * len(part))})")
            for spectrum_pk, task_pk, created in db.execute_sql(sql, [version, *part]).fetchall():
                created = created_value(created)
                for result in by_pk.get(spectrum_pk, ()):
                    result.task_pk = task_pk
                    result.created = created
                    result._dirty.clear()

    def close(self):
        """Write whatever is buffered.

        :returns: the results written.
        """
        return self.flush()


class FileSink(Sink):
    """Results written as files, one FITS table per spectrum, at paths given by ``path_of``.

    :param model: the results model.
    :param path_of: a function of a result giving its file's path.
    :param tag: a label written into every row's ``tag``.
    :param provenance: the run's :class:`~astra.provenance.record.MethodProvenance`: written into
        each file as its ``PROVENANCE`` HDU (the row's ``provenance_pk`` is 1, that HDU's row).
    """

    def __init__(self, model, path_of, tag=None, provenance=None):
        self.model = model
        self.path_of = path_of
        self.tag = tag
        self.provenance = provenance
        self.written = 0

    def add(self, result):
        """Write ``result``'s file now.

        :returns: ``[result]``.
        """
        now = _utcnow()
        result.modified = now
        if result.created is None:
            result.created = now
        if self.tag is not None:
            result.tag = self.tag
        records = {}
        if self.provenance is not None:
            result.provenance_pk = 1
            records = {1: self.provenance.record}
        write_result_fits(self.model, [result], self.path_of(result), provenance=records)
        self.written += 1
        return [result]

    def close(self):
        """Nothing is buffered.

        :returns: ``[]``.
        """
        return []


def write_result_fits(model, results, path, provenance=None):
    """Write ``results`` (instances of ``model``) as a FITS binary table, atomically.

    Column comments are the fields' help text; units are their units; the model's ``#>``
    category headers and flags are header cards, as in ``astra create`` products.

    :param model: the results model.
    :param results: model instances.
    :param path: the file to write.
    :param provenance: ``{provenance_pk: record}`` written as a ``PROVENANCE`` table HDU.
    """
    from astra.products.fits_table import TableHDU, write_tables  # the writer of astra create's products

    cards = [("ASTRA", __version__, "Astra version that wrote this file"), ("MODEL", model.__name__, "Results model")]
    columns = [(f.column_name, f, [r.__data__.get(f.name) for r in results]) for f in model._meta.sorted_fields]
    tables = [TableHDU(model._meta.table_name.upper(), columns, flags=model.flag_fields(),
                       categories=model.category_headers())]
    if provenance:
        tables.append(TableHDU("PROVENANCE", provenance_hdu_columns(provenance)))
    write_tables(path, cards, tables, overwrite=True)
