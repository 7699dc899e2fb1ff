"""``astra daily``: the daily run of a pipelines file -- migrate, the pipelines, the products.

* :mod:`astra.daily.plan` -- the pipelines file (YAML): reading, checking, dependency order;
* :mod:`astra.daily.steps` -- what each step does, and would do (``--dry-run``);
* :mod:`astra.daily.tasks` -- the Luigi tasks (one per step and day; markers make a day idempotent);
* :mod:`astra.daily.run` -- running a day and summarising it.

The file format, a cron line and an Airflow DAG are in ``docs/daily.rst``; a complete example
is ``python/astra/etc/daily.yml``.
"""

from astra.daily.plan import DailyFileError, DailyPlan, Step, load_plan
from astra.daily.run import DailySummary, StepOutcome, preview_daily, run_daily, today
from astra.daily.steps import StepError

__all__ = ["load_plan", "DailyPlan", "Step", "DailyFileError", "StepError", "run_daily", "preview_daily",
           "DailySummary", "StepOutcome", "today"]
