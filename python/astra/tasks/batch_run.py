"""Running a batch: the expensive setup once, then each incomplete member, failures recorded.

A task author writes two methods instead of ``run()``::

    def setup(self):                 # once per batch: load a model, a grid, ...
        return load_model(self.model_path)

    def process(self, task, model):  # once per spectrum; ``task`` is a single-spectrum member
        spectrum = Spectrum1D.read(task.input().path)
        with task.output().open("w") as fp:
            ...

:meth:`BatchRunMixin.run` then

* skips members whose outputs already exist (a re-run picks up where the last one stopped);
* records the time spent in ``setup`` and per member (``batch_timing`` on the batch, members
  keyed by identity hash; ``timing`` on each member);
* reports progress to Luigi (``set_progress_percentage`` / ``set_status_message``, shown in
  luigid's web UI) and draws a progress bar when run on a terminal;
* catches an exception raised for one member, logs it with the member's identity, writes a
  failure record ``<output_dir>/<namespace>/<Family>/failures/<hash>.json`` (removed when a
  later run succeeds; one directory per family, so finding the failures of a batch is one
  directory listing, not one file check per spectrum) and goes on with the other members. Whether the batch then fails is set by
  :attr:`BatchRunMixin.fail_on_member_error` (default: the ``fail_batch_on_member_error``
  setting, itself false by default).
"""

import json
import logging
import os
import sys
import time
import traceback

import luigi

import astra.config
import astra.runs
from astra.claims import claim_runs
from astra.targets import atomic_open

__all__ = ["BatchRunMixin", "BatchMemberError", "FAILURES_DIRECTORY"]

logger = logging.getLogger("astra")

#: Directory (below a family's output directory) of the records of failed members.
FAILURES_DIRECTORY = "failures"


class BatchMemberError(RuntimeError):
    """Some members of a batch raised; raised after all other members finished.

    :param failures: list of ``(member task, exception)``.
    """

    def __init__(self, family, failures, total):
        self.failures = failures
        first_task, first_error = failures[0]
        super().__init__(
            f"{family}: {len(failures)} of {total} spectra failed; first: {first_task!r}: "
            f"{type(first_error).__name__}: {first_error}"
        )


class _Progress:
    """Throttled progress reporting to Luigi, the log and (on a terminal) tqdm."""

    def __init__(self, task, total, skipped):
        self.task = task
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self._last = 0.0
        self._reported = None
        self._bar = None
        self.record = astra.runs.batch_started(task, total, skipped)  # for astra web
        if total > 1 and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=task.get_task_family(), unit="spectra", leave=False)
        self.report(force=True)

    def message(self):
        text = f"{self.done}/{self.total} spectra"
        if self.failed:
            text += f" ({self.failed} failed)"
        if self.skipped:
            text += f"; {self.skipped} already complete"
        return text

    def step(self, failed):
        self.done += 1
        self.failed += bool(failed)
        if self._bar is not None:
            self._bar.update(1)
        self.report()

    def report(self, force=False):
        now = time.monotonic()
        if not force and now - self._last < 1.0 and self.done < self.total:
            return
        state = (self.done, self.failed)
        if state == self._reported:  # each report is a request to luigid: never send one twice
            return
        self._last, self._reported = now, state
        percentage = 100 if self.total == 0 else int(100 * self.done / self.total)
        if self.task.set_progress_percentage is not None:
            self.task.set_progress_percentage(percentage)
        if self.task.set_status_message is not None:
            self.task.set_status_message(self.message())
        astra.runs.batch_progress(self.record, self.done, self.failed, self.message())

    def close(self):
        self.report(force=True)
        astra.runs.batch_finished(self.record, self.done, self.failed, self.message())
        if self._bar is not None:
            self._bar.close()


class BatchRunMixin:
    """The ``run()`` of :class:`astra.tasks.BaseTask`: ``setup()`` once, ``process()`` per member."""

    #: Whether a batch with failed members reports failure to Luigi (``None``: use the
    #: ``fail_batch_on_member_error`` setting).
    fail_on_member_error = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        claim_runs(cls)  # a batch runs only while claimed: concurrent runs share the work

    def setup(self):
        """Work done once per batch before the first member (e.g. loading a model).

        :returns: anything; it is passed to every :meth:`process` call.
        """
        return None

    def process(self, task, context):
        """Analyse one spectrum and write its outputs.

        :param task: a single-spectrum member of this batch (``task.input()``,
            ``task.output()`` are that spectrum's).
        :param context: what :meth:`setup` returned.
        """
        raise NotImplementedError(f"{type(self).__name__} must define process(self, task, context) or run(self)")

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

    def failed_batch_tasks(self):
        """Members whose last run failed (a failure record exists) and that are not complete."""
        failed = self.recorded_failures()
        if not failed:
            return []
        return [m for m in self.get_batch_tasks() if m.identity_hash in failed and not m.complete()]

    def incomplete_batch_tasks(self):
        """The members whose outputs do not all exist yet, in order.

        Override it to check a whole batch at once (e.g. one database query).
        """
        return [m for m in self.get_batch_tasks() if not m.complete()]

    def run(self):
        """Run :meth:`setup` once, then :meth:`process` for every incomplete member."""
        total = self.get_batch_size()
        pending = self.incomplete_batch_tasks()
        _hand_down_requirements(self, pending)
        recorded = self.recorded_failures()
        started = time.perf_counter()
        context = self.setup()
        t_setup = time.perf_counter() - started
        self.batch_timing = {"setup": t_setup, "members": {}}
        progress = _Progress(self, total=len(pending), skipped=total - len(pending))
        failures = []
        for member in pending:
            began = time.perf_counter()
            try:
                self.process(member, context)
            except Exception as error:  # one spectrum must not lose the others
                logger.error("%s failed: %s: %s", member.task_id, type(error).__name__, error)
                _record_failure(member, error)
                astra.runs.batch_member_failed(progress.record, member, error)
                failures.append((member, error))
            else:
                if member.identity_hash in recorded:
                    _clear_failure(member)
            elapsed = time.perf_counter() - began
            member.timing = {"setup": t_setup, "process": elapsed}
            self.batch_timing["members"][member.identity_hash] = elapsed
            progress.step(failed=bool(failures) and failures[-1][0] is member)
        progress.close()
        self.batch_counts = {
            "done": len(pending) - len(failures),
            "skipped": total - len(pending),
            "failures": [(m.task_id, f"{type(e).__name__}: {e}") for m, e in failures],
        }
        logger.info("%s: %s", self.task_id, progress.message())
        fail = self.fail_on_member_error
        if fail is None:
            fail = bool(astra.config.get("fail_batch_on_member_error", False))
        if failures and fail:
            raise BatchMemberError(self.get_task_family(), failures, len(pending))


def _split(structure, positions, size):
    """Per-member versions of a batch's requirement structure, or None if it is not elementwise."""
    from astra.tasks.base import BaseTask

    if isinstance(structure, BaseTask):
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


def _record_failure(member, error):
    record = {
        "task_id": member.task_id,
        "error": f"{type(error).__name__}: {error}",
        "traceback": traceback.format_exc(),
    }
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
