"""The Luigi task of a ``@task`` method: :class:`FunctionTask`, one class generated per method.

The generated class is named after the function and registered with Luigi, so::

    luigi --module mymethods snr --spectrum-pk 7 --local-scheduler
    luigi --module mymethods snr --spectrum-model ApogeeVisitSpectrum --spectrum-pk 7 --min-good-pixels 50

run it. Its parameters are

* ``spectrum_model`` -- the catalogue model to read (default: the first the method reads);
* ``spectrum_pk`` -- the spectrum's catalogue key; a batch parameter (``batch_method=tuple``),
  so Luigi's scheduler and :func:`astra.build` merge spectra into batches;
* the method's own arguments, each a Luigi parameter of the type its hint gives
  (``int`` -> ``IntParameter``, ...), with the function's default.

A batch reads its spectra in one query, runs the method over them once (its setup once per
batch) and writes the results where the configuration says. It is complete when every spectrum
has an up-to-date result (one query; see :mod:`astra.tasks.function_query`).
"""

import datetime
import logging
import os

import luigi

from astra.core import timeout as time_limit

import astra.config
from astra.database.connection import is_sqlite
from astra.parameters import BoolParameter, IntParameter, Parameter
from astra.retry import policy_of
from astra.tasks.base import BaseTask, time_limit_parameter
from astra.core.engine import BatchLedger, MemberFailure
from astra.core.outcome import retry_failed as failure_policy
from astra.database.writer import flush_interval
from astra.tasks.function_output import results_output
from astra.tasks.function_query import Currency, done_keys
from astra.tasks.function_run import execute
from astra.database.reconnect import connection_lost
from astra.logfiles import disk_full
from astra.tasks.function_upstream import select_with_upstreams, writer_of
from astra.tasks.identity import identity_hash

__all__ = ["FunctionTask", "ResultRowTarget", "make_task_class"]

logger = logging.getLogger("astra")


class ResultRowTarget(luigi.Target):
    """The up-to-date result row of one spectrum of a ``@task`` (for ``output()``).

    :param task: a single-spectrum :class:`FunctionTask`.
    """

    def __init__(self, task):
        self.task = task

    def exists(self):
        """Whether the spectrum has a result under this Astra major.minor, newer than its file."""
        task = self.task
        fn = task.task_function
        return bool(done_keys(task.catalogue_model(), fn, [task.spectrum_pk], retry_failed=task.retries_failed(),
                              currency=task.currency()))

    def __repr__(self):
        return f"ResultRowTarget({self.task.task_function.output_model.__name__}, spectrum_pk={self.task.spectrum_pk})"


