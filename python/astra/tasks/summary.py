"""What a run did, spectrum by spectrum: :class:`BuildSummary` and how :func:`astra.build` makes it.

Luigi's own summary counts tasks, and a batch is one task; its verdict also treats things that
are not failures as failures ("not granted run permission" when another worker already runs a
batch) and misses failures that are not task failures (a spectrum that failed inside a batch
that finished). The summary here counts spectra:

* a batch run by this process (in a forked worker too) reports its
  :class:`~astra.tasks.batch_run.BatchOutcome` through the explanation Luigi sends to the
  scheduler (``on_success`` / ``on_failure``); :class:`RecordingFactory` gives Luigi's worker a
  scheduler that keeps those explanations;
* a batch whose ``run()`` raised counts its incomplete members as failed, each with the
  exception as the reason;
* a batch another worker runs (under luigid) is waited for (at most ``other_worker_timeout``
  seconds, default 3600), then counted from the outcome that worker reported to luigid (its
  spectra are "done by another run") when this run's outputs bear it out (:func:`outcome_holds`:
  luigid's memory is a hint, never proof), else from its outputs;
* spectra that another run completed while this run waited for its claim of their batch
  (:mod:`astra.claims`) are "done by another run", not "already complete";
* any other batch is counted from its outputs (one completeness pass, one listing of failure
  records), and a member that is neither complete nor failed is "not run", with Luigi's reason.
"""

import dataclasses
import json
import logging
import sys
import time

import astra.config
from astra.logfiles import disk_full
from astra.luigi_glue.running import DONE, FAILED, WorkerSchedulerFactory, stable_done_cooldown, summary_states
from astra.tasks.batch_run import INCOMPLETE_WHEN_CLAIMED, BatchOutcome, written_during_build

__all__ = [
    "BuildSummary",
    "RecordingFactory",
    "summarise",
    "categories",
    "wait_for_others",
    "others_outcome",
    "abandoned_by_others",
    "outcome_holds",
    "other_worker_timeout",
]

logger = logging.getLogger("astra")

#: Seconds between questions to luigid while waiting for batches another worker runs.
WAIT_INTERVAL = 1.0

# Luigi's summary categories of tasks this worker did not run, and what they mean for a spectrum.
_NOT_RUN_REASONS = (
    ("upstream_failure", "a task it needs failed"),
    ("upstream_missing_dependency", "an input it needs is missing"),
    ("upstream_scheduling_error", "a task it needs could not be scheduled"),
    ("scheduling_error", "its task could not be scheduled (complete() or requires() raised)"),
    ("upstream_run_by_other_worker", "a task it needs was being run by another worker"),
    ("still_pending_ext", "an external input is missing"),
    ("run_by_other_worker", "another worker was running it and stopped before finishing it"),
    ("not_run", "not run (the scheduler gave this worker no permission to run it)"),
    ("still_pending", "still pending when the workers stopped"),
)

#: Why a batch luigid has as done, whose outputs are missing here, is not run.
REMEMBERED_REASON = ("luigid has it as done (another run finished it, into another output directory, or its outputs "
                     "were deleted since) and did not give it to this run; run again")


