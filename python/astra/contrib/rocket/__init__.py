"""Rocket: a minimal analysis method -- the signal-to-noise ratio of a spectrum.

Two ways to run the same measurement (:func:`estimate_snr`):

* :func:`snr`, a ``@task`` over catalogue spectra writing :class:`RocketSNR` rows (or files,
  by the ``results_output`` setting)::

      astra run snr ApogeeCoaddedSpectrumInApStar --limit 100
      luigi --module astra.contrib.rocket snr --spectrum-pk 7 --local-scheduler

* :class:`EstimateSNR`, a class-style task over data-model keys writing one JSON file each::

      luigi --module astra.contrib.rocket EstimateSNR --release dr13 --apred r6 --apstar stars \\
          --telescope apo25m --field 120-45 --obj 2M00452143+1634446 --local-scheduler

  or over everything on disk with ``astra run astra.contrib.rocket.EstimateSNR --release dr13
  --species apStar``.
"""

from astra.contrib.rocket.arrays import snr_arrays
from astra.contrib.rocket.results import EstimateSNRResult, RocketSNR, RocketSNRArrays
from astra.contrib.rocket.snr import SPECIES, EstimateSNR, EstimateSNRToDatabase, estimate_snr
from astra.contrib.rocket.tasks import snr, snr_values

__all__ = ["EstimateSNR", "EstimateSNRToDatabase", "estimate_snr", "SPECIES", "snr", "snr_values", "snr_arrays", "RocketSNR", "RocketSNRArrays",
           "EstimateSNRResult"]
