"""The trivial spectrum task the scale benchmarks share: one tiny output file per spectrum."""

import astra
from astra.tasks import BaseTask
from astra.tasks.io import ApStarFile


class TrivialSpectrum(BaseTask):
    """Writes the spectrum's number to a tiny file (no FITS I/O)."""

    task_namespace = "bench"
    obj = astra.IntParameter(batch_method=tuple)

    def output(self):
        """One tiny file per spectrum."""
        return self.local_target("out.txt")

    def process(self, task, context):
        """Write the spectrum's number."""
        with task.output().open("w") as fp:
            fp.write(str(task.obj))


@astra.inherits(ApStarFile)
class StarSpectrum(BaseTask):
    """The same trivial work for a task named like a real one: the keys of an apStar file.

    A script names each spectrum by six parameters (release, apred, apstar, telescope, field,
    obj), as seed 003's keywords do.
    """

    task_namespace = "bench"

    def output(self):
        """One tiny file per spectrum."""
        return self.local_target("out.txt")

    def process(self, task, context):
        """Write the spectrum's object name."""
        with task.output().open("w") as fp:
            fp.write(task.obj)


#: The keys every StarSpectrum of the benchmarks shares; ``obj`` names the spectrum.
STAR_KEYS = dict(release="dr16", apred="r12", apstar="stars", telescope="apo25m", field="218-04")


def star_name(i):
    """A 2MASS-style object name for spectrum number ``i``."""
    return f"2M{i:08d}+{i % 9973:07d}"
