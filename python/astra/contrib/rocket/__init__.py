"""Rocket: a minimal analysis method -- the signal-to-noise ratio of a spectrum.

Run it as any Luigi task::

    luigi --module astra.contrib.rocket EstimateSNR --release dr13 --apred r6 --apstar stars \\
        --telescope apo25m --field 120-45 --obj 2M00452143+1634446 --local-scheduler

or over everything on disk with ``astra run astra.contrib.rocket.EstimateSNR --release dr13
--species apStar``.
"""

from astra.contrib.rocket.snr import SPECIES, EstimateSNR, EstimateSNRToDatabase, estimate_snr

__all__ = ["EstimateSNR", "EstimateSNRToDatabase", "estimate_snr", "SPECIES"]
