"""Running one day of a pipelines file (:func:`run_daily`), or saying what it would do (:func:`preview_daily`).

::

    from astra.daily import load_plan, run_daily

    summary = run_daily(load_plan("daily.yml"))
    print(summary)            # one line per step: ran / done earlier today / failed / not run
    summary.exit_code         # 0 when every step finished and nothing in them failed

:func:`run_daily` builds the day's Luigi graph (:class:`~astra.daily.tasks.Daily` and one task
per step) and runs it with Luigi's local scheduler, or with a central luigid (whose web UI
then shows the graph). The summary is read from the steps' markers afterwards, so it says
exactly what happened, including the steps run by other workers of the same luigid.
"""

import dataclasses
import datetime
import json
import os
import time
import uuid

import luigi

import astra.config
from astra.daily.steps import preview_step
from astra.daily.tasks import Daily, failure_path, marker_path

__all__ = ["StepOutcome", "DailySummary", "run_daily", "preview_daily", "today"]

#: Bad files or failed spectra named under a step in the summary.
SHOWN = 5
#: What happened to a step in one run.
STATUSES = ("ran", "done earlier today", "failed", "not run")


def today():
    """Today's date in UTC (the day a run is for unless told)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


@dataclasses.dataclass
class StepOutcome:
    """What one step did in a run.

    :param step: the :class:`~astra.daily.plan.Step`.
    :param status: one of :data:`STATUSES`.
    :param text: what it did, or why it failed or was not run.
    :param record: its marker's content (``None`` unless it finished).
    """

    step: object
    status: str
    text: str
    record: dict = None

    @property
    def problems(self):
        """Bad files or failed spectra of a step that ran in this run."""
        return int((self.record or {}).get("problems") or 0) if self.status == "ran" else 0


    def problem_lines(self, most=SHOWN):
        """Up to ``most`` lines naming this run's bad files or failed spectra of the step."""
        if not self.problems:
            return []
        record = self.record
        lines = list(record.get("details") or [])
        for entry in (record.get("models") or {}).values():
            lines += [f"failed: {task}: {reason}" for task, reason in entry.get("failures") or []]
        shown = lines[:most]
        if self.problems > len(shown):
            shown.append(f"... {self.problems - len(shown)} more (the results table's flag_runtime_exception, "
                         "or the catalogue's flag_bad_file)")
        return shown