@dataclasses.dataclass
class BuildSummary:
    """What :func:`astra.build` did, per spectrum.

    :param success: whether every spectrum is done or was already complete (no failure, nothing
        left unrun). ``astra run`` exits 0 exactly then.
    :param tasks: number of tasks scheduled (batches count once).
    :param done: spectra whose outputs exist after the run (including ``skipped`` and
        ``by_others``).
    :param skipped: spectra already complete before the run.
    :param by_others: spectra another run (a concurrent ``astra run``, another luigid worker)
        completed during this run.
    :param failed: ``(task_id, reason)`` of spectra that failed (at most
        :data:`~astra.tasks.batch_run.MAX_REPORTED_FAILURES` per batch run in another process;
        :attr:`n_failed` is the exact count).
    :param n_failed: number of spectra that failed.
    :param retried: spectra tried more than once for a transient error (the method's retry
        policy, :mod:`astra.retry`), whether they then succeeded or failed.
    :param not_run: spectra neither done nor failed.
    :param not_run_reasons: why, as ``{reason: number of spectra}``.
    :param luigi_summary: Luigi's own summary text.
    """

    success: bool
    tasks: int
    done: int = 0
    skipped: int = 0
    by_others: int = 0
    failed: list = dataclasses.field(default_factory=list)
    n_failed: int = 0
    retried: int = 0
    not_run: int = 0
    not_run_reasons: dict = dataclasses.field(default_factory=dict)
    luigi_summary: str = ""

    def add_failure(self, task_id, reason):
        """Count one failed spectrum."""
        self.n_failed += 1
        self.failed.append((task_id, reason))

    def add_not_run(self, count, reason):
        """Count ``count`` spectra not run, for ``reason``."""
        if count:
            self.not_run += count
            self.not_run_reasons[reason] = self.not_run_reasons.get(reason, 0) + count

    def __str__(self):
        others = f", {self.by_others} done by another run" if self.by_others else ""
        text = f"{self.done} spectra done ({self.skipped} already complete{others}), {self.n_failed} failed"
        grouped = {}  # a cause that fails every spectrum after it is said once, not once per spectrum
        for task_id, reason in self.failed:
            cause = next((c for c in REPEATED_CAUSES if c[1](reason)), None)
            if cause is not None:
                grouped.setdefault(cause, []).append((task_id, reason))
        if grouped:
            text += " (" + "; ".join(cause[0] for cause in grouped) + ")"
        if self.retried:
            text += f", {self.retried} retried after a transient error"
        if self.not_run:
            text += f", {self.not_run} not run"
        for reason, count in self.not_run_reasons.items():
            text += f"\n  not run ({count}): {reason}"
        for (_, _, advice), failures in grouped.items():
            text += f"\n  failed ({len(failures)}): {failures[0][1]} (first: {failures[0][0]}); {advice}"
        listed = {failure for failures in grouped.values() for failure in failures}
        shown = [failure for failure in self.failed if failure not in listed][:20]
        for task_id, reason in shown:
            text += f"\n  failed: {task_id}: {reason}"
        if self.n_failed > len(shown) + len(listed):
            text += f"\n  ... and {self.n_failed - len(shown) - len(listed)} more failures"
        return text


def _database_lost(reason):
    from astra.database.reconnect import connection_lost_text

    return connection_lost_text(reason)


#: Causes that fail every spectrum after them, said once in a summary: (what the summary line
#: says, predicate of a failure's reason, what to do).
REPEATED_CAUSES = (
    ("No space left on device", disk_full, "free space where the outputs go, then run again"),
    ("the results database could not be reached", _database_lost,
     "run again when it answers (setting database_reconnect_seconds: how long a run waits for it)"),
)


class _RecordingScheduler:
    """A scheduler (local or luigid's) that keeps what this worker reports of finished tasks."""

    def __init__(self, scheduler):
        self._scheduler = scheduler
        self.reports = {}  # task_id -> (status, explanation)

    def add_task(self, *args, **kwargs):
        status = kwargs.get("status")
        if status in (DONE, FAILED) and kwargs.get("expl") is not None:
            self.reports[kwargs.get("task_id")] = (status, kwargs["expl"])
        return self._scheduler.add_task(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._scheduler, name)


class RecordingFactory(WorkerSchedulerFactory):
    """Luigi's worker and scheduler factory, with a :class:`_RecordingScheduler`.

    Pass it as ``worker_scheduler_factory`` to :func:`luigi.build`; ``scheduler`` is then the
    recording scheduler.
    """

    scheduler = None

    def __init__(self):
        super().__init__()
        #: task_id -> (status, explanation) of every task this process finished, over all the
        #: schedulers made (one per :func:`luigi.build` call).
        self.reports = {}

    def _recording(self, scheduler):
        self.scheduler = _RecordingScheduler(scheduler)
        self.scheduler.reports = self.reports
        return self.scheduler

    def create_local_scheduler(self):
        """Luigi's in-process scheduler, recording."""
        return self._recording(super().create_local_scheduler())

    def create_remote_scheduler(self, url):
        """A client of luigid at ``url``, recording."""
        return self._recording(super().create_remote_scheduler(url))


def _explanation(text):
    """The text of an explanation as Luigi's worker sent it (JSON-encoded)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return text
    return value if isinstance(value, str) else text


def _error_of(text):
    """The exception line (``Type: message``) of a failed task's explanation."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~")) and ":" in line and not line.startswith("Traceback"):
            return line
    return lines[-1] if lines else "failed"


def _size(task):
    get_size = getattr(task, "get_batch_size", None)
    return get_size() if get_size is not None else 1


#: Default of the ``other_worker_timeout`` setting (seconds).
DEFAULT_OTHER_WORKER_TIMEOUT = 3600.0


