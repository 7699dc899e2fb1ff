"""Fixed pixel grids of data models: the apStar rest-frame grid, defined once."""

import functools

import numpy as np

__all__ = ["LogLinearGrid", "APSTAR_GRID"]


class LogLinearGrid:
    """A log-linear wavelength grid: ``10**(crval + cdelt * arange(npix))`` Angstrom (vacuum).

    :param crval: log10 wavelength of the first pixel.
    :param cdelt: log10 step per pixel.
    :param npix: number of pixels.
    """

    def __init__(self, crval, cdelt, npix):
        self.crval = float(crval)
        self.cdelt = float(cdelt)
        self.npix = int(npix)

    def wavelength(self):
        """The wavelengths in Angstrom (a new float64 array of :attr:`npix` values)."""
        return _wavelength(self.crval, self.cdelt, self.npix).copy()

    def __repr__(self):
        return f"LogLinearGrid(crval={self.crval}, cdelt={self.cdelt}, npix={self.npix})"


@functools.lru_cache(maxsize=8)
def _wavelength(crval, cdelt, npix):
    return 10 ** (crval + cdelt * np.arange(npix))


#: The apStar rest-frame grid: 8575 pixels, log10 lambda from 4.179 in steps of 6e-6.
APSTAR_GRID = LogLinearGrid(4.179, 6e-6, 8575)
