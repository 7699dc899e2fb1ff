"""Database targets: a task's output is its row in a results table.

* :class:`DatabaseTarget` -- a Luigi target that exists when the row of one task id does;
* :func:`completed_task_ids` -- completeness of a whole batch in one query per chunk
  (``SELECT task_id FROM table WHERE task_id IN (...)``, chunked below SQLite's limit on
  query variables; PostgreSQL takes the whole batch in one query);
* :class:`DatabaseOutputMixin` -- makes a :class:`~astra.tasks.BaseTask` write its results to
  a results model instead of files.

A row flagged ``flag_failed`` records that the spectrum failed; it does not make the task
complete (a re-run tries the spectrum again and, on success, updates the row) unless
``failed_is_complete`` is set.
"""

import sqlite3

import luigi

from astra.core.sinks import Lost, MemberResult
from astra.database.connection import get_database, is_sqlite
from astra.database.migrations import ensure_table
from astra.database.writer import ResultWriter, ResultWriteError, upsert_rows
import astra.provenance.classes  # as a module: it imports astra.database, which imports this module

__all__ = ["DatabaseTarget", "completed_task_ids", "DatabaseOutputMixin", "DatabaseResults"]

#: Task ids per query on PostgreSQL (its own limit is far higher).
POSTGRES_CHUNK = 50000


def _chunk_size(db):
    if is_sqlite(db):
        try:
            limit = db.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # Python < 3.11
            limit = 999
        return max(1, min(limit, 32766) - 1)
    return POSTGRES_CHUNK


def completed_task_ids(model, task_ids, failed_is_complete=False, db=None):
    """Which of ``task_ids`` have a result row (in one query per chunk).

    :param model: the results model.
    :param task_ids: task ids to check.
    :param failed_is_complete: count rows flagged ``flag_failed`` as complete.
    :param db: the database (default: the bound one).
    :returns: a set of the task ids that are complete.
    """
    task_ids = list(dict.fromkeys(task_ids))
    if not task_ids:
        return set()
    db = db if db is not None else get_database()
    ensure_table(model, db=db)
    size = _chunk_size(db)
    done = set()
    with model.bind_ctx(db, bind_refs=False, bind_backrefs=False):
        for start in range(0, len(task_ids), size):
            query = model.select(model.task_id).where(model.task_id.in_(task_ids[start : start + size]))
            if not failed_is_complete:
                query = query.where(model.flags.bin_and(model.flag_failed.value) == 0)
            done.update(row[0] for row in query.tuples())
    return done


class DatabaseTarget(luigi.Target):
    """The result row of one task in a results table.

    :param model: the results model (a :class:`~astra.database.models.BaseResult` subclass).
    :param task: a single-spectrum task (or its task id).
    :param failed_is_complete: whether a row flagged ``flag_failed`` counts as existing.
    """

    def __init__(self, model, task, failed_is_complete=False):
        self.model = model
        self.task_id = task if isinstance(task, str) else task.task_id
        self.failed_is_complete = failed_is_complete

    def exists(self):
        """Whether the row exists (and, by default, is not a failure)."""
        return bool(completed_task_ids(self.model, [self.task_id], self.failed_is_complete))

    def read(self):
        """The row as a model instance, or ``None``."""
        db = get_database()
        ensure_table(self.model, db=db)
        return self.model.get_or_none(self.model.task_id == self.task_id)

    def __repr__(self):
        return f"DatabaseTarget({self.model.__name__}, {self.task_id!r})"


