"""Running a batch: the expensive setup once, then each incomplete member, failures recorded.

This module is Astra's batch mode at run time, in one place. A task author writes two
methods instead of ``run()``::

    def setup(self):                 # once per batch: load a model, a grid, ...
        return load_model(self.model_path)

    def process(self, task, model):  # once per spectrum; ``task`` is the single-spectrum member
        spectrum = Spectrum1D.read(task.input().path)
        with task.output().open("w") as fp:      # file outputs: write them here, or
            ...
        return {"snr": 42.0}                      # database outputs: return the row's values

The contract of ``process(self, task, context)`` is the same whatever the output:

* ``self`` is the batch, ``task`` is the member. Per-spectrum parameters (the batch keys) are
  read from ``task``; reading one from ``self`` inside ``process()`` raises
  :class:`BatchMemberAccessError` naming the parameter (``self`` holds one value per member, so
  the answer would silently be the wrong spectrum's). Parameters shared by the batch can be
  read from either.
* What ``process`` returns is handed to the task's result store: ignored for file outputs
  (``process`` wrote them), the row's values for database outputs
  (:class:`~astra.database.DatabaseOutputMixin`).
* An exception fails that spectrum only.

:meth:`BatchRunMixin.run` then

* skips members whose outputs already exist (a re-run picks up where the last one stopped);
* checks each member's input files first (:meth:`BatchRunMixin.check_inputs`): a missing,
  empty or undownloadable file is that spectrum's failure, with the reason, and the other
  members still run (data-model file tasks are therefore not Luigi dependencies of a batch
  that uses this ``run()``: see :meth:`BatchRunMixin.deps`);
* records the time spent in ``setup`` and per member (``batch_timing`` on the batch, members
  keyed by identity hash; ``timing`` on each member);
* reports progress to Luigi (``set_progress_percentage`` / ``set_status_message``, shown in
  luigid's web UI) and draws a progress bar when run on a terminal;
* catches an exception raised for one member, logs it with the member's identity, writes a
  failure record ``<output_dir>/<namespace>/<Family>/failures/<hash>.json`` (removed when a
  later run succeeds; one directory per family, so finding the failures of a batch is one
  directory listing, not one file check per spectrum) and goes on with the other members;
* counts a member whose result could not be stored (a database write that failed) as failed,
  with the reason;
* reports what it did as a :class:`BatchOutcome` (``batch_outcome`` on the batch, and the text
  Luigi sends to the scheduler from :meth:`~BatchRunMixin.on_success` /
  :meth:`~BatchRunMixin.on_failure`), which :func:`astra.build` reads for its summary, also
  from worker processes.

Whether a batch with failed members then reports failure to Luigi is
:attr:`BatchRunMixin.fail_on_member_error` (default: the ``fail_batch_on_member_error``
setting, true): so ``luigi --module`` exits non-zero when a spectrum failed (see
:mod:`astra.luigi_defaults`). :func:`astra.build` does not need it (it reads the outcomes) and
runs batches without failing them, so a later step of a pipeline still runs for the other
spectra.
"""

import contextlib
import functools
import inspect
import json
import logging
import operator
import os
import time
import traceback

import luigi

import astra.config
import astra.run_recorder  # noqa: F401 (run recording subscribes to the engine's events)
from astra.provenance.classes import BatchProvenance
from astra.claims import claim_runs
from astra.core import timeout as time_limit
from astra.core.engine import BatchLedger, MemberFailure
from astra.core.loop import run_loop
from astra.core.outcome import (  # noqa: F401 (their home is astra.core.outcome; names kept here)
    INCOMPLETE_WHEN_CLAIMED,
    MAX_REPORTED_FAILURES,
    BatchMemberError,
    BatchOutcome,
    error_text,
    note_incomplete,
)
from astra.core.sinks import DiscardSink, Lost, MemberResult
from astra.retry import policy_of
from astra.run_recorder import input_path
from astra.targets import atomic_open
from astra.tasks.class_method import GUARDED, ClassMethod, failure_traceback
from astra.tasks.inputs import InputFileError  # noqa: F401 (one check for every kind of task)

__all__ = [
    "BatchRunMixin",
    "BatchMemberError",
    "BatchMemberAccessError",
    "BatchOutcome",
    "note_incomplete",
    "build_window",
    "written_during_build",
    "InputFileError",
    "ResultNotStoredError",
    "FileResults",
    "FAILURES_DIRECTORY",
    "MAX_REPORTED_FAILURES",
]

logger = logging.getLogger("astra")

