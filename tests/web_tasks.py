"""Tasks registered for astra web's tests (``web_tasks: [web_tasks.WatchableSNR]``)."""

import time

import astra
from rocket_database import EstimateSNRToDatabase


class WatchableSNR(EstimateSNRToDatabase):
    """EstimateSNR into the results database, optionally slow enough to watch its progress."""

    slow_down = astra.BoolParameter(default=False, description="Take 25 ms per spectrum, so the progress can be watched")

    def process(self, task, context):
        """Estimate the S/N (after a pause when ``slow_down`` is set)."""
        if self.slow_down:
            time.sleep(0.025)
        return super().process(task, context)
