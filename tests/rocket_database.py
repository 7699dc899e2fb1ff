"""A class-style EstimateSNR that writes result rows, for tests of database outputs of classes.

The package no longer ships this twin (``astra.contrib.rocket.snr``, a ``@task``, writes rows
or files by configuration); tests of class-style database outputs (claims, layout errors)
still need a class that writes :class:`~astra.contrib.rocket.results.EstimateSNRResult` rows.
"""

import math

import numpy as np

from astra.contrib.rocket import EstimateSNR
from astra.contrib.rocket.results import EstimateSNRResult
from astra.database import DatabaseOutputMixin


class EstimateSNRToDatabase(DatabaseOutputMixin, EstimateSNR):
    """:class:`EstimateSNR` writing one ``EstimateSNRResult`` row per spectrum."""

    task_namespace = "tests"
    result_model = EstimateSNRResult

    def process(self, task, context):
        """Estimate the S/N of one spectrum and return its result row's values."""
        _, snr, bad, ivar = self.measure(task)
        good = np.atleast_2d(ivar)[0] > 0
        if bad is not None:
            good &= ~np.atleast_2d(bad)[0]
        combined = snr[0]
        visits = snr[2:] if len(snr) > 2 else snr[:1]
        return {
            "snr": None if math.isnan(combined) else combined,
            "snr_visits": [None if math.isnan(s) else s for s in visits],
            "n_visits": len(visits),
            "n_pixels": int(good.sum()),
            "flag_low_snr": bool(combined < 3),
        }
