"""Recording batches for ``astra web``: a subscriber to the engine's events.

:class:`RunRecorder` listens to the events of every batch (:mod:`astra.core.events`), of both
method styles, and records them in the run a process belongs to (:mod:`astra.runs`): live
counts (:func:`batch_started`, :func:`batch_progress`, :func:`batch_finished`), a batch log
(``<output_dir>/runs/<id>/batch-<n>.log``), each failed spectrum with its reason, file and
parameters (:func:`record_member_failure`; ``/failures`` offers to retry it) and a tracking URL
for luigid's UI. Importing this module subscribes it; nothing here ever fails a run.
"""

import json
import os
import shlex
import socket
import sys

import astra.config
from astra.targets import first_input_path
from astra.core.events import subscribe
from astra.runs import (
    ENV_PARENT,
    ENV_RUN_ID,
    _attach,
    _detach,
    _file_handler,
    _guarded,
    _models,
    _user,
    batch_summary,
    enabled,
    logger,
    runs_directory,
    task_name,
)

__all__ = [
    "BatchRecord",
    "RunRecorder",
    "batch_started",
    "batch_progress",
    "record_member_failure",
    "batch_finished",
    "batch_url",
    "WORKER_KIND",
]


# ---------------------------------------------------------------------------------- batches


class BatchRecord:
    """The batch row a running batch reports to.

    :param run_id: its run.
    :param batch_id: its :class:`~astra.models.run.RunBatch` id.
    :param handler: its log's handler.
    :param total: members in the batch.
    :param skipped: members already complete.
    """

    def __init__(self, task, run_id, batch_id, handler, total, skipped, worker_run=False):
        self.task = task
        self.run_id = run_id
        self.batch_id = batch_id
        self.handler = handler
        self.total = total
        self.skipped = skipped
        #: Whether the run is a ``luigi worker`` run (its state follows its batches).
        self.worker_run = worker_run
        #: The (done, failed, skipped) last written to the batch row (and added to the run's).
        self.counts = (0, 0, skipped)

    def write_counts(self, done, failed, **fields):
        """Write the batch row's counts (and ``fields``) and add their change to the run's.

        The run's counts move by this batch's change, not by a sum over all its batches: a
        run of a thousand batches costs the same per batch as a run of ten.
        """
        from astra.models.run import RunBatch

        new = (done, failed, self.skipped)
        delta = [now - before for now, before in zip(new, self.counts)]
        with RunBatch._meta.database.atomic():
            RunBatch.update(done=done, failed=failed, **fields).where(RunBatch.id == self.batch_id).execute()
            _add_run_counts(self.run_id, *delta)
        self.counts = new