#: Directory (below a family's output directory) of the records of failed members.
FAILURES_DIRECTORY = "failures"


class ResultNotStoredError(RuntimeError):
    """A member was processed but its result could not be stored (a database write failed)."""


class BatchMemberAccessError(AttributeError):
    """A per-spectrum parameter was read from the batch inside ``process()``."""


class FileResults(DiscardSink):
    """The sink of file outputs: ``process()`` wrote the files, nothing more to store (the
    protocol of :mod:`astra.core.sinks`).

    :param batch: the batch being run.
    """

    def __init__(self, batch):
        self.batch = batch
        self.provenance = BatchProvenance(batch)

    def add(self, result):
        """``process()`` wrote the member's files: note it for the batch's provenance file."""
        if result.error is None and result.member is not None:
            self.provenance.note_member(result.member)
        return ()

    def close(self):
        """Write the batch's provenance file (one per batch)."""
        self.provenance.write(self.batch)
        return ()

class _BatchKeyAccess:
    """Reads a batch key from an instance; raises on a batch inside ``process()``.

    Put on a task class in place of its batch-key parameters the first time one of its batches
    runs ``process()`` (the class still lists the same :class:`luigi.Parameter` objects:
    reading the attribute from the class gives the parameter). Values stay where Luigi puts
    them, in the instance's ``__dict__``.
    """

    __slots__ = ("name", "parameter")

    def __init__(self, name, parameter):
        self.name = name
        self.parameter = parameter

    def __get__(self, instance, owner):
        if instance is None:
            return self.parameter
        values = instance.__dict__
        guarded = values.get(GUARDED)
        if guarded is not None and self.name in guarded:
            raise BatchMemberAccessError(
                f"{owner.get_task_family()}.process(): {self.name!r} has one value per spectrum of "
                f"this batch; read it from the member (task.{self.name}), not from the batch (self.{self.name})"
            )
        try:
            return values[self.name]
        except KeyError:
            return self.parameter

    def __set__(self, instance, value):
        instance.__dict__[self.name] = value


def _guard_batch_keys(cls):
    """Install :class:`_BatchKeyAccess` for each batch key of ``cls``; returns their names."""
    names = []
    for name in cls.batch_param_names():
        current = cls.__dict__.get(name)
        if not isinstance(current, _BatchKeyAccess):
            setattr(cls, name, _BatchKeyAccess(name, getattr(cls, name)))
        names.append(name)
    return names


