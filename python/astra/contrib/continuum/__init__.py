"""Continuum normalisation: :class:`ContinuumNormalise` and the functions it is built on.

The method lives in :mod:`astra.contrib.continuum.tasks` (it moved here from
``astra.tasks.continuum``, which still re-exports it with a deprecation warning).
"""

from astra.contrib.continuum.tasks import (
    APOGEE_REGIONS,
    DEFAULT_CONTINUUM_PIXELS,
    SPECIES,
    ContinuumNormalise,
    NormalisedSpectrum,
    fit_continuum,
    load_continuum_pixels,
    normalise,
    read_normalised,
    sinusoid_design,
)

__all__ = [
    "ContinuumNormalise",
    "normalise",
    "fit_continuum",
    "sinusoid_design",
    "load_continuum_pixels",
    "read_normalised",
    "NormalisedSpectrum",
    "APOGEE_REGIONS",
    "DEFAULT_CONTINUUM_PIXELS",
    "SPECIES",
]