class DatabaseResults:
    """The sink of a class-style batch with database outputs (the protocol of
    :mod:`astra.core.sinks`; its results are :class:`~astra.core.sinks.MemberResult`).

    Rows are buffered in a :class:`~astra.database.writer.ResultWriter`; a write that fails
    loses its rows, and their members come back as :class:`~astra.core.sinks.Lost` with the
    database's reason. A failed member gets a row flagged ``flag_failed`` with its error; one
    whose input check failed (it never reached ``process()``) gets none: its failure record
    says why.

    :param batch: the batch being run (a :class:`DatabaseOutputMixin` task).
    """

    def __init__(self, batch):
        self.batch = batch
        self.model = batch._model()
        self.writer = ResultWriter(self.model, batch.result_batch_size, batch.result_flush_interval)
        self.provenance = astra.provenance.classes.BatchProvenance(batch)
        self.pending = {}  # values given with write_result() while process() runs
        self._buffered = {}  # task id -> MemberResult of the rows the writer holds

    def _add(self, row, result):
        self._buffered[row["task_id"]] = result
        try:
            self.writer.add(self.provenance.stamp(row, result.member))
        except ResultWriteError as error:
            return self._lost(error)
        if not len(self.writer):
            self._buffered.clear()  # written
        return ()

    def _lost(self, error):
        buffered, self._buffered = self._buffered, {}
        return [Lost(buffered.get(task_id) or MemberResult(None), reason) for task_id, reason in error.lost]

    def add(self, result):
        """Buffer the row of one :class:`~astra.core.sinks.MemberResult`: its values (from
        ``write_result`` and what ``process`` returned), or its failure.

        :returns: the :class:`~astra.core.sinks.Lost` results of a write that failed.
        """
        member = result.member
        if result.error is not None:
            self.pending.pop(member.task_id, None)
            if result.timing is None:
                return ()
            return self._add(self.model.row_for_task(member, failed=True, error=result.reason,
                                                     timing=result.timing), result)
        entry = self.pending.pop(member.task_id, None)
        values = dict(entry[1]) if entry else {}
        if isinstance(result.value, dict):
            values.update(result.value)
        lost = []
        try:
            row = self.model.row_for_task(member, values, timing=result.timing)
        except Exception as error:  # a value that is not a column: this spectrum's failure
            lost.append(Lost(result, f"{type(error).__name__}: {error}"))
        else:
            lost.extend(self._add(row, result))
        for other, other_values in self.pending.values():  # results written for other members
            lost.extend(self._add(self.model.row_for_task(other, other_values, timing=None), MemberResult(other)))
        self.pending.clear()
        return lost

    def close(self):
        """Write the buffered rows.

        :returns: the :class:`~astra.core.sinks.Lost` results of a write that failed.
        """
        try:
            self.writer.close()
        except ResultWriteError as error:
            return self._lost(error)
        self._buffered.clear()
        return ()


class DatabaseOutputMixin:
    """Make a :class:`~astra.tasks.BaseTask` write one result row per spectrum.

    Put it before ``BaseTask`` and name the results model::

        class EstimateSNR(DatabaseOutputMixin, BaseTask):
            result_model = EstimateSNRResult

            def process(self, task, context):
                spectrum = Spectrum1D.read(task.input().path)
                self.write_result(task, snr=float(np.nanmedian(spectrum.flux / ...)))

    ``output()`` is the members' :class:`DatabaseTarget`; ``complete()`` checks the whole
    batch in one query; ``run()`` (from ``BaseTask``) skips complete members, and each
    member's values, timing (``t_overhead``, ``t_elapsed``) and, for a member that raised, a row
    flagged ``flag_failed`` with the error, are written in batches with an upsert. ``process``
    may also return a dict of values instead of calling :meth:`write_result`.
    """

    #: The results model rows are written to.
    result_model = None
    #: Rows per database write (default: setting ``database_write_batch_size``).
    result_batch_size = None
    #: Most seconds between writes (default: setting ``database_flush_interval``).
    result_flush_interval = None
    #: Whether a row flagged ``flag_failed`` makes the spectrum's task complete.
    failed_results_complete = False

    def _model(self):
        if self.result_model is None:
            raise TypeError(f"{type(self).__name__} uses DatabaseOutputMixin but sets no result_model")
        return self.result_model

    def output(self):
        """The result rows of this task's spectra (a list for a batch)."""
        model = self._model()
        if self.is_batch_mode:
            return [DatabaseTarget(model, m, self.failed_results_complete) for m in self.get_batch_tasks()]
        return DatabaseTarget(model, self, self.failed_results_complete)

    output._astra_batch_aware = True

    def complete(self):
        """Whether every member has a result row (one query for the whole batch)."""
        ids = [m.task_id for m in self.get_batch_tasks()]
        return len(completed_task_ids(self._model(), ids, self.failed_results_complete)) == len(set(ids))

    def incomplete_batch_tasks(self, fresh=True):
        """The members without a result row, asked now with one query for the whole batch.

        :param fresh: kept for callers of earlier versions; the answer is always asked now (an
            answer kept from :meth:`complete` goes stale when another run works on the batch).
        """
        members = list(self.get_batch_tasks())
        done = completed_task_ids(self._model(), [m.task_id for m in members], self.failed_results_complete)
        return [m for m in members if m.task_id not in done]

    def results_in_database(self):
        """Results go to the results database (so claims are kept there too)."""
        return True

    def result_store(self):
        """This batch's results go to :attr:`result_model`'s table (:class:`DatabaseResults`)."""
        store = self._result_store = DatabaseResults(self)
        return store

    def write_result(self, task, **values):
        """Record the result values of ``task`` (a member of this batch).

        :param task: the single-spectrum task the values belong to.
        :param values: column values and flags, e.g. ``snr=42.0, flag_low_snr=True``.
        """
        model = self._model()
        model.check_values(values)
        store = self.__dict__.get("_result_store")
        if store is not None:
            if task.task_id in store.pending:
                store.pending[task.task_id][1].update(values)
            else:
                store.pending[task.task_id] = (task, dict(values))
            return
        upsert_rows(model, [model.row_for_task(task, values)])
