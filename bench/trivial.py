"""The trivial spectrum task the scale benchmarks share: one tiny output file per spectrum."""

import astra
from astra.tasks import BaseTask


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