def other_worker_timeout():
    """The ``other_worker_timeout`` setting: most seconds to wait for batches another worker runs.

    :raises ValueError: naming the setting when it is not a number.
    """
    value = astra.config.get("other_worker_timeout", DEFAULT_OTHER_WORKER_TIMEOUT)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting other_worker_timeout must be a number of seconds; got {value!r}") from None


def wait_for_others(scheduler, task_ids, timeout=None):
    """Wait while luigid says another worker is running any of ``task_ids``.

    :param scheduler: the scheduler (luigid's client) the run used.
    :param task_ids: the batches to wait for.
    :param timeout: most seconds to wait (default: :func:`other_worker_timeout`).
    :returns: the ids still running when the wait ended (after the timeout, or when luigid
        cannot be asked: then all of them are returned).
    """
    waiting = set(task_ids)
    timeout = other_worker_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    announced = False
    while waiting:
        try:
            running = scheduler.task_list("RUNNING", "", limit=False)
        except Exception as error:  # luigid went away: count what is there
            logger.warning("cannot ask the scheduler about running tasks: %s", error)
            return waiting
        waiting &= set(running or ())
        if not waiting:
            break
        if time.monotonic() >= deadline:
            print(f"astra: stopped waiting (setting other_worker_timeout: {other_worker_timeout():g} s) for "
                  f"{len(waiting)} batches another worker is still running", file=sys.stderr)
            return waiting
        if not announced:
            print(f"astra: waiting for {len(waiting)} batches another worker is running", file=sys.stderr)
            announced = True
        time.sleep(WAIT_INTERVAL)
    return waiting


def others_outcome(scheduler, task_id):
    """The :class:`BatchOutcome` another worker reported to the scheduler for ``task_id``, or ``None``."""
    try:
        reply = scheduler.fetch_error(task_id)
    except Exception as error:  # an old or unreachable luigid: counted from the outputs then
        logger.debug("cannot fetch the outcome of %s: %s", task_id, error)
        return None
    text = reply.get("error") if isinstance(reply, dict) else None
    return BatchOutcome.from_text(_explanation(text)) if text else None


def _missing(task):
    """How many members of ``task`` have no outputs now (asked afresh)."""
    incomplete = getattr(task, "incomplete_batch_tasks", None)
    if incomplete is None:  # a plain Luigi task: one spectrum
        return 0 if task.complete() else 1
    return len(incomplete(fresh=True))


def outcome_holds(task, outcome):
    """Whether the outputs of ``task`` bear out an outcome another run reported for it.

    What luigid remembers of a batch, and what another run said it did, is a hint, never proof:
    that run may have written into another output directory, or its outputs may have been
    deleted since. The outcome holds when every member it counts as done or complete has its
    outputs now (asked afresh): only the members it counts as failed or unrun may be missing.

    :param task: a batch (or a plain Luigi task).
    :param outcome: the :class:`~astra.tasks.batch_run.BatchOutcome` another run reported.
    """
    unrun = max(0, outcome.total - outcome.skipped - outcome.by_others - outcome.done - outcome.failed)
    return _missing(task) <= outcome.failed + unrun


def done_cooldown():
    """Seconds luigid ignores "pending" for a batch it has just seen done (Luigi's
    ``[scheduler] stable_done_cooldown_secs``, as this process's Luigi configuration says)."""
    try:
        return stable_done_cooldown()
    except Exception:  # an unreadable setting: Luigi's default
        return 10.0


def categories(result):
    """Luigi's summary category of each task of a run: ``{task_id: "already_done", ...}``.

    :param result: Luigi's :class:`~luigi.execution_summary.LuigiRunResult`.
    """
    states = summary_states(result.worker)
    category = {}
    for name in ("already_done",) + tuple(n for n, _ in _NOT_RUN_REASONS):
        for task in states.get(name, ()):
            category.setdefault(task.task_id, name)
    return category


