"""Grouping tasks into batches, and running them: :func:`batch_tasks` and :func:`build`.

Tasks of one family whose significant non-batch parameters are identical can share one batch:
the expensive ``setup()`` (loading a model) then runs once for all of them, and the scheduler
sees one task per batch instead of one per spectrum. Insignificant parameters do not split
batches (the first task's values are used).
"""

import logging

import luigi

import astra.config
from astra.tasks import members
from astra.tasks.base import BaseTask
from astra.tasks.batch_run import report_member_failures_only
from astra.tasks.summary import BuildSummary, RecordingFactory, summarise

__all__ = ["batch_tasks", "build", "BuildSummary"]

logger = logging.getLogger("astra")


def _group_key(task):
    batch_names = set(task.batch_param_names())
    shared = tuple(sorted((n, v) for n, v in task.identity_params().items() if n not in batch_names))
    return (type(task), shared)


def _member_rows(task, batch_names):
    """The batch parameters of each member of ``task`` as tuples, without building members."""
    return members.rows(task.param_kwargs, batch_names, task.get_batch_size())


def batch_tasks(tasks, max_batch_size=None):
    """Group ``tasks`` into batch tasks.

    Tasks are grouped by class and by the values of their significant non-batch parameters;
    each group becomes batches of at most ``max_batch_size`` members, in the order the members
    were given (duplicates dropped). Tasks given as batches are split into their members first.
    Tasks that are not :class:`~astra.tasks.BaseTask` or have no batch parameters are returned
    unchanged.

    :param tasks: an iterable of tasks.
    :param max_batch_size: most members per batch (default: the ``max_batch_size`` setting).
    :returns: a list of tasks.
    """
    if max_batch_size is None:
        max_batch_size = int(astra.config.get("max_batch_size", 1000))
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")

    passthrough, groups = [], {}
    for task in tasks:
        if not isinstance(task, BaseTask) or not task.batch_param_names():
            passthrough.append(task)
            continue
        key = _group_key(task)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (task, {})
        rows = group[1]
        for row in _member_rows(task, task.batch_param_names()):
            rows.setdefault(row, None)

    batches = []
    for first, rows in groups.values():
        names = first.batch_param_names()
        shared = {n: v for n, v in first.param_kwargs.items() if n not in names}
        ordered = list(rows)
        for start in range(0, len(ordered), max_batch_size):
            chunk = ordered[start : start + max_batch_size]
            batch = type(first)(**shared, **members.from_rows(names, chunk))
            # Luigi's scheduler may merge single-spectrum tasks; never beyond this size.
            batch.max_batch_size = max_batch_size
            batches.append(batch)
    return passthrough + batches


def build(
    tasks,
    max_batch_size=None,
    workers=1,
    local_scheduler=None,
    scheduler_host=None,
    scheduler_port=None,
    log_level="WARNING",
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
    :param luigi_kwargs: passed to :func:`luigi.build`.
    :returns: a :class:`~astra.tasks.summary.BuildSummary`, per spectrum; its ``success`` is
        true exactly when every spectrum is done or was already complete.
    """
    batches = batch_tasks(tasks, max_batch_size=max_batch_size)
    from astra.cluster.partition import select_share  # only this process's share under astra srun

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