class FunctionTask(BaseTask):
    """The Luigi task running a ``@task`` method over catalogue spectra (see module docs)."""

    #: The :class:`~astra.tasks.function.TaskFunction` (set on each generated class).
    task_function = None
    engine_counts_own_run = False  # its run() is the engine's loop already
    task_id_parameters = ("spectrum_pk", "spectrum_model")

    spectrum_model = Parameter(default=None, description="catalogue model to read (class name)")
    spectrum_pk = IntParameter(batch_method=tuple, description="catalogue key of the spectrum")
    retry_failed = BoolParameter(
        default=False, significant=False,
        description="re-run spectra whose result is flagged as a failure (the default: setting retry_failed)",
    )
    skip_failed = BoolParameter(
        default=False, significant=False,
        description="count spectra whose result is flagged as a failure as done (do not retry them)",
    )
    rerun_if_code_changed = BoolParameter(
        default=False, significant=False,
        description="results made by other method code are out of date (the default: setting rerun_if_code_changed)",
    )
    force_since = Parameter(
        default=None, significant=False,
        description="UTC time (ISO): results written before it are out of date (astra run --force)",
    )

    def currency(self):
        """What makes a result current for this run: its parameters, code, ``--force``
        (:class:`~astra.tasks.function_query.Currency`)."""
        return Currency(self.task_function, self.method_params(), code=True if self.rerun_if_code_changed else None,
                        force_since=self.force_since)

    def retries_failed(self):
        """Whether this run retries spectra whose result is flagged as a failure (the failure
        policy, :func:`astra.core.outcome.retry_failed`; ``--retry-failed`` / ``--skip-failed``)."""
        return failure_policy(True if self.retry_failed else (False if self.skip_failed else None))

    def results_in_database(self):
        """Whether results go to the results database (so claims are kept there too)."""
        return results_output() != "files"

    @classmethod
    def cut_batches(cls, rows, size):
        """Batches of at most ``size`` rows (``(spectrum_pk,)``, in key order), never across a
        ``spectrum_pk`` block of ``size`` keys (``pk // size``): see :meth:`claim_key`."""
        chunks, chunk, block = [], [], None
        for row in rows:
            here = row[0] // size
            if chunk and (here != block or len(chunk) >= size):
                chunks.append(chunk)
                chunk = []
            chunk.append(row)
            block = here
        if chunk:
            chunks.append(chunk)
        return chunks

    def claim_key(self):
        """What concurrent runs claim before running this batch (:mod:`astra.claims`).

        A batch cut by :meth:`cut_batches` lies in one ``spectrum_pk`` block: its key is the
        block (with the family, the method's significant parameters and the catalogue model),
        whatever members the run found pending (cut with one worker; with ``--workers N`` the
        batches are cut for the workers and claim their identity). Two runs that started at
        different times, and so found different pending spectra in the block, then claim the
        same key: the second
        waits, and computes under the claim only what the first left. Other batches (spanning
        blocks: merged by luigid, given on the command line) claim their identity.
        """
        size = getattr(self, "max_batch_size", None)
        keys = [self.spectrum_pk] if not self.is_batch_mode else list(self.spectrum_pk)
        if (not getattr(self, "block_cut", False) or not isinstance(size, int) or size < 1 or not keys
                or min(keys) // size != max(keys) // size):
            return self.identity_hash  # (batches cut for several workers share blocks: never serialise them)
        shared = {k: v for k, v in self.identity_params().items() if k != "spectrum_pk"}
        return identity_hash(self.get_task_family(), {**shared, "spectrum_pk_block": f"{min(keys) // size}/{size}"})

    def catalogue_model(self):
        """The catalogue model class named by ``spectrum_model``."""
        return self.task_function.input_model(self.spectrum_model)

    def method_params(self):
        """The method's own arguments, from this task's parameters."""
        return {name: self.param_kwargs[name] for name in self.task_function.parameters}

    @classmethod
    def result_path_for(cls, params, result):
        """The file of ``result`` in files mode: derived from the single-spectrum task's identity.

        :param params: the method's arguments.
        :param result: a result with ``spectrum_pk`` (and, from a run, the name of its catalogue
            model).
        """
        model = getattr(result, "_astra_spectrum_model", None)
        member = cls(spectrum_model=model, spectrum_pk=result.spectrum_pk, **params)
        return member.local_path(f"{cls.task_function.output_model._meta.table_name}.fits")

    def requires(self):
        """The upstream methods' tasks over the same spectra (those whose writer is imported).

        A downstream method's Luigi task needs its upstreams' results first: for each upstream
        results model written by exactly one imported ``@task`` that reads this catalogue model,
        that method's task over the same ``spectrum_pk`` (with its default parameters).
        """
        model = self.catalogue_model()
        needed = []
        for condition in self.task_function.conditions(model):
            if getattr(condition, "by", "spectrum_pk") != "spectrum_pk":
                continue  # the results of other spectra of the source: not this batch's task
            for upstream_model in condition.models:
                writer = writer_of(upstream_model)
                if writer is not None and model in writer.input_models:
                    needed.append(writer.task_class(spectrum_model=model.__name__, spectrum_pk=self.spectrum_pk))
        return needed

    def output(self):
        """Each spectrum's result: its row in the results table, or its FITS file in files mode."""
        if results_output() == "files":
            name = f"{self.task_function.output_model._meta.table_name}.fits"
            targets = [member.local_target(name) for member in self.get_batch_tasks()]
        else:
            targets = [ResultRowTarget(member) for member in self.get_batch_tasks()]
        return targets if self.is_batch_mode else targets[0]

    output._astra_batch_aware = True

    def _done(self):
        keys = [m.spectrum_pk for m in self.get_batch_tasks()]
        if results_output() == "files":
            return {m.spectrum_pk for m in self.get_batch_tasks() if _file_current(m.output(), self.force_since)}
        return done_keys(self.catalogue_model(), self.task_function, keys, retry_failed=self.retries_failed(),
                         currency=self.currency())

    def complete(self):
        """Whether every spectrum has an up-to-date result (one query for the whole batch)."""
        return {m.spectrum_pk for m in self.get_batch_tasks()} <= self._done()

    def incomplete_batch_tasks(self, fresh=True):
        """The members without an up-to-date result, asked now (one query for the whole batch).

        :param fresh: kept for callers of earlier versions; the answer is always asked now
            (an answer kept from :meth:`complete` goes stale when another run works on the
            batch meanwhile).
        """
        done = self._done()
        return [m for m in self.get_batch_tasks() if m.spectrum_pk not in done]

    def _read_spectra(self, keys):
        model = self.catalogue_model()
        found = {}
        chunk = 900 if is_sqlite() else 50000
        for start in range(0, len(keys), chunk):
            for spectrum in model.select().where(model.spectrum_pk.in_(keys[start : start + chunk])):
                found[spectrum.spectrum_pk] = spectrum
        return found

    @time_limit.time_limited
    def run(self):
        """Read the batch's spectra, run the method over those without a result, write them
        (each within the ``timeout``, if there is one: :mod:`astra.core.timeout`)."""
        fn = self.task_function
        family = self.get_task_family()
        total = self.get_batch_size()
        pending = time_limit.drop_settled(self.incomplete_batch_tasks(), lambda m: self._failure_id(m.spectrum_pk))
        keys = [m.spectrum_pk for m in pending]
        found = self._read_spectra(keys)
        failures = [
            (key, f"no spectrum_pk {key} in {self.catalogue_model()._meta.table_name}") for key in keys if key not in found
        ]
        spectra = [found[key] for key in keys if key in found]
        params = self.method_params()
        conditions = fn.conditions(self.catalogue_model(), params)
        left_out = 0
        if conditions:
            spectra, results, missing = select_with_upstreams(spectra, conditions)
            params.update(results)
            for key, names in missing.items():
                failures.append((key, _lacking(key, names)))
            left_out = len(found) - len(spectra) - len(missing)
        ledger = BatchLedger(self, total, len(keys)).start(nothing_to_do=left_out)
        for key, reason in failures:
            logger.error("%s(spectrum_pk=%s): %s", family, key, reason)
            ledger.failed(self._failure(key, reason))

        def step(result):
            time_limit.finished(result.spectrum_pk)
            if result.flag_runtime_exception:
                spectrum = found.get(result.spectrum_pk)
                ledger.failed(self._failure(result.spectrum_pk, result.error, getattr(result, "_astra_spectrum_model", None),
                                            getattr(spectrum, "path", None)))
            else:
                ledger.succeeded()

        sink = self._sink()
        try:
            for _ in execute(fn.function, spectra, params, fn.output_model, sink, on_result=step, policy=policy_of(fn),
                             on_retry=ledger.retried):
                pass
        except Exception as error:  # the database stayed down (or filled up): say what was stored
            _stopped_by_store(error, family, ledger, sink)
            raise
        finally:
            ledger.close()
        ledger.finish(self.fails_on_member_errors())

    def _sink(self):
        """Where this batch's results go (see :meth:`TaskFunction.sink`)."""
        sink = self.task_function.sink(True, batch_size=int(astra.config.get("database_write_batch_size") or 1000),
                                       write_frequency=flush_interval(), params=self.method_params())
        if results_output() == "files" and self.retries_failed():
            sink = _WithoutFailures(sink)  # a file makes its spectrum done: a failure gets none
        return sink

    def timed_out_member(self, key, reason):
        """Give the spectrum ``key``, which ran past the time limit, its flagged row
        (:mod:`astra.core.timeout`).

        :param key: its ``spectrum_pk``.
        :param reason: ``"TimeoutError: timed out after N s"``.
        :returns: its :class:`~astra.core.events.MemberFailure`.
        """
        spectrum = self._read_spectra([key]).get(key)
        if spectrum is None:
            return self._failure(key, reason)
        result = self.task_function.output_model.from_spectrum(spectrum, flag_runtime_exception=True, error=reason)
        result._astra_spectrum_model = type(spectrum).__name__
        sink = self._sink()
        sink.add(result)
        sink.close()
        return self._failure(key, reason, type(spectrum).__name__, getattr(spectrum, "path", None))

    def _failure_id(self, spectrum_pk):
        """The task id a failure of the spectrum ``spectrum_pk`` is reported under."""
        return f"{self.get_task_family()}(spectrum_pk={spectrum_pk})"

    def _failure(self, spectrum_pk, reason, spectrum_model=None, path=None):
        """The :class:`~astra.core.events.MemberFailure` of one spectrum of this batch.

        Its ``member`` is the single-spectrum task (what a retry runs again); its id, for
        summaries, is ``family(spectrum_pk=...)``.
        """
        member = type(self)(spectrum_model=spectrum_model or self.spectrum_model, spectrum_pk=spectrum_pk,
                            **self.method_params())
        return MemberFailure(self._failure_id(spectrum_pk), reason, member, path=path)


class _WithoutFailures:
    """A sink that writes no flagged result (files mode under the retry policy: the run
    records the failure, and the spectrum stays to do)."""

    def __init__(self, sink):
        self.sink = sink

    def add(self, result):
        """Write ``result`` unless it is flagged ``flag_runtime_exception``."""
        return [result] if result.flag_runtime_exception else self.sink.add(result)

    def close(self):
        """Write what the sink buffers."""
        return self.sink.close()


def _stopped_by_store(error, family, ledger, sink):
    """A batch whose results could not be stored (the database stayed down, or its disk is full):
    the results that were waiting to be written move from done to failed with the error, and
    ``error`` carries the batch's :class:`~astra.core.outcome.BatchOutcome` (what was stored is
    done; the spectra never reached are not run), so the run's summary counts it exactly,
    without asking the database.

    :param error: the exception that stopped the batch.
    :param family: the task family (for the failed members' ids).
    :param ledger: the batch's :class:`~astra.core.engine.BatchLedger`.
    :param sink: the results sink (its buffer holds the results not yet written).
    """
    if not (connection_lost(error) or disk_full(error)):
        return
    text = str(error).strip()
    reason = f"result not written: {type(error).__name__}: {text.splitlines()[0] if text else ''}"
    buffered = getattr(getattr(sink, "sink", sink), "_buffer", ())
    for result in buffered:
        if not result.flag_runtime_exception:  # counted done when computed: its row is lost
            ledger.failed(MemberFailure(f"{family}(spectrum_pk={result.spectrum_pk})", reason), processed=False)
    error.outcome = ledger.outcome


def _file_current(target, force_since):
    """A result file exists (and, under ``--force``, was written at or after ``force_since``)."""
    if not target.exists():
        return False
    if not force_since:
        return True
    since = datetime.datetime.fromisoformat(force_since).replace(tzinfo=datetime.timezone.utc).timestamp()
    return os.path.getmtime(target.path) >= since


def _lacking(spectrum_pk, names):
    """Why a spectrum cannot run: it has no result of the named upstream models."""
    return f"no {', '.join(names)} result for spectrum_pk {spectrum_pk} (run the upstream method first)"


def make_task_class(task_function, params):
    """Build and register the Luigi task class of ``task_function``.

    :param task_function: a :class:`~astra.tasks.function.TaskFunction`.
    :param params: the method's Luigi parameters by name.
    :returns: a :class:`FunctionTask` subclass named after the function.
    """
    attributes = dict(params)
    attributes.update(
        timeout=time_limit_parameter(task_function.timeout),
        __module__=task_function.function.__module__,
        __doc__=task_function.function.__doc__ or f"The Luigi task of the @task method {task_function.name}.",
        task_function=task_function,
        spectrum_model=Parameter(
            default=task_function.input_models[0].__name__,
            description="catalogue model to read: " + ", ".join(m.__name__ for m in task_function.input_models),
        ),
    )
    return type(task_function.name, (FunctionTask,), attributes)