@dataclasses.dataclass
class DailySummary:
    """What one ``astra daily`` run did.

    :param date: the day.
    :param path: the pipelines file.
    :param outcomes: one :class:`StepOutcome` per step, in dependency order.
    :param seconds: wall time of the run.
    :param luigi_summary: Luigi's own summary text.
    """

    date: datetime.date
    path: str
    outcomes: list
    seconds: float = 0.0
    luigi_summary: str = ""

    def count(self, status):
        """How many steps had ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def nothing_to_do(self):
        """Whether every step had already finished today (the run did nothing)."""
        return all(o.status == "done earlier today" for o in self.outcomes)

    @property
    def exit_code(self):
        """0 when every step finished and none of this run's steps had a problem; else 1."""
        return 0 if not (self.count("failed") or self.count("not run") or any(o.problems for o in self.outcomes)) else 1

    def __str__(self):
        width = max(len(o.step.name) for o in self.outcomes)
        lines = [f"astra daily {self.date.isoformat()} ({self.path}):"]
        for o in self.outcomes:
            lines.append(f"  {o.step.name:<{width}}  {o.status}: {o.text}")
            lines += [f"  {'':<{width}}    {line}" for line in o.problem_lines()]
        problems = sum(o.problems for o in self.outcomes)
        tail = (f"{len(self.outcomes)} steps: {self.count('ran')} ran, {self.count('done earlier today')} done earlier "
                f"today, {self.count('failed')} failed, {self.count('not run')} not run")
        if problems:
            tail += f"; {problems} bad files or failed spectra (see above)"
        if self.nothing_to_do:
            tail += " -- nothing to do"
        lines.append(f"{tail} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def _read(path):
    try:
        with open(path) as fp:
            return json.load(fp)
    except (OSError, ValueError):
        return None


def _outcomes(plan, date, run_id):
    outcomes, failed = [], set()
    for step in plan.ordered():
        record = _read(marker_path(date, step))
        if record is not None:
            status = "ran" if record.get("run_id") == run_id else "done earlier today"
            text = record.get("text", "")
            if status == "ran":
                text += f" ({record.get('seconds', 0):.1f} s)"
            outcomes.append(StepOutcome(step, status, text, record))
            continue
        failure = _read(failure_path(date, step))
        upstream = [name for name in step.requires if name in failed]
        if failure is not None and failure.get("run_id") == run_id:
            outcomes.append(StepOutcome(step, "failed", failure.get("error", "failed")))
        elif upstream:
            outcomes.append(StepOutcome(step, "not run", f"needs {', '.join(upstream)}, which did not finish"))
        else:
            outcomes.append(StepOutcome(step, "not run", "Luigi did not run it (see Luigi's summary)"))
        failed.add(step.name)
    return outcomes


def run_daily(plan, date=None, workers=None, scheduler_host=None, scheduler_port=None, local_scheduler=None,
              log_level="WARNING"):
    """Run one day of ``plan``: migrate, the pipelines in dependency order, the products.

    :param plan: a :class:`~astra.daily.plan.DailyPlan`.
    :param date: the day (default: today in UTC); the steps' markers are per day.
    :param workers: Luigi workers (independent steps run side by side; default: the file's
        ``workers``, else 1).
    :param scheduler_host: a central luigid (default: the ``scheduler_host`` setting; empty
        means Luigi's local scheduler).
    :param scheduler_port: its port (default: the ``scheduler_port`` setting, else 8082).
    :param local_scheduler: force (true) or refuse (false) the local scheduler.
    :param log_level: Luigi's log level.
    :returns: a :class:`DailySummary`.
    """
    started = time.perf_counter()
    date = date or today()
    scheduler_host = scheduler_host or astra.config.get("scheduler_host") or None
    if local_scheduler is None:
        local_scheduler = not scheduler_host
    options = {}
    if local_scheduler:
        scheduler_host = scheduler_port = None
    else:
        scheduler_host = scheduler_host or "localhost"
        scheduler_port = int(scheduler_port or astra.config.get("scheduler_port") or 8082)
        options = {"scheduler_host": scheduler_host, "scheduler_port": scheduler_port}
    run_id = uuid.uuid4().hex[:12]
    root = Daily(plan_file=plan.path, date=date, key=plan.key, run_id=run_id, scheduler_host=scheduler_host or "",
                 scheduler_port=int(scheduler_port or 0))
    result = luigi.build([root], workers=int(workers or plan.settings.get("workers") or 1), local_scheduler=local_scheduler,
                         log_level=log_level, detailed_summary=True, **options)
    summary = DailySummary(date, plan.path, _outcomes(plan, date, run_id), luigi_summary=result.summary_text)
    summary.seconds = time.perf_counter() - started
    return summary


def preview_daily(plan, date=None):
    """What a run of ``plan`` would do now, step by step; nothing is run or written.

    :param plan: a :class:`~astra.daily.plan.DailyPlan`.
    :param date: the day (default: today in UTC).
    :returns: a list of ``(step, text)``.
    """
    date = date or today()
    incoming, lines = {}, []
    for step in plan.ordered():
        needs = f"after {', '.join(step.requires)}; " if step.requires else ""
        if os.path.exists(marker_path(date, step)):
            incoming[step.name] = 0
            lines.append((step, f"{needs}done earlier today (nothing to do)"))
            continue
        text, incoming[step.name] = preview_step(step, incoming)
        lines.append((step, needs + text))
    return lines