class BatchRunMixin:
    """The ``run()`` of :class:`astra.tasks.BaseTask`: ``setup()`` once, ``process()`` per member."""

    #: Whether a batch with failed members reports failure to Luigi (``None``: use the
    #: ``fail_batch_on_member_error`` setting, true unless changed).
    fail_on_member_error = None

    #: True on tasks that stand for input files checked per spectrum at run time (data-model
    #: file tasks): they are then not Luigi dependencies of a batch (see :meth:`deps`).
    checked_per_spectrum = False

    #: Whether the engine counts the outcome of a ``run()`` this class writes itself (see
    #: :func:`engine_counted`); false for tasks whose ``run()`` is itself an engine's.
    engine_counts_own_run = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("run")
        if (inspect.isfunction(own) and cls.__dict__.get("engine_counts_own_run", cls.engine_counts_own_run)
                and not inspect.isgeneratorfunction(own) and not getattr(own, "_astra_claimed", False)):
            cls.run = engine_counted(own)
        claim_runs(cls)  # a batch runs only while claimed: concurrent runs share the work

    def setup(self):
        """Work done once per batch before the first member (e.g. loading a model).

        :returns: anything; it is passed to every :meth:`process` call.
        """
        return None

    def process(self, task, context):
        """Analyse one spectrum and store its result.

        :param task: the single-spectrum member of this batch (``task.input()``,
            ``task.output()`` and the batch keys such as ``task.obj`` are that spectrum's).
        :param context: what :meth:`setup` returned.
        :returns: for database outputs, the result row's values; ignored for file outputs.
        """
        raise NotImplementedError(f"{type(self).__name__} must define process(self, task, context) or run(self)")

    def result_store(self):
        """The sink of this batch's results (:mod:`astra.core.sinks`): :class:`FileResults`,
        or a database's (:class:`~astra.database.target.DatabaseResults`)."""
        return FileResults(self)

    def _guarded_names(self):
        """The batch keys that raise when read from this batch in ``process()`` (``None``: not a batch).

        While ``__dict__[GUARDED]`` holds them (during each ``process()`` call of
        :meth:`run`), reading one of them from the batch raises :class:`BatchMemberAccessError`.
        """
        if not self.is_batch_mode:
            return None
        cls = type(self)
        names = cls.__dict__.get("_astra_guarded_names")
        if names is None:
            names = frozenset(_guard_batch_keys(cls))
            cls._astra_guarded_names = names
        return names

    # ------------------------------------------------------------------ failure records

    @classmethod
    def failures_directory(cls):
        """The directory of this family's failure records."""
        return os.path.join(cls._output_root(), FAILURES_DIRECTORY)

    def failure_path(self):
        """Where a failure of this (single-spectrum) task is recorded."""
        return os.path.join(self.failures_directory(), f"{self.identity_hash}.json")

    @classmethod
    def recorded_failures(cls):
        """Identity hashes of this family's members whose last run failed (one listing)."""
        try:
            names = os.listdir(cls.failures_directory())
        except FileNotFoundError:
            return set()
        return {name[:-5] for name in names if name.endswith(".json")}

    def failure_reason(self):
        """The recorded reason this (single-spectrum) task failed last, or ``None``."""
        try:
            with open(self.failure_path()) as fp:
                return json.load(fp).get("error") or "failed"
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return "failed (its failure record cannot be read)"

    def failed_batch_tasks(self):
        """Members whose last run failed (a failure record exists) and that are not complete."""
        failed = self.recorded_failures()
        if not failed:
            return []
        return [m for m in self.get_batch_tasks() if m.identity_hash in failed and not m.complete()]

    def incomplete_batch_tasks(self, fresh=False):
        """The members whose outputs do not all exist yet, in order.

        Override it to check a whole batch at once (e.g. one database query).

        :param fresh: ask the outputs now, not an answer kept from an earlier question.
        """
        return [m for m in self.get_batch_tasks() if not m.complete()]

    # ------------------------------------------------------------------ inputs

    @classmethod
    def _runs_per_member(cls):
        run = cls.run
        return getattr(run, "__wrapped__", run) is BatchRunMixin.run  # claims wrap run()

    def deps(self):
        """Luigi's dependencies, less the input files this batch checks per spectrum.

        With the standard :meth:`run`, a missing data-model file fails only its own spectrum
        (:meth:`check_inputs`), so it must not keep Luigi from running the batch. A task that
        writes its own ``run()`` keeps every requirement as a dependency.
        """
        deps = super().deps()
        if not self._runs_per_member():
            return deps
        return [d for d in deps if not getattr(d, "checked_per_spectrum", False)]

    def check_inputs(self):
        """Make sure this member's input files are there (downloading them if so configured).

        :raises InputFileError: naming the file and what is wrong with it.
        """
        for requirement in luigi.task.flatten(self.requires()):
            if getattr(requirement, "checked_per_spectrum", False):
                requirement.ensure_available()

    # ------------------------------------------------------------------ run

    @time_limit.time_limited
    def run(self):
        """Run :meth:`setup` once, then :meth:`process` for every incomplete member (each within
        the ``timeout``, if there is one: :mod:`astra.core.timeout`).

        The loop is the engine's (:func:`astra.core.loop.run_loop`), the same as a ``@task``'s;
        :class:`~astra.tasks.class_method.ClassMethod` adapts ``setup()``/``process()`` to it.
        """
        total = self.get_batch_size()
        pending = time_limit.drop_settled(self.incomplete_batch_tasks(), operator.attrgetter("task_id"))
        ledger = BatchLedger(self, total, len(pending), written_during_build)
        _hand_down_requirements(self, pending)
        recorded = self.recorded_failures()
        failed_ids = set()
        pending_ids = None  # made only when a sink reports a lost result

        def fail(member, reason, tb, processed=True, attempts=None):
            if member.task_id in failed_ids:
                return
            failed_ids.add(member.task_id)
            logger.error("%s failed: %s", member.task_id, reason)
            _record_failure(member, reason, tb, attempts)
            ledger.failed(MemberFailure(member.task_id, reason, member, tb, input_path(member)), processed)

        member_timing = {}
        self.batch_timing = {"setup": 0.0, "members": member_timing}
        adapter = ClassMethod(self, type(self).requires is not luigi.Task.requires, ledger.retried)

        def on_result(result):
            member, timing = result.member, result.timing
            if result.error is None:
                ledger.succeeded()
                # (the task id is made only when needed: it costs microseconds per member)
                if recorded and member.identity_hash in recorded:
                    _clear_failure(member)
            else:
                attempts = result.attempts
                fail(member, result.reason, failure_traceback(result.error),
                     attempts=attempts.errors if attempts is not None else None)
            if timing is not None:
                member.timing = timing
                member_timing[member.identity_hash] = timing["process"]

        ledger.start()
        try:
            for stored in run_loop(adapter.method, pending, adapter.contract, self.result_store(),
                                   policy=policy_of(self), on_result=on_result):
                if type(stored) is Lost:  # stored once, then lost in a write: moves from done to failed
                    member = stored.result.member
                    if pending_ids is None:
                        pending_ids = {m.task_id for m in pending}
                    if member is not None and member.task_id in pending_ids:
                        fail(member, error_text(ResultNotStoredError(f"result not written: {stored.reason}")), "",
                             processed=False)
        finally:
            self.batch_timing["setup"] = adapter.t_setup
            self.__dict__.pop(GUARDED, None)  # (when process() raised past ``except Exception``)
            ledger.close()
        ledger.finish(self.fails_on_member_errors())

    def fails_on_member_errors(self):
        """Whether a failed member fails this batch for Luigi (:attr:`fail_on_member_error`,
        else the ``fail_batch_on_member_error`` setting)."""
        fail_batch = self.fail_on_member_error
        return fail_batches_on_member_error() if fail_batch is None else bool(fail_batch)

    def timed_out_member(self, key, reason):
        """Record that the member ``key`` ran past the time limit (:mod:`astra.core.timeout`).

        :param key: the member's task id.
        :param reason: ``"TimeoutError: timed out after N s"``.
        :returns: its :class:`~astra.core.events.MemberFailure`.
        """
        member = next(m for m in self.get_batch_tasks() if m.task_id == key)
        _record_failure(member, reason, "")
        sink = self.result_store()
        sink.add(MemberResult(member, None, {"elapsed": time_limit.limit_of(self)}, TimeoutError(reason), reason))
        sink.close()
        return MemberFailure(member.task_id, reason, member, None, input_path(member))

    def on_success(self):
        """Luigi's explanation of a finished batch: its :class:`BatchOutcome`, for summaries."""
        outcome = self.__dict__.get("batch_outcome")
        return outcome.to_text() if outcome is not None else super().on_success()

    def on_failure(self, exception):
        """Luigi's explanation of a failed batch: the error, and the outcome if it has one."""
        text = super().on_failure(exception)
        outcome = getattr(exception, "outcome", None)
        if isinstance(outcome, BatchOutcome):
            text = f"{exception}\n{outcome.to_text()}"
        return text


