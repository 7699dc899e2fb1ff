"""Rocket's S/N as a vectorised method over batches of arrays: :func:`snr_arrays`.

The same estimate as :func:`astra.contrib.rocket.snr` (the median of ``flux * sqrt(ivar)`` over
good pixels) for the row's own spectrum, computed over ``(N, npix)`` arrays at once
(:func:`astra.core.arrays.array_batches`)::

    astra run snr_arrays ApogeeCoaddedSpectrumInApStar --limit 10000
"""

from typing import Iterable, Union

import numpy as np

from astra import task
from astra.contrib.rocket.results import RocketSNRArrays
from astra.core.arrays import array_batches
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.models.boss import BossVisitSpectrum

__all__ = ["snr_arrays", "batch_snr"]


def batch_snr(flux, ivar, bad=None, min_good_pixels=100):
    """The S/N of each row of ``(N, npix)`` arrays, vectorised.

    :param flux: flux, shape ``(N, npix)``.
    :param ivar: inverse variance, same shape.
    :param bad: optional boolean array, true where a pixel is unusable.
    :param min_good_pixels: rows with fewer good pixels give ``nan``.
    :returns: ``(snr, n_good)``: float array (``nan`` where too few good pixels) and counts.
    """
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if bad is not None:
        good &= ~np.asarray(bad, dtype=bool)
    with np.errstate(invalid="ignore"):
        values = np.where(good, flux * np.sqrt(np.where(good, ivar, 0.0)), np.nan)
    n_good = good.sum(axis=1)
    snr = np.full(len(flux), np.nan)
    enough = n_good >= max(min_good_pixels, 1)
    if enough.any():
        snr[enough] = np.nanmedian(values[enough], axis=1)
    return snr, n_good


@task
def snr_arrays(
    spectra: Iterable[Union[ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum, BossVisitSpectrum]],
    min_good_pixels: int = 100,
    use_pixel_mask: bool = True,
) -> Iterable[RocketSNRArrays]:
    """The signal-to-noise ratio of each spectrum, vectorised over batches of arrays.

    A spectrum with fewer than ``min_good_pixels`` good pixels is flagged ``flag_no_pixels``.

    :param spectra: catalogue spectra (apStar, apVisit or BOSS spec).
    :param min_good_pixels: fewest good pixels for an S/N.
    :param use_pixel_mask: ignore pixels flagged bad by the data model's bitmask.
    """
    for batch in array_batches(spectra):
        bad = batch.bad if use_pixel_mask else ~(batch.ivar > 0)
        values, n_good = batch_snr(batch.flux, batch.ivar, bad, min_good_pixels)
        for row, value, n in zip(batch.rows, values.tolist(), n_good.tolist()):
            if value != value:  # nan: too few good pixels
                yield RocketSNRArrays.from_spectrum(row, flag_no_pixels=True)
            else:
                yield RocketSNRArrays.from_spectrum(row, snr=value, n_pixels=int(n), flag_low_snr=value < 3)
