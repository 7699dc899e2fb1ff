"""Running tasks in batches: :func:`build` groups them (:func:`batch_tasks`, from
:mod:`astra.tasks.grouping`), runs them with Luigi and summarises what happened.

Under luigid it then waits for the batches other workers run (``other_worker_timeout``), and
runs itself those that a dead worker left unfinished, that luigid left pending for no
worker, or that luigid remembers as done while their outputs are missing here (what luigid
remembers is a hint, never proof), so a run that had nothing else to do does not leave them
unrun.
"""

import logging
import sys
import time

import luigi

import astra.config
from astra.cluster.scheduler import check_scheduler, unreachable
from astra.logfiles import disk_full_said_once
from astra.tasks.batch_run import build_window, note_incomplete, report_member_failures_only
from astra.tasks.grouping import batch_tasks
from astra.tasks.summary import (
    OTHERS_STATES,
    BuildSummary,
    RecordingFactory,
    abandoned_by_others,
    categories,
    other_worker_timeout,
    summarise,
    wait_for_others,
)
from astra.cluster.shares import select_share  # only this process's share under astra srun
from astra.runs import record_build  # every build is recorded for astra web

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
    :param workers: Luigi worker processes; with more than one, each group of tasks is cut into
        a multiple of ``workers`` batches of equal size (:func:`~astra.tasks.grouping.batch_bounds`).
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
    :raises astra.cluster.scheduler.SchedulerUnreachable: when luigid cannot be reached (before
        the run, or when it goes away during it for longer than Luigi's RPC retries).
    """
    # With several workers, a multiple of `workers` batches of equal size: every worker gets work.
    batches = batch_tasks(tasks, max_batch_size=max_batch_size, workers=workers)
    if share_batches:
        batches = select_share(batches)
    scheduler_host = scheduler_host or astra.config.get("scheduler_host")
    if local_scheduler is None:
        local_scheduler = not scheduler_host
    if not local_scheduler:
        luigi_kwargs["scheduler_host"] = scheduler_host or "localhost"
        luigi_kwargs["scheduler_port"] = int(scheduler_port or astra.config.get("scheduler_port") or 8082)
        check_scheduler(luigi_kwargs["scheduler_host"], luigi_kwargs["scheduler_port"])
    factory = RecordingFactory()

    def run(tasks):
        try:
            return luigi.build(
                tasks,
                workers=workers,
                local_scheduler=local_scheduler,
                log_level=log_level,
                detailed_summary=True,
                worker_scheduler_factory=factory,
                **luigi_kwargs,
            )
        except Exception as error:  # luigid went away mid-run: one clear error, not Luigi's RPCError
            lost = unreachable(error, luigi_kwargs.get("scheduler_host"), luigi_kwargs.get("scheduler_port"))
            if lost is None:
                raise
            raise lost from None

    with disk_full_said_once(), record_build(batches) as finish, report_member_failures_only(), build_window():
        result = run(batches)
        category, still_running = categories(result), set()
        if not local_scheduler:
            category, still_running = _finish_others(batches, category, factory, run)
        summary = summarise(batches, result, factory, category, still_running)
        finish(summary, result)
    return summary


#: Most times :func:`build` runs again the batches a dead luigid worker left unfinished.
MAX_RERUNS = 3


def _finish_others(batches, category, factory, run):
    """Wait for the batches other luigid workers run; run here those a dead worker left, those
    still pending that luigid gave to no one, and those luigid has as done whose outputs are
    missing here (see :func:`~astra.tasks.summary.abandoned_by_others`).

    :returns: the categories (updated for batches run again) and the ids still running when
        the wait ended.
    """
    still_running = set()
    deadline = time.monotonic() + other_worker_timeout()  # one wait in all, however many passes
    for _ in range(MAX_RERUNS):
        others = [t for t in batches if category.get(t.task_id) in OTHERS_STATES]
        if not others or factory.scheduler is None:
            break
        for task in others:  # if one is run here after all, what the other did counts as its
            note_incomplete(task)
        left = max(0.0, deadline - time.monotonic())
        still_running = wait_for_others(factory.scheduler, [t.task_id for t in others], timeout=left)
        left = max(0.0, deadline - time.monotonic())
        abandoned = abandoned_by_others(factory.scheduler, others, still_running, timeout=left)
        if not abandoned:
            break
        print(f"astra: {len(abandoned)} batches another worker left unfinished (it stopped), no worker ran, or "
              "luigid has as done while their outputs are missing here: running them here", file=sys.stderr)
        category.update(categories(run(abandoned)))
    return category, still_running