def batch_url(run_id, batch_id):
    """The batch's page in ``astra web`` (the ``web_url`` setting, e.g. ``http://127.0.0.1:8000``)."""
    base = str(astra.config.get("web_url") or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/runs/{run_id}/batches/{batch_id}"


@_guarded("the start of a batch")
def batch_started(task, pending, skipped):
    """A batch begins its members: mark it running, open its log, give luigid its URL.

    :param task: the batch task.
    :param pending: members to process.
    :param skipped: members already complete.
    :returns: a :class:`BatchRecord`, or ``None`` when no run is being recorded.
    """
    if not enabled():
        return None
    run_id = os.environ.get(ENV_RUN_ID) or _worker_run(task)
    if not run_id:
        return None
    from astra.models.run import utcnow

    Run, RunBatch, _ = _models()
    run_id = int(run_id)
    batch = RunBatch.get_or_none((RunBatch.run == run_id) & (RunBatch.task_id == task.task_id))
    if batch is None:  # a batch merged by luigid, or run by a worker this build did not schedule
        batch = RunBatch.create(run=run_id, task_id=task.task_id, task_family=task.get_task_family(),
                                summary=batch_summary(task), total=pending + skipped)
    log_path = os.path.join(runs_directory(), str(run_id), f"batch-{batch.id}.log")
    worker_run = _is_worker_run(run_id)
    with RunBatch._meta.database.atomic():
        RunBatch.update(
            state="running", host=socket.gethostname(), pid=os.getpid(), started=utcnow(), total=pending + skipped,
            skipped=skipped, done=0, failed=0, log_path=log_path,
        ).where(RunBatch.id == batch.id).execute()
        # A batch run again (after a claim was released, or retried) replaces its earlier counts.
        _add_run_counts(run_id, -(batch.done or 0), -(batch.failed or 0), skipped - (batch.skipped or 0))
    if worker_run:
        _follow_batches(run_id)
    handler = _file_handler(log_path)
    _attach(handler)
    if callable(getattr(task, "set_tracking_url", None)):
        task.set_tracking_url(batch_url(run_id, batch.id))
    logger.info("%s batch %d started on %s (pid %d): %s; %d to do, %d already complete", task.get_task_family(),
                batch.id, socket.gethostname(), os.getpid(), batch_summary(task), pending, skipped)
    return BatchRecord(task, run_id, batch.id, handler, pending + skipped, skipped, worker_run)


#: The kind of run recorded for the Luigi workers of an ``astra srun`` job.
WORKER_KIND = "luigi worker"


def _worker_run(task):
    """The run of a Luigi worker started by an ``astra srun`` job (``ASTRA_RUN_PARENT`` set).

    ``luigi --module ...`` workers have no build to record. A worker process and the task
    processes it forks (``--workers N``) share one process group: its first batch records a
    run of kind ``luigi worker`` under the submission (``pid`` is the process group), later
    batches join it. Its state follows its batches (running while one runs).
    """
    parent = os.environ.get(ENV_PARENT)
    if not parent or not parent.isdigit():
        return None
    from astra.models.run import utcnow

    Run, _, _ = _models()
    group, host = os.getpgid(0), socket.gethostname()
    run = Run.get_or_none((Run.parent == int(parent)) & (Run.kind == WORKER_KIND) & (Run.host == host)
                          & (Run.pid == group))
    if run is None:
        run = Run.create(
            kind=WORKER_KIND, task=task_name(task), task_family=task.get_task_family(), parent=int(parent),
            command=" ".join(shlex.quote(a) for a in sys.argv), host=host, user=_user(), pid=group,
            state="running", started=utcnow(),
        )
        Run.update(log_path=os.path.join(runs_directory(), str(run.id), "run.log")).where(Run.id == run.id).execute()
    os.environ[ENV_RUN_ID] = str(run.id)
    return str(run.id)


_worker_runs = {}  # run id -> whether it is a luigi worker run (asked once per run and process)


def _is_worker_run(run_id):
    known = _worker_runs.get(run_id)
    if known is None:
        from astra.models.run import Run

        known = _worker_runs[run_id] = Run.select(Run.kind).where(Run.id == run_id).scalar() == WORKER_KIND
    return known


def _follow_batches(run_id):
    """A ``luigi worker`` run's state from its batches: running while one runs, else done or failed."""
    from astra.models.run import Run, RunBatch, utcnow

    peewee = sys.modules["peewee"]
    count, total, running, failed = RunBatch.select(
        peewee.fn.COUNT(RunBatch.id),
        peewee.fn.COALESCE(peewee.fn.SUM(RunBatch.total), 0),
        peewee.fn.COALESCE(peewee.fn.SUM(peewee.Case(None, [(RunBatch.state == "running", 1)], 0)), 0),
        peewee.fn.COALESCE(peewee.fn.SUM(peewee.Case(None, [(RunBatch.state == "failed", 1)], 0)), 0),
    ).where(RunBatch.run == run_id).tuples().get()
    if running:
        fields = dict(state="running", ended=None)
    else:
        fields = dict(state="failed" if failed else "done", ended=utcnow())
    Run.update(total=total, batches=count, **fields).where((Run.id == run_id) & (Run.kind == WORKER_KIND)).execute()


def _add_run_counts(run_id, done=0, failed=0, skipped=0):
    """Add to a running run's counts (the change of one batch's counts)."""
    if not (done or failed or skipped):
        return
    from astra.models.run import Run

    Run.update(done=Run.done + done, failed=Run.failed + failed, skipped=Run.skipped + skipped).where(
        (Run.id == run_id) & (Run.state << ("running", "stopping"))).execute()


@_guarded("the progress of a batch")
def batch_progress(record, processed, failed, message):
    """Record how far a batch got (called at most about once a second).

    :param record: what :func:`batch_started` returned (nothing is done for ``None``).
    :param processed: members processed so far (failed ones included).
    :param failed: members that failed so far.
    :param message: the status message, also written to the logs.
    """
    if record is None:
        return
    record.write_counts(processed - failed, failed, message=message)
    logger.info("%s batch %d: %s", record.task.get_task_family(), record.batch_id, message)


#: The first input file of a member (for its failure record): one definition, in astra.targets.
input_path = first_input_path


@_guarded("a failed spectrum")
def record_member_failure(record, failure):
    """Record one failed member: its reason, input file and parameters (for a retry).

    :param record: what :func:`batch_started` returned (nothing is done for ``None``).
    :param failure: a :class:`~astra.core.events.MemberFailure`.
    """
    if record is None:
        return
    from astra.models.run import RunFailure

    _models()
    member = failure.member
    keys, name, path = {}, task_name(record.task), failure.path
    if member is not None:
        keys = {k: v for k, v in member.to_str_params(only_significant=True).items() if not k.startswith("astra_")}
        name = task_name(member)
        if path is None:
            path = input_path(member)
    RunFailure.create(
        run=record.run_id, batch=record.batch_id, task_id=failure.task_id, task=name, reason=failure.reason,
        path=path, keys=json.dumps(keys), traceback=failure.traceback,
    )


@_guarded("the end of a batch")
def batch_finished(record, processed, failed, message):
    """A batch finished its members: final counts, state, and its log closed.

    :param record: what :func:`batch_started` returned (nothing is done for ``None``).
    :param processed: members processed (failed ones included).
    :param failed: members that failed.
    :param message: the final status message.
    """
    if record is None:
        return
    from astra.models.run import utcnow

    try:
        record.write_counts(processed - failed, failed, message=message, ended=utcnow(),
                            state="failed" if failed else "done")
        if record.worker_run:
            _follow_batches(record.run_id)
        logger.info("%s batch %d finished: %s", record.task.get_task_family(), record.batch_id, message)
    finally:
        _detach(record.handler)


class RunRecorder:
    """Run recording for ``astra web`` as a subscriber to the engine's events
    (:mod:`astra.core.events`): every batch of either method style is recorded the same way."""

    def batch_started(self, run):
        """A batch begins: its :class:`BatchRecord` (members done by another run count as skipped)."""
        run.state["runs"] = batch_started(run.batch, run.pending, run.skipped + run.by_others)

    def batch_progress(self, run):
        """Counts moved."""
        batch_progress(run.state.get("runs"), run.done, run.failed, run.message())

    def member_failed(self, run, failure):
        """A spectrum failed: a :class:`~astra.models.run.RunFailure` row."""
        record_member_failure(run.state.get("runs"), failure)

    def batch_finished(self, run):
        """The batch is over."""
        batch_finished(run.state.get("runs"), run.done, run.failed, run.message())


subscribe(RunRecorder())
