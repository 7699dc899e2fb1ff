"""Running tasks in batches: :func:`build` groups them (:func:`batch_tasks`, from
:mod:`astra.tasks.grouping`), runs them with Luigi and summarises what happened.
"""

import logging

import luigi

import astra.config
from astra.tasks.base import BaseTask
from astra.tasks.batch_run import report_member_failures_only
from astra.tasks.grouping import batch_tasks
from astra.tasks.summary import BuildSummary, RecordingFactory, summarise

__all__ = ["batch_tasks", "build", "BuildSummary"]

logger = logging.getLogger("astra")


def build(
    tasks,
    max_batch_size=None,
    workers=1,
    local_scheduler=None,
    scheduler_host=None,
    scheduler_port=None,
    log_level="WARNING",
    share_batches=True,
    **luigi_kwargs,
):
    """Group ``tasks`` into batches and run them with Luigi.

    :param tasks: tasks (single spectra or batches).
    :param max_batch_size: most members per batch (default: the ``max_batch_size`` setting).
    :param workers: Luigi worker processes.
    :param local_scheduler: use Luigi's in-process scheduler; default true unless a
        ``scheduler_host`` is given here or in the settings (then luigid is used).
    :param scheduler_host: host of a central ``luigid``.
    :param scheduler_port: its port (default 8082).
    :param log_level: Luigi's log level.
    :param share_batches: keep only this process's share of the batches under ``astra srun``
        (:func:`astra.cluster.select_share`); false when the caller has already given this
        process only its own work (``astra run --range-per-process``).
    :param luigi_kwargs: passed to :func:`luigi.build`.
    :returns: a :class:`~astra.tasks.summary.BuildSummary`, per spectrum; its ``success`` is
        true exactly when every spectrum is done or was already complete.
    """
    batches = batch_tasks(tasks, max_batch_size=max_batch_size)
    from astra.cluster.partition import select_share  # only this process's share under astra srun

    if share_batches:
        batches = select_share(batches)
    scheduler_host = scheduler_host or astra.config.get("scheduler_host")
    if local_scheduler is None:
        local_scheduler = not scheduler_host
    if not local_scheduler:
        luigi_kwargs["scheduler_host"] = scheduler_host or "localhost"
        luigi_kwargs["scheduler_port"] = int(scheduler_port or astra.config.get("scheduler_port") or 8082)
    from astra.runs import record_build  # every build is recorded for astra web

    factory = RecordingFactory()
    with record_build(batches) as finish, report_member_failures_only():
        result = luigi.build(
            batches,
            workers=workers,
            local_scheduler=local_scheduler,
            log_level=log_level,
            detailed_summary=True,
            worker_scheduler_factory=factory,
            **luigi_kwargs,
        )
        summary = summarise(batches, result, factory)
        finish(summary, result)
    return summary
