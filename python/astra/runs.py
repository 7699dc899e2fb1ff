"""Recording runs for ``astra web``: every ``astra run``, ``astra srun`` and ``astra.build``.

The hooks here are called from a few places and never fail the work they record (a database
that cannot be written gives one warning, and the run goes on):

* :func:`astra.tasks.batch.build` wraps its Luigi run in :func:`record_build`: a
  :class:`~astra.models.run.Run` row, a :class:`~astra.models.run.RunBatch` row per batch
  and a run log file (``<output_dir>/runs/<id>/run.log``);
* :class:`astra.run_recorder.RunRecorder` listens to the engine's events (:mod:`astra.core.events`) of every
  batch, of both method styles, and records them (:mod:`astra.run_recorder`): live
  counts, a batch log (``<output_dir>/runs/<id>/batch-<n>.log``), the failed spectra with
  their reason, file and parameters (``/failures`` offers to retry them), and a tracking URL
  for luigid's UI;
* ``astra srun`` records its submission with :func:`record_submission`; the runs its jobs
  start name it as their parent (``ASTRA_RUN_PARENT``).

A process learns which run it belongs to from ``ASTRA_RUN_ID`` (set by :func:`record_build`
for the duration of the build, so Luigi's forked workers inherit it, or by ``astra web`` for
a run it starts). Set ``record_runs: false`` to record nothing.
"""

import contextlib
import contextvars
import functools
import getpass
import json
import logging
import os
import shlex
import socket
import sys

import astra.config
from astra.logfiles import LogFile
from astra.luigi_glue.running import summary_states
from astra.parameters import is_batch_value

__all__ = [
    "ENV_RUN_ID",
    "ENV_PARENT",
    "enabled",
    "runs_directory",
    "batch_summary",
    "record_build",
    "command",
    "recorded_as",
    "record_submission",
    "task_name",
]

#: The run a process (and its forked Luigi workers) records into.
ENV_RUN_ID = "ASTRA_RUN_ID"
#: The run (e.g. an ``astra srun`` submission) that a new run records as its parent.
ENV_PARENT = "ASTRA_RUN_PARENT"

#: Log lines about runs and batches (written to the run and batch logs, not the console).
logger = logging.getLogger("astra.runs")
logger.setLevel(logging.INFO)
logger.propagate = False

#: Loggers whose records go into the run and batch logs besides ``astra.runs``.
_CAPTURED = ("astra", "luigi-interface")
_warned = set()
_attached = set()  # ASTRA_RUN_ID values a build in this process has already attached to


