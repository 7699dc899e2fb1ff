"""Luigi's worker, scheduler and run summary internals, behind public names."""

import luigi.interface
import luigi.scheduler
import luigi.worker
from luigi.execution_summary import _summary_dict

__all__ = ["WorkerSchedulerFactory", "DONE", "FAILED", "summary_states", "stable_done_cooldown", "TaskProcess"]

#: The factory :func:`luigi.build` takes as ``worker_scheduler_factory``, to extend.
WorkerSchedulerFactory = luigi.interface._WorkerSchedulerFactory
#: Task statuses, as a worker reports them to the scheduler.
DONE, FAILED = luigi.worker.DONE, luigi.worker.FAILED
#: The process Luigi forks for a task with ``--workers N``.
TaskProcess = luigi.worker.TaskProcess


def summary_states(worker):
    """What a run did, from its worker: ``{state: set of tasks}`` (``completed``,
    ``already_done``, ``failed``, ``still_pending_ext``, ...), as Luigi's summary counts it.

    :param worker: the worker of a :class:`luigi.execution_summary.LuigiRunResult`.
    """
    return _summary_dict(worker)


def stable_done_cooldown():
    """Seconds the scheduler ignores "pending" for a task it has just seen done
    (``[scheduler] stable_done_cooldown_secs``)."""
    return float(luigi.scheduler.scheduler().stable_done_cooldown_secs)
