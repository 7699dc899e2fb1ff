"""Running tasks in batches: :func:`build` groups them (:func:`batch_tasks`, from
:mod:`astra.tasks.grouping`), runs them with Luigi and summarises what happened.
"""

import dataclasses
import json
import logging

import luigi
from luigi.execution_summary import _summary_dict

import astra.config
from astra.tasks.base import BaseTask
from astra.tasks.grouping import batch_tasks

__all__ = ["batch_tasks", "build", "BuildSummary"]

logger = logging.getLogger("astra")


@dataclasses.dataclass
class BuildSummary:
    """What :func:`build` did.

    :param success: Luigi's verdict for the whole run.
    :param tasks: number of tasks scheduled (batches count once).
    :param done: spectra whose outputs exist after the run.
    :param skipped: spectra already complete before the run.
    :param failed: ``(task_id, reason)`` of spectra that failed.
    :param not_run: spectra whose batch did not run (e.g. an upstream task failed).
    :param luigi_summary: Luigi's own summary text.
    """

    success: bool
    tasks: int
    done: int = 0
    skipped: int = 0
    failed: list = dataclasses.field(default_factory=list)
    not_run: int = 0
    luigi_summary: str = ""

    def __str__(self):
        text = f"{self.done} spectra done ({self.skipped} already complete), {len(self.failed)} failed"
        if self.not_run:
            text += f", {self.not_run} not run"
        for task_id, reason in self.failed[:20]:
            text += f"\n  failed: {task_id}: {reason}"
        if len(self.failed) > 20:
            text += f"\n  ... and {len(self.failed) - 20} more failures"
        return text


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
    :returns: a :class:`BuildSummary`.
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

    with record_build(batches) as finish:
        result = luigi.build(
            batches,
            workers=workers,
            local_scheduler=local_scheduler,
            log_level=log_level,
            detailed_summary=True,
            **luigi_kwargs,
        )
        summary = _summarise(batches, result)
        finish(summary, result)
    return summary


def _summarise(batches, result):
    states = _summary_dict(result.worker)
    already = {t.task_id for t in states.get("already_done", ())}
    summary = BuildSummary(success=result.scheduling_succeeded, tasks=len(batches), luigi_summary=result.summary_text)
    summary.success = result.status.name in ("SUCCESS", "SUCCESS_WITH_RETRY")
    for task in batches:
        size = task.get_batch_size() if isinstance(task, BaseTask) else 1
        if task.task_id in already:
            summary.skipped += size
            summary.done += size
            continue
        counts = getattr(task, "batch_counts", None)
        if counts is not None:
            summary.done += counts["done"] + counts["skipped"]
            summary.skipped += counts["skipped"]
            summary.failed.extend(counts["failures"])
            continue
        _scan(task, summary)
    return summary


def _scan(task, summary):
    """Count the outcome of a batch that ran in another process, from its outputs.

    One completeness pass for the batch (one query for database outputs) and one listing of
    the family's failure records.
    """
    if not isinstance(task, BaseTask):
        summary.done += int(task.complete())
        return
    incomplete = task.incomplete_batch_tasks()
    summary.done += task.get_batch_size() - len(incomplete)
    failed = task.recorded_failures() if incomplete else set()
    for member in incomplete:
        reason = _failure_reason(member) if member.identity_hash in failed else None
        if reason:
            summary.failed.append((member.task_id, reason))
        else:
            summary.not_run += 1


def _failure_reason(member):
    try:
        with open(member.failure_path()) as fp:
            return json.load(fp).get("error", "failed")
    except (OSError, ValueError):
        return "failed"
