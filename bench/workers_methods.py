"""The CPU-bound methods ``bench/workers.py`` runs: a fixed amount of arithmetic per spectrum.

Both styles: ``busy``, a ``@task`` over catalogue apStar spectra (results in the database),
and ``BusyStar``, a class over apStar files (a JSON file per spectrum). Imported by the
benchmark's processes (``bench/`` is on their ``PYTHONPATH``).
"""

import json
import os
from typing import Iterable

import astra
from astra import task
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
from astra.models.pipeline import PipelineOutputMixin
from astra.tasks import BaseTask
from astra.tasks.io import ApStarFile

#: Loop iterations of :func:`burn` per spectrum (the benchmark calibrates it to 20 ms of CPU).
LOOPS = int(os.environ.get("ASTRA_BENCH_LOOPS", "200000"))


def burn(seed, loops=None):
    """A fixed amount of pure-Python arithmetic: about ``loops`` / 10^7 s of CPU."""
    total = seed
    for i in range(LOOPS if loops is None else loops):
        total = (total * 31 + i) % 1000003
    return float(total)


class BusyResult(PipelineOutputMixin):
    """The result of :func:`busy`."""

    #> Result
    value = FloatField(null=True, help_text="What the arithmetic gave")


@task
def busy(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], **kwargs) -> Iterable[BusyResult]:
    """A fixed amount of CPU per spectrum, and its result row."""
    for spectrum in spectra:
        yield BusyResult.from_spectrum(spectrum, value=burn(spectrum.spectrum_pk))


@astra.inherits(ApStarFile)
class BusyStar(BaseTask):
    """The class-style method: the same arithmetic per apStar file, and a tiny JSON output."""

    task_namespace = "bench"

    def requires(self):
        """The apStar file task (a batch of them when this is a batch)."""
        return ApStarFile(**self.get_common_param_kwargs(ApStarFile))

    def output(self):
        """One small file per spectrum."""
        return self.local_target("busy.json")

    def process(self, task, context):
        """The arithmetic, and its value written."""
        value = burn(len(task.obj))
        with task.output().open("w") as fp:
            json.dump({"obj": task.obj, "value": value}, fp)