def engine_counted(run):
    """Wrap a ``run()`` a class writes itself (seeds 002/003, ``get_batch_tasks()``) so that the
    engine still owns its outcome and recording.

    Before ``run()``: the incomplete members (one bulk check) and ``batch_started``. After it:
    each of those members with its outputs is done, each without failed (with ``run()``'s
    exception, or "run() did not write its outputs"): a failure record, ``/failures``, the
    batch's :class:`BatchOutcome`. An exception from ``run()`` is raised again, carrying the
    outcome; otherwise a failed member fails the batch as with :meth:`BatchRunMixin.run`.

    :param run: the class's own ``run(self)``.
    :returns: the wrapped method (the author's is its ``__wrapped__``).
    """

    @functools.wraps(run)
    def counted(self):
        pending = self.incomplete_batch_tasks()
        ledger = BatchLedger(self, self.get_batch_size(), len(pending), written_during_build).start()
        try:
            returned = run(self)
        except Exception as error:
            _count_own_run(self, ledger, pending, error, traceback.format_exc())
            error.outcome = ledger.outcome
            raise
        _count_own_run(self, ledger, pending, None, None)
        ledger.finish(self.fails_on_member_errors())
        return returned

    counted._astra_engine_counted = True
    return counted


def _count_own_run(batch, ledger, pending, error, tb):
    """Count the members of a class's own ``run()`` from their outputs, asked now."""
    try:
        left = {m.task_id for m in batch.incomplete_batch_tasks()} if pending else set()
    except Exception as check_error:  # the outputs cannot be checked: each counts as failed
        left, error = {m.task_id for m in pending}, error or check_error
    reason = error_text(error) if error is not None else "run() finished without writing its outputs"
    recorded = batch.recorded_failures() if pending else ()
    try:
        for member in pending:
            if member.task_id in left:
                _record_failure(member, reason, tb)
                ledger.failed(MemberFailure(member.task_id, reason, member, tb, input_path(member)))
            else:
                ledger.succeeded()
                if recorded and member.identity_hash in recorded:
                    _clear_failure(member)
    finally:
        ledger.close()


