"""Rocket's signal-to-noise method written as a ``@task``: :func:`snr`.

::

    from astra.contrib.rocket import snr
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    for result in snr(Star.select().limit(10)):
        print(result.spectrum_pk, result.snr)

or ``astra run snr ApogeeCoaddedSpectrumInApStar --limit 100``, or
``luigi --module astra.contrib.rocket snr --spectrum-pk 7 --local-scheduler``.
"""

import math
from typing import Iterable, Union

import numpy as np

from astra import task
from astra.contrib.rocket.results import RocketSNR
from astra.contrib.rocket.snr import estimate_snr
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.models.boss import BossVisitSpectrum

__all__ = ["snr", "snr_values"]


def snr_values(arrays, min_good_pixels=100, use_pixel_mask=True):
    """The result values of one spectrum file's arrays (what :func:`snr` writes).

    :param arrays: :data:`~astra.tools.spectrum.SpectrumArrays` of the file (every row).
    :param min_good_pixels: fewest good pixels for an S/N.
    :param use_pixel_mask: ignore pixels flagged bad in the bitmask.
    :returns: a dict of column values and flags.
    """
    bad = arrays.mask if use_pixel_mask else None
    values = estimate_snr(arrays.flux, arrays.ivar, bad, min_good_pixels)
    if all(math.isnan(v) for v in values):
        return {"flag_no_pixels": True}
    good = np.atleast_2d(arrays.ivar)[0] > 0
    if bad is not None:
        good &= ~np.atleast_2d(bad)[0]
    combined = values[0]
    visits = values[2:] if len(values) > 2 else values[:1]  # apStar: 2 combined rows, then visits
    return {
        "snr": None if math.isnan(combined) else combined,
        "snr_visits": [None if math.isnan(v) else v for v in visits],
        "n_visits": len(visits),
        "n_pixels": int(good.sum()),
        "flag_low_snr": bool(combined < 3),
    }


@task
def snr(
    spectra: Iterable[Union[ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum, BossVisitSpectrum]],
    min_good_pixels: int = 100,
    use_pixel_mask: bool = True,
) -> Iterable[RocketSNR]:
    """The signal-to-noise ratio of each spectrum: the median of ``flux * sqrt(ivar)``.

    For an apStar file the combined spectrum's, and each visit's in ``snr_visits``. A spectrum
    with fewer than ``min_good_pixels`` good pixels in every row is flagged ``flag_no_pixels``.

    :param spectra: catalogue spectra (apStar, apVisit or BOSS spec).
    :param min_good_pixels: fewest good pixels for an S/N.
    :param use_pixel_mask: ignore pixels flagged bad in the bitmask.
    """
    for spectrum in spectra:
        yield RocketSNR.from_spectrum(spectrum, **snr_values(spectrum.read_arrays(), min_good_pixels, use_pixel_mask))
