"""The inverse-variance uncertainty of Astra's spectra, usable as an array.

SDSS Astra's methods (seed 002) write ``np.sqrt(spectrum.uncertainty)`` for ``1 / noise``.
astropy's :class:`~astropy.nddata.InverseVariance` is not an array, so numpy refuses it with a
``TypeError``; :class:`InverseVariance` here is the same class (``isinstance`` checks, specutils
arithmetic and slicing are unchanged) that numpy also reads as its ``array``.
"""

import numpy as np
from astropy.nddata import InverseVariance as _AstropyInverseVariance

__all__ = ["InverseVariance"]


class InverseVariance(_AstropyInverseVariance):
    """astropy's :class:`~astropy.nddata.InverseVariance` that numpy reads as its ``array``:
    ``np.sqrt(spectrum.uncertainty)`` is ``1 / noise`` per pixel."""

    def __array__(self, dtype=None, copy=None):
        """The inverse variances as a numpy array (numpy's array protocol).

        :param dtype: the type numpy asks for, if any.
        :param copy: numpy 2's copy request (``True``: always a copy).
        """
        array = np.asarray(self.array, dtype=dtype)
        return array.copy() if copy else array