_BUILD_STARTED = []  # wall-clock start of the astra.build running in this process (forks inherit it)


@contextlib.contextmanager
def build_window():
    """Within the block (and in worker processes forked in it), a file output written after
    the block began is another run's work when this run did not write it (see
    :func:`written_during_build`)."""
    _BUILD_STARTED.append(time.time())
    try:
        yield
    finally:
        _BUILD_STARTED.pop()


def written_during_build(batch):
    """How many complete members of ``batch`` have outputs written since this build began.

    Called before the batch runs, so none of them was written by this run: they were written
    by another run (a concurrent ``astra run``, another luigid worker) during this one.

    :param batch: a batch task.
    :returns: the count, or ``None`` when it cannot be told (no build running, or outputs
        that are not local files, such as database rows).
    """
    if not _BUILD_STARTED:
        return None
    started = _BUILD_STARTED[-1]
    written = 0
    for member in batch.get_batch_tasks():
        paths = [getattr(target, "path", None) for target in luigi.task.flatten(member.output())]
        if not paths or None in paths:
            return None
        try:
            mtimes = [os.stat(path).st_mtime for path in paths]
        except FileNotFoundError:
            continue  # an incomplete member
        except OSError:
            return None
        if min(mtimes) >= started:
            written += 1
    return written


_REPORT_ONLY = []


@contextlib.contextmanager
def report_member_failures_only():
    """Within the block (and in worker processes forked in it), batches with failed members
    succeed for Luigi: :func:`astra.build` reads their outcomes instead."""
    _REPORT_ONLY.append(True)
    try:
        yield
    finally:
        _REPORT_ONLY.pop()


def fail_batches_on_member_error():
    """Whether a batch with failed members fails for Luigi now (the ``fail_batch_on_member_error``
    setting, except inside :func:`report_member_failures_only`)."""
    if _REPORT_ONLY:
        return False
    return bool(astra.config.get("fail_batch_on_member_error", True))


def _split(structure, positions, size):
    """Per-member versions of a batch's requirement structure, or None if it is not elementwise."""
    if hasattr(structure, "get_batch_tasks"):
        if structure.get_batch_size() == size:
            members = list(structure.get_batch_tasks())
            return [members[i] for i in positions]
        return [structure] * len(positions) if structure.get_batch_size() == 1 else None
    if isinstance(structure, luigi.Task):
        return [structure] * len(positions)
    if isinstance(structure, dict):
        parts = {k: _split(v, positions, size) for k, v in structure.items()}
        if any(v is None for v in parts.values()):
            return None
        return [{k: v[i] for k, v in parts.items()} for i in range(len(positions))]
    if isinstance(structure, (list, tuple)):
        parts = [_split(v, positions, size) for v in structure]
        if any(v is None for v in parts):
            return None
        return [type(structure)(v[i] for v in parts) for i in range(len(positions))]
    return None


def _hand_down_requirements(batch, pending):
    """Give each pending member its requirements from the batch's ``requires()``.

    Building each member's upstream tasks through Luigi costs about a millisecond each; the
    batch's requirements are batches of the same length whose members are exactly those
    tasks. The first member's own ``requires()`` is compared with what it is handed; if they
    differ (a ``requires()`` that is not element by element), members build their own.
    """
    if not batch.is_batch_mode or not pending:
        return
    required = batch.requires()
    if not luigi.task.flatten(required):
        return
    positions = [m._batch_index for m in pending]
    split = _split(required, positions, batch.get_batch_size())
    if split is None:
        return
    own = luigi.task.flatten(pending[0].requires())
    handed = luigi.task.flatten(split[0])
    if [t.task_id for t in own] != [t.task_id for t in handed]:
        logger.debug("%s: requires() is not element by element; members build their own", batch.task_id)
        return
    for member, requirements in zip(pending, split):
        member._astra_requires = requirements


def _record_failure(member, reason, tb=None, attempts=None):
    record = {"task_id": member.task_id, "error": reason, "traceback": tb}
    if attempts:
        record["attempts"] = list(attempts)
    try:
        with atomic_open(member.failure_path(), "w") as fp:
            json.dump(record, fp, indent=1)
    except OSError as write_error:
        logger.error("could not record the failure of %s: %s", member.task_id, write_error)


def _clear_failure(member):
    try:
        os.unlink(member.failure_path())
    except FileNotFoundError:
        pass
