"""The Luigi tasks of ``astra daily``: one per step, and the day that needs them all.

::

    Daily(date=2026-12-01)                     complete when every step below is
      └─ DailyProduct(step=astraAllStarRocketSNR)
           └─ DailyPipeline(step=snr)
                └─ DailyMigrate(step=migrate-dr13-apStar)

A step's task is identified by the **date**, the step's **name** and its **key** (a hash of its
settings and of those of the steps it needs; see :mod:`astra.daily.plan`). Its output is the
day's marker, ``<output_dir>/daily/<date>/<name>-<key>.json``, written atomically when the
step finished, holding what it did (:func:`astra.daily.steps.run_step`'s record). That marker
is what makes the day idempotent: once it exists, Luigi counts the step complete and a second
``astra daily`` the same day runs nothing. The next day has no markers, so every step runs
again, each over what is new. A step that raises leaves ``<name>-<key>.failed.json`` (why)
instead; Luigi then runs none of the steps that need it, and the next run the same day
retries it (and them) while the steps that finished stay done.

The pipelines file is read again in the process that runs a step (``plan_file``), and a step
whose settings changed since the day was scheduled refuses to run.
"""

import datetime
import json
import logging
import os
import time
import traceback

import luigi

import astra.config
from astra.daily.plan import load_plan
from astra.daily.steps import DayContext, StepError, run_step
from astra.targets import AtomicFileTarget, atomic_open

__all__ = ["DailyStep", "DailyMigrate", "DailyPipeline", "DailyProduct", "Daily", "day_directory", "marker_path",
           "failure_path", "step_task"]

logger = logging.getLogger("astra")

_PLANS = {}


def _plan(path):
    """The plan of ``path``, read once per process and file version."""
    stat = os.stat(path)
    cached = _PLANS.get(path)
    if cached is None or cached[0] != (stat.st_mtime_ns, stat.st_size):
        cached = _PLANS[path] = ((stat.st_mtime_ns, stat.st_size), load_plan(path))
    return cached[1]


def day_directory(date):
    """``<output_dir>/daily/<date>``: where the day's markers are.

    :param date: a :class:`datetime.date`.
    """
    return os.path.join(os.path.expanduser(astra.config.get("output_dir")), "daily", date.isoformat())


def marker_path(date, step):
    """The marker of ``step`` on ``date`` (exists once the step finished that day).

    :param date: a :class:`datetime.date`.
    :param step: a :class:`~astra.daily.plan.Step`.
    """
    return os.path.join(day_directory(date), f"{step.name}-{step.key}.json")


def failure_path(date, step):
    """Where the reason ``step`` failed on ``date`` is written (removed when it succeeds).

    :param date: a :class:`datetime.date`.
    :param step: a :class:`~astra.daily.plan.Step`.
    """
    return os.path.join(day_directory(date), f"{step.name}-{step.key}.failed.json")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class _DayTask(luigi.Task):
    """The parameters every task of a day has."""

    plan_file = luigi.Parameter(description="the pipelines file (YAML)")
    date = luigi.DateParameter(description="the day (UTC) this run is for")
    run_id = luigi.Parameter(default="", significant=False, description="the astra daily run scheduling it")
    scheduler_host = luigi.Parameter(default="", significant=False, description="luigid of the pipelines' batches")
    scheduler_port = luigi.IntParameter(default=0, significant=False, description="its port")

    def step_tasks(self, names):
        """The tasks of the steps called ``names``, on this task's day."""
        plan = _plan(self.plan_file)
        return [step_task(plan, plan.step(name), self.date, self.run_id, self.scheduler_host, self.scheduler_port)
                for name in names]


class DailyStep(_DayTask):
    """One step of one day (see the module documentation); subclassed once per step kind."""

    step = luigi.Parameter(description="the step's name in the pipelines file")
    key = luigi.Parameter(description="hash of the step's settings and of those of the steps it needs")

    def plan_step(self):
        """The :class:`~astra.daily.plan.Step` this task runs (its key checked)."""
        return _plan(self.plan_file).step(self.step, self.key)

    def requires(self):
        """The tasks of the steps this one needs."""
        return self.step_tasks(self.plan_step().requires)

    def output(self):
        """The day's marker of the step."""
        return AtomicFileTarget(marker_path(self.date, self.plan_step()))

    def run(self):
        """Do the step's work; write its marker, or the reason it failed (and raise)."""
        step = self.plan_step()
        failed = failure_path(self.date, step)
        started, cpu = time.perf_counter(), time.process_time()
        context = DayContext(self.scheduler_host or None, self.scheduler_port or None)
        try:
            record = run_step(step, context)
        except Exception as error:
            with atomic_open(failed) as fp:
                json.dump({"step": step.name, "kind": step.kind, "run_id": self.run_id, "finished": _now(),
                           "error": str(error) if isinstance(error, StepError) else f"{type(error).__name__}: {error}",
                           "traceback": traceback.format_exc()}, fp)
            raise
        record.update(step=step.name, kind=step.kind, key=step.key, date=self.date.isoformat(), run_id=self.run_id,
                      finished=_now(), seconds=round(time.perf_counter() - started, 4),
                      cpu_seconds=round(time.process_time() - cpu, 4))
        with self.output().open("w") as fp:
            json.dump(record, fp, indent=1)
        if os.path.exists(failed):
            os.unlink(failed)


class DailyMigrate(DailyStep):
    """``astra migrate`` of one release and data model, once a day."""


class DailyPipeline(DailyStep):
    """A ``@task`` method over the spectra without a result, once a day, after what it needs."""


class DailyProduct(DailyStep):
    """A summary product (``astra create``), once a day, after the pipelines it summarises."""


_TASKS = {"migrate": DailyMigrate, "pipeline": DailyPipeline, "product": DailyProduct}


def step_task(plan, step, date, run_id="", scheduler_host=None, scheduler_port=None):
    """The Luigi task of ``step`` on ``date``.

    :param plan: the :class:`~astra.daily.plan.DailyPlan`.
    :param step: one of its steps.
    :param date: a :class:`datetime.date`.
    :param run_id: the run scheduling it (recorded in the marker).
    :param scheduler_host: luigid for the pipelines' batches (``None``: local scheduler).
    :param scheduler_port: its port.
    """
    return _TASKS[step.kind](plan_file=plan.path, date=date, step=step.name, key=step.key, run_id=run_id,
                             scheduler_host=scheduler_host or "", scheduler_port=int(scheduler_port or 0))


class Daily(_DayTask):
    """The whole day: complete when every step's marker exists (it writes nothing itself)."""

    key = luigi.Parameter(description="hash of every step's key")

    def requires(self):
        """Every step of the day."""
        return self.step_tasks(_plan(self.plan_file).steps)

    def complete(self):
        """Whether every step finished today."""
        return all(task.complete() for task in self.requires())

    def run(self):
        """Nothing: the steps did the work."""
