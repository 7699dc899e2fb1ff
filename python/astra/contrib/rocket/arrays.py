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


#: Rows measured at once: a block's temporaries stay in the processor's cache (a pass over a
#: whole batch of 10^3 rows at once is slower).
BLOCK_ROWS = 64


def batch_snr(flux, ivar, bad=None, min_good_pixels=100):
    """The S/N of each row of ``(N, npix)`` arrays, vectorised (the values of
    :func:`astra.contrib.rocket.estimate_snr` row by row, to float32 precision when the arrays
    are float32, as read from the files).

    :param flux: flux, shape ``(N, npix)``.
    :param ivar: inverse variance, same shape.
    :param bad: optional boolean array, true where a pixel is unusable.
    :param min_good_pixels: rows with fewer good pixels give ``nan``.
    :returns: ``(snr, n_good)``: float array (``nan`` where too few good pixels) and counts.
    """
    flux, ivar = np.atleast_2d(flux), np.atleast_2d(ivar)
    bad = None if bad is None else np.atleast_2d(bad)
    snr = np.full(len(flux), np.nan)
    n_good = np.zeros(len(flux), dtype=int)
    for start in range(0, len(flux), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        n_good[block] = _block_snr(flux[block], ivar[block], None if bad is None else bad[block], snr[block])
    snr[n_good < max(min_good_pixels, 1)] = np.nan
    return snr, n_good


def _block_snr(flux, ivar, bad, out):
    # In the arrays' own precision (float32 from the files): half the memory traffic of float64.
    dtype = np.result_type(flux, ivar, np.float32)
    flux = np.asarray(flux, dtype=dtype)
    ivar = np.asarray(ivar, dtype=dtype)
    good = np.isfinite(flux)
    good &= np.isfinite(ivar)
    good &= ivar > 0
    if bad is not None:
        good &= ~np.asarray(bad, dtype=bool)
    n_rows, n_pixels = flux.shape
    n_good = np.count_nonzero(good, axis=1)
    if not n_rows or not n_pixels:
        return n_good
    values = np.sqrt(ivar, where=good, out=np.zeros(flux.shape, dtype=dtype))
    values *= flux
    # The median of each row's good values with one partition of all rows: the b bad pixels of
    # a row become -inf (the first b // 2) and +inf (the rest), so its good values sit in the
    # middle, and their median is at position (n_pixels - 1 - b % 2) / 2 (at most 3 positions).
    n_bad = n_pixels - n_good
    unusable = ~good
    low = np.cumsum(unusable, axis=1, dtype=np.int16 if n_pixels < 2**15 else np.int32)
    low = low <= (n_bad // 2)[:, None]
    np.copyto(values, np.inf, where=unusable)
    np.copyto(values, -np.inf, where=unusable & low)
    middle = (n_pixels - 1 - n_bad % 2) / 2
    below, above = np.floor(middle).astype(int), np.ceil(middle).astype(int)
    values.partition(np.unique(np.concatenate([below, above])), axis=1)
    rows = np.arange(n_rows)
    with np.errstate(invalid="ignore"):  # rows without good pixels: -inf + inf, set to nan after
        out[:] = (values[rows, below].astype(float) + values[rows, above]) / 2
    return n_good


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