def enabled():
    """Whether runs are recorded (the ``record_runs`` setting, true by default)."""
    value = astra.config.get("record_runs", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def runs_directory():
    """Where run and batch logs are written: ``<output_dir>/runs``."""
    return os.path.join(astra.config.get("output_dir") or os.path.abspath("astra-output"), "runs")


def task_name(task_or_class):
    """A task class's importable name, ``module.Class``.

    :param task_or_class: a task or task class.
    """
    cls = task_or_class if isinstance(task_or_class, type) else type(task_or_class)
    return f"{cls.__module__}.{cls.__name__}"


def _warn(what, error):
    key = (what, type(error).__name__)
    if key not in _warned:
        _warned.add(key)
        logging.getLogger("astra").warning("could not record %s for astra web: %s: %s", what, type(error).__name__, error)


def _guarded(what):
    """Run the decorated hook; on any error warn once and return ``None``."""

    def decorate(function):
        def wrapped(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as error:  # recording must never fail the work it records
                _warn(what, error)
                return None

        wrapped.__name__ = function.__name__
        wrapped.__doc__ = function.__doc__
        return wrapped

    return decorate


def _models():
    from astra.models.run import Run, RunBatch, RunFailure, ensure_run_tables

    ensure_run_tables()
    return Run, RunBatch, RunFailure


def _user():
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container without a passwd entry
        return str(os.getuid())


def _file_handler(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return LogFile(path)  # one warning, not a traceback per record, when the disk is full


def _attach(handler):
    for name in ("astra.runs",) + _CAPTURED:
        logging.getLogger(name).addHandler(handler)


def _detach(handler):
    for name in ("astra.runs",) + _CAPTURED:
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def batch_summary(task, first=3):
    """A short description of a batch: how many members and the keys of the first few.

    ``EstimateSNR`` batch of 1,000 -> ``"1000 spectra: obj=2M0001+01, 2M0002+02, 2M0003+03, ..."``.
    Keys without a value are left out.

    :param task: a task (a batch or a single spectrum).
    :param first: how many members to name.
    :returns: the text.
    """
    size = task.get_batch_size() if hasattr(task, "get_batch_size") else 1
    names = task.batch_param_names() if hasattr(task, "batch_param_names") else []
    kwargs = task.param_kwargs
    if size <= 1:
        parts = [f"{n}={kwargs[n]}" for n in names if kwargs.get(n) not in (None, "")]
        return ", ".join(parts) or task.task_id
    varying = [n for n in names if is_batch_value(kwargs.get(n))]
    shown = []
    for name in varying:
        values = [v for v in kwargs[name][:first] if v not in (None, "")]
        if values:
            more = ", ..." if size > first else ""
            shown.append(f"{name}={', '.join(str(v) for v in values)}{more}")
    text = f"{size} spectra"
    return f"{text}: {'; '.join(shown)}" if shown else text


def _significant_params(task):
    """The non-batch significant parameters of ``task`` as text (what a run is started with)."""
    batch = set(task.batch_param_names()) if hasattr(task, "batch_param_names") else set()
    params = task.to_str_params(only_significant=True, only_public=True)
    return {k: v for k, v in params.items() if k not in batch and not k.startswith("astra_")}


def _describe(batches):
    classes = {task_name(t) for t in batches}
    task = classes.pop() if len(classes) == 1 else (", ".join(sorted(classes)) or None)
    family = batches[0].get_task_family() if batches and len({type(t) for t in batches}) == 1 else None
    return task, family


_command = contextvars.ContextVar("astra_run_command", default=None)


@contextlib.contextmanager
def command(kind):
    """Builds inside the block are recorded as runs of ``kind`` (e.g. ``"astra run"``).

    :param kind: what started them; without this, a build is recorded as ``astra.build``.
    """
    token = _command.set(kind)
    try:
        yield
    finally:
        _command.reset(token)


def recorded_as(kind):
    """Decorate a function whose builds are recorded as runs of ``kind`` (see :func:`command`).

    :param kind: e.g. ``"astra run"``.
    """

    def decorate(function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with command(kind):
                return function(*args, **kwargs)

        return wrapped

    return decorate


def _kind():
    kind = _command.get()
    if kind:
        return kind
    argv = sys.argv
    program = os.path.basename(argv[0]) if argv else ""
    if program in ("astra", "cli.py", "__main__.py") and len(argv) > 1 and argv[1] in ("run", "demo"):
        return f"astra {argv[1]}"
    return "astra.build"


class BuildRecord:
    """The run being recorded by one :func:`record_build`.

    :param run_id: the :class:`~astra.models.run.Run` id.
    :param batch_ids: batch task id -> :class:`~astra.models.run.RunBatch` id.
    :param handler: the run log's handler.
    """

    def __init__(self, run_id, batch_ids, handler):
        self.run_id = run_id
        self.batch_ids = batch_ids
        self.handler = handler


@_guarded("the start of a run")
def _start_build(batches):
    from astra.models.run import utcnow

    Run, RunBatch, _ = _models()
    task, family = _describe(batches)
    total = sum(t.get_batch_size() if hasattr(t, "get_batch_size") else 1 for t in batches)
    params = _significant_params(batches[0]) if batches else {}
    now = utcnow()
    fields = dict(
        task=task, task_family=family, host=socket.gethostname(), user=_user(), pid=os.getpid(),
        state="running", started=now, total=total, batches=len(batches),
        command=" ".join(shlex.quote(a) for a in sys.argv),
    )
    env_id = os.environ.get(ENV_RUN_ID)
    run = None
    if env_id and env_id not in _attached:
        run = Run.get_or_none(Run.id == int(env_id))
        if run is not None:
            _attached.add(env_id)
            merged = run.parameters_dict()
            merged.setdefault("task_parameters", params)
            fields["parameters"] = json.dumps(merged)
            Run.update(**fields).where(Run.id == run.id).execute()
    if run is None:
        parent = os.environ.get(ENV_PARENT) or env_id
        fields.update(kind=_kind(), parameters=json.dumps({"task_parameters": params}),
                      parent=int(parent) if parent and parent.isdigit() else None)
        run = Run.create(**fields)
    log_path = os.path.join(runs_directory(), str(run.id), "run.log")
    Run.update(log_path=log_path).where(Run.id == run.id).execute()
    rows = [
        dict(run=run.id, task_id=t.task_id, task_family=t.get_task_family(), summary=batch_summary(t),
             total=t.get_batch_size() if hasattr(t, "get_batch_size") else 1)
        for t in batches
    ]
    RunBatch.delete().where(RunBatch.run == run.id).execute()  # a run re-attached from the web starts afresh
    for start in range(0, len(rows), 500):
        RunBatch.insert_many(rows[start : start + 500]).execute()
    batch_ids = dict(RunBatch.select(RunBatch.task_id, RunBatch.id).where(RunBatch.run == run.id).tuples())
    handler = _file_handler(log_path)
    _attach(handler)
    logger.info("run %d started: %s, %d spectra in %d batches, on %s (pid %d)", run.id, task, total,
                len(batches), fields["host"], os.getpid())
    return BuildRecord(run.id, batch_ids, handler)


@_guarded("the end of a run")
def _finish_build(record, batches, summary, result, error=None):
    from astra.models.run import Run, RunBatch, utcnow

    now = utcnow()
    if error is not None:
        Run.update(state="error", ended=now, message=f"{type(error).__name__}: {error}").where(
            Run.id == record.run_id).execute()
        logger.error("run %d stopped by %s: %s", record.run_id, type(error).__name__, error)
        return
    already = {t.task_id for t in summary_states(result.worker).get("already_done", ())}
    for task in batches:
        batch_id = record.batch_ids.get(task.task_id)
        if batch_id is not None and task.task_id in already:
            RunBatch.update(state="done", skipped=RunBatch.total, ended=now).where(RunBatch.id == batch_id).execute()
    # A batch that never reported (an upstream task failed, the scheduler gave up) did not run.
    RunBatch.update(state="not run", ended=now).where(
        (RunBatch.run == record.run_id) & (RunBatch.state == "pending")).execute()
    failed = summary.n_failed
    state = "done" if summary.success else "failed"
    logger.info("run %d %s: %s", record.run_id, state, str(summary).splitlines()[0])  # before the state changes
    Run.update(
        state=state, ended=now, done=summary.done - summary.skipped, skipped=summary.skipped, failed=failed,
        not_run=summary.not_run, message=str(summary).splitlines()[0],
    ).where(Run.id == record.run_id).execute()


@contextlib.contextmanager
def record_build(batches):
    """Record the Luigi run of ``batches`` (what :func:`astra.build` schedules).

    Use as::

        with record_build(batches) as finish:
            result = luigi.build(batches, ...)
            summary = ...
            finish(summary, result)

    :param batches: the tasks about to be scheduled.
    :returns: a context manager giving ``finish(summary, luigi_result)``.
    """
    record = _start_build(list(batches)) if enabled() and batches else None
    finished = []

    def finish(summary, result):
        if record is not None and not finished:
            finished.append(True)
            _finish_build(record, batches, summary, result)

    if record is None:
        yield finish
        return
    previous = os.environ.get(ENV_RUN_ID)
    os.environ[ENV_RUN_ID] = str(record.run_id)
    try:
        yield finish
    except BaseException as error:
        if not finished:
            _finish_build(record, batches, None, None, error=error)
        raise
    finally:
        if previous is None:
            os.environ.pop(ENV_RUN_ID, None)
        else:
            os.environ[ENV_RUN_ID] = previous
        _detach(record.handler)


@_guarded("an astra srun submission")
def record_submission(command, parameters=None):
    """Record an ``astra srun`` submission (state ``submitted``).

    :param command: the command line, as a list.
    :param parameters: what was asked for (nodes, jobs, the task's arguments).
    :returns: the run id (give it to the jobs as ``ASTRA_RUN_PARENT``), or ``None``.
    """
    if not enabled():
        return None
    from astra.models.run import utcnow

    Run, _, _ = _models()
    run = Run.create(
        kind="astra srun", task=(parameters or {}).get("task"), parameters=json.dumps(parameters or {}, default=str),
        command=" ".join(shlex.quote(a) for a in command), host=socket.gethostname(), user=_user(),
        pid=os.getpid(), state="submitted", started=utcnow(),
    )
    return run.id


@_guarded("an astra srun submission")
def finish_submission(run_id, job_ids, error=None):
    """Record the Slurm job ids of a submission, or why it failed.

    :param run_id: what :func:`record_submission` returned.
    :param job_ids: the submitted job ids.
    :param error: the error that stopped the submission, if any.
    """
    if run_id is None:
        return
    from astra.models.run import Run, utcnow

    if error is not None:
        Run.update(state="error", ended=utcnow(), message=str(error)).where(Run.id == run_id).execute()
    else:
        Run.update(message="Slurm jobs " + ", ".join(str(j) for j in job_ids)).where(Run.id == run_id).execute()