def abandoned_by_others(scheduler, batches, still_running, timeout=None):
    """The batches another worker left without their outputs here, once luigid offers them.

    * When the worker running a batch dies, luigid marks the batch failed (after
      ``worker_disconnect_delay``) and pending again ``retry_delay`` seconds later.
    * When luigid remembers a batch as done (another run finished it, into another output
      directory, or its outputs were deleted since), it ignores a new "pending" for
      ``stable_done_cooldown_secs`` after it was done (:func:`done_cooldown`), then accepts it.

    A run that has nothing else to do then runs such a batch itself rather than leave it unrun
    or count it done from what luigid says: this waits (at most ``timeout`` seconds) until such
    a batch is pending, or luigid's memory of it as done is old enough to be overridden.

    :param scheduler: luigid's client.
    :param batches: the batches another worker was running, or luigid gave to no worker.
    :param still_running: ids of those still running (not waited for here).
    :param timeout: most seconds to wait (default: :func:`other_worker_timeout`).
    :returns: the batches to run again: their outputs are missing here, except those of
        members another worker reported as failed.
    """
    candidates = [t for t in batches if t.task_id not in still_running]
    candidates = [t for t in candidates if not _outputs_exist(scheduler, t)]
    deadline = time.monotonic() + (other_worker_timeout() if timeout is None else timeout)
    cooldown = done_cooldown()
    while candidates:
        try:
            pending = set(scheduler.task_list("PENDING", "", limit=False) or ())
            failed = set(scheduler.task_list("FAILED", "", limit=False) or ())
            done = scheduler.task_list("DONE", "", limit=False) or {}
        except Exception as error:  # luigid went away: nothing can be run through it
            logger.warning("cannot ask the scheduler about pending tasks: %s", error)
            return []
        ready = [t for t in candidates if t.task_id in pending]
        remembered = [t for t in candidates if t.task_id in done]
        young = []
        for task in remembered:  # luigid's memory of it as done, against its outputs here
            age = time.time() - float(done[task.task_id].get("last_updated") or 0)
            (ready if age > cooldown else young).append(task)
        # A dead worker's batch is failed until its retry_delay has passed, then pending.
        waiting = young or any(t.task_id in failed for t in candidates)
        if ready or not waiting or time.monotonic() >= deadline:
            return ready
        time.sleep(WAIT_INTERVAL)
    return []


def _outputs_exist(scheduler, task):
    """Whether ``task``'s outputs bear out what another worker reported of it to luigid (all of
    them exist when it reported nothing)."""
    outcome = others_outcome(scheduler, task.task_id)
    if outcome is not None:
        return outcome_holds(task, outcome)
    return _missing(task) == 0


#: Why a batch another worker still ran when this run stopped waiting is not counted as done.
STILL_RUNNING_REASON = "another worker was still running it when this run stopped waiting (other_worker_timeout)"


def summarise(batches, result, factory=None, categories_of=None, still_running=None):
    """The per-spectrum :class:`BuildSummary` of a Luigi run of ``batches``.

    :param batches: the tasks given to Luigi.
    :param result: Luigi's :class:`~luigi.execution_summary.LuigiRunResult`.
    :param factory: the :class:`RecordingFactory` the run used (``None``: no reports, every
        batch is counted from its outputs).
    :param categories_of: Luigi's category of each batch (default: :func:`categories` of
        ``result``; :func:`astra.build` passes them merged over its passes).
    :param still_running: ids of the batches another worker still ran when the run stopped
        waiting for them (default: wait here, see :func:`wait_for_others`).
    :returns: a :class:`BuildSummary`.
    """
    category = categories(result) if categories_of is None else categories_of
    scheduler = factory.scheduler if factory is not None else None
    reports = factory.reports if factory is not None else {}
    others = [t.task_id for t in batches if category.get(t.task_id) == "run_by_other_worker"]
    if still_running is None:
        still_running = wait_for_others(scheduler, others) if others and scheduler is not None else set()

    summary = BuildSummary(success=False, tasks=len(batches), luigi_summary=result.summary_text)
    reasons = dict(_NOT_RUN_REASONS)
    for task in batches:
        size = _size(task)
        state = category.get(task.task_id)
        if state == "already_done":
            summary.skipped += size
            summary.done += size
            continue
        report = reports.get(task.task_id)
        outcome = None
        error = None
        if report is not None:
            status, text = report[0], _explanation(report[1])
            outcome = BatchOutcome.from_text(text)
            if outcome is None and status == FAILED:
                error = _error_of(text)
        by_other_run = False
        if report is None and state in OTHERS_STATES and scheduler is not None:
            if task.task_id in still_running:
                state = "still_running"
            else:  # what the worker that ran it reported to luigid, if its outputs bear it out
                outcome = others_outcome(scheduler, task.task_id)
                if outcome is not None and not outcome_holds(task, outcome):
                    outcome, state = None, "remembered_done"
                by_other_run = outcome is not None
        if outcome is not None:
            _count_outcome(task, outcome, summary, by_other_run)
        else:
            reason = {"still_running": STILL_RUNNING_REASON, "remembered_done": REMEMBERED_REASON}.get(
                state, reasons.get(state, "not run"))
            before = dataclasses.replace(summary, failed=list(summary.failed),
                                         not_run_reasons=dict(summary.not_run_reasons))
            try:
                _count_outputs(task, summary, error, reason, ran_here=report is not None, state=state)
            except Exception as check_error:  # the results database went away: nothing counted as done
                summary.__dict__.update(before.__dict__)
                _count_unchecked(task, summary, error, check_error)
    summary.success = summary.n_failed == 0 and summary.not_run == 0
    return summary


