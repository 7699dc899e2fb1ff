"""Pieces shared by the loaders: units, inverse variances, bad-pixel masks, Spectrum building."""

import collections
import contextlib
import contextvars
import functools

import numpy as np
import astropy.units as u
from astra.tools.spectrum.ivar import InverseVariance
from specutils import Spectrum

__all__ = [
    "FLUX_UNIT",
    "APOGEE_BAD_PIXEL_BITS",
    "BOSS_BAD_PIXEL_BITS",
    "SIGMA_SENTINEL",
    "ivar_from_sigma",
    "clean_ivar",
    "log_linear_wavelength",
    "make_spectrum",
    "SpectrumArrays",
    "arrays_only",
]

#: What a loader returns inside :func:`arrays_only`: plain arrays, no :class:`specutils.Spectrum`.
SpectrumArrays = collections.namedtuple("SpectrumArrays", "wavelength flux ivar mask meta")

_arrays_only = contextvars.ContextVar("astra_arrays_only", default=False)


@contextlib.contextmanager
def arrays_only():
    """Within this block, loaders return :data:`SpectrumArrays` instead of a ``Spectrum``.

    Building a :class:`specutils.Spectrum` (units, spectral axis) costs about as much as
    reading the file; analysis code that wants only numpy arrays skips it this way (see
    :func:`astra.tools.spectrum.read_arrays`). All checks of the file still happen.
    """
    token = _arrays_only.set(True)
    try:
        yield
    finally:
        _arrays_only.reset(token)

#: Flux unit of APOGEE and BOSS spectra.
FLUX_UNIT = u.Unit("1e-17 erg / (s cm2 Angstrom)")

#: APOGEE pixel bits that make a pixel unusable: BADPIX, CRPIX, SATPIX, UNFIXABLE, BADDARK,
#: BADFLAT, BADERR, NOSKY (bits 0-7) and NOT_ENOUGH_PSF (bit 14: too little of the line-spread
#: function fell on the detector, so the flux is not to be trusted). Persistence, sky-line and
#: telluric bits (9-13) are warnings and are kept in ``meta["bitmask"]`` but do not set the
#: boolean mask.
APOGEE_BAD_PIXEL_BITS = 0xFF | (1 << 14)

#: BOSS and_mask bits that make a pixel unusable: FULLREJECT (18), NOSKY (22) and BRIGHTSKY
#: (23). NODATA (24) is not among them: the BOSS data model marks it deprecated (pixels
#: without data have ``ivar == 0``, which masks them anyway).
BOSS_BAD_PIXEL_BITS = (1 << 18) | (1 << 22) | (1 << 23)

#: The APOGEE pipeline writes this (or larger) as the error of pixels without data.
SIGMA_SENTINEL = 1e10


def ivar_from_sigma(sigma):
    """Convert a standard deviation array into inverse variances.

    :param sigma: Per-pixel standard deviations.
    :returns: ``1 / sigma**2`` as float64, and exactly 0 where sigma is not finite, not
        positive, or at least :data:`SIGMA_SENTINEL` (the pipeline's "no data" value).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    good = np.isfinite(sigma) & (sigma > 0) & (sigma < SIGMA_SENTINEL)
    ivar = np.zeros_like(sigma)
    np.divide(1.0, sigma**2, out=ivar, where=good)
    return ivar


def clean_ivar(ivar):
    """Return inverse variances with non-finite or negative values replaced by 0.

    :param ivar: Inverse variances as read from a file.
    :returns: A float64 copy with 0 wherever the input was not finite or was negative.
    """
    ivar = np.array(ivar, dtype=np.float64)
    ivar[~np.isfinite(ivar) | (ivar < 0)] = 0.0
    return ivar


def log_linear_wavelength(crval, cdelt, n, crpix=1):
    """Return vacuum wavelengths (Angstrom) of a log-linear solution.

    :param crval: log10 wavelength of the reference pixel.
    :param cdelt: log10 wavelength step per pixel.
    :param n: Number of pixels.
    :param crpix: 1-based index of the reference pixel (FITS convention).
    :returns: ``10**(crval + cdelt * (arange(n) - (crpix - 1)))`` as a float64 array.
    """
    return _log_linear_wavelength(float(crval), float(cdelt), int(n), float(crpix)).copy()


@functools.lru_cache(maxsize=64)
def _log_linear_wavelength(crval, cdelt, n, crpix):
    # Every apStar file of a survey shares one solution: compute it once (the power is ~70 us).
    return 10 ** (crval + cdelt * (np.arange(n) - (crpix - 1)))


def make_spectrum(wavelength, flux, ivar, bitmask, bad_bits, meta, flux_unit=FLUX_UNIT):
    """Build a :class:`specutils.Spectrum` with inverse-variance uncertainty and masks.

    :param wavelength: 1-D vacuum wavelengths in Angstrom, ascending.
    :param flux: Flux, 1-D, or 2-D (rows, pixels) for several spectra on the same axis.
    :param ivar: Inverse variances, same shape as ``flux``.
    :param bitmask: Integer pixel bitmask, same shape as ``flux``, or ``None``.
    :param bad_bits: Bits of ``bitmask`` that make a pixel bad.
    :param meta: Metadata dictionary; ``meta["bitmask"]`` is set to ``bitmask``.
    :param flux_unit: Unit of ``flux``.
    :returns: The spectrum; ``mask`` is True where ``ivar == 0`` or a bad bit is set.
    """
    flux = np.asarray(flux)
    ivar = np.asarray(ivar, dtype=np.float64)
    mask = ~(ivar > 0)
    if bitmask is not None:
        bitmask = np.asarray(bitmask)
        mask |= (bitmask.astype(np.int64) & bad_bits) != 0
    meta = dict(meta)
    meta["bitmask"] = bitmask
    if _arrays_only.get():
        return SpectrumArrays(np.asarray(wavelength, dtype=np.float64), flux, ivar, mask, meta)
    return Spectrum(
        flux=flux * flux_unit,
        spectral_axis=np.asarray(wavelength, dtype=np.float64) * u.Angstrom,
        uncertainty=InverseVariance(ivar),
        mask=mask,
        meta=meta,
    )