def _count_outcome(task, outcome, summary, by_other_run=False):
    """Count a batch from a :class:`BatchOutcome`.

    :param by_other_run: the outcome is another run's (a luigid worker's): what it did counts
        as done by another run.
    """
    others = outcome.by_others + (outcome.done if by_other_run else 0)
    summary.done += outcome.done + outcome.by_others + outcome.skipped
    summary.by_others += others
    summary.skipped += outcome.skipped
    summary.retried += outcome.retried
    own = task.__dict__.get("batch_outcome") if hasattr(task, "__dict__") else None
    failures = own.failures if own is not None and own.failed == outcome.failed else outcome.failures
    for task_id, reason in failures:
        summary.add_failure(task_id, reason)
    summary.n_failed += outcome.failed - len(failures)
    left = outcome.total - outcome.skipped - outcome.by_others - outcome.done - outcome.failed
    summary.add_not_run(left, "the batch stopped early")


#: Luigi's categories of a batch this run's worker left to others (luigid knows its outcome), or
#: left pending when it stopped (luigid gave it to no one: e.g. it took this worker for gone
#: while it was busy forking).
OTHERS_STATES = ("run_by_other_worker", "not_run")


def _count_unchecked(task, summary, error, check_error):
    """Count a batch whose outputs cannot be checked (the results database cannot be reached):
    none of its spectra is counted as done. Those of a batch that raised failed with its error;
    the others are not run (or not known to be done), with the reason."""
    why = f"its results could not be checked: {type(check_error).__name__}: {_first_line(check_error)}"
    if error:
        reason = error if _first_line(check_error) in error else f"{error} ({why})"
        for member in (task.get_batch_tasks() if hasattr(task, "get_batch_tasks") else [task]):
            summary.add_failure(member.task_id, reason)
    else:
        summary.add_not_run(_size(task), why)


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _count_outputs(task, summary, error, not_run_reason, ran_here=True, state=None):
    """Count a batch from its outputs: one completeness pass and one listing of failure records.

    :param error: the exception of a batch whose ``run()`` raised: its incomplete members failed
        with it.
    :param not_run_reason: why an incomplete member without a failure record did not run.
    :param ran_here: whether this process ran the batch. The complete members of a batch it did
        not run are not its work: done by another run when another worker had the batch (or as
        noted before waiting for it), else already complete.
    :param state: Luigi's category of the batch.
    """
    incomplete_members = getattr(task, "incomplete_batch_tasks", None)
    if incomplete_members is None:  # a plain Luigi task: one spectrum
        if task.complete():
            summary.done += 1
        elif error:
            summary.add_failure(task.task_id, error)
        else:
            summary.add_not_run(1, not_run_reason)
        return
    incomplete = incomplete_members(fresh=True)
    complete = task.get_batch_size() - len(incomplete)
    summary.done += complete
    before = task.__dict__.get(INCOMPLETE_WHEN_CLAIMED)  # noted before waiting for another worker
    if complete and (before is not None or not ran_here):
        written = written_during_build(task)  # file outputs say when they were written
        if written is None and before is not None:
            written = max(0, min(before, task.get_batch_size()) - len(incomplete))
        elif written is None:  # by who had the batch
            written = complete if state in OTHERS_STATES or state == "still_running" else 0
        summary.by_others += written
        summary.skipped += complete - written
    if not incomplete:
        return
    if error:
        for member in incomplete:
            summary.add_failure(member.task_id, error)
        return
    recorded = task.recorded_failures()
    unrun = 0
    for member in incomplete:
        reason = member.failure_reason() if member.identity_hash in recorded else None
        if reason:
            summary.add_failure(member.task_id, reason)
        else:
            unrun += 1
    summary.add_not_run(unrun, not_run_reason)

