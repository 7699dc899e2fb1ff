"""A classifier and a method downstream of it, both ``@task`` methods over APOGEE spectra.

* :func:`hot_cool` classes every spectrum "hot" or "cool" by the slope of its continuum: the
  ratio of the median flux blueward of 15800 A to that redward of 16500 A (a hotter star is
  bluer). The default split, ``hot_above=1.218``, is about 5000 K on the spectra of
  :mod:`astra.tools.synthetic`.
* :func:`continuum_teff` fits the continuum of the spectra that :func:`hot_cool` classed
  "hot" with a black body (times the instrument response of the synthetic spectra) and writes
  its temperature. It is a downstream method: its ``classes`` parameter is annotated with
  :class:`~astra.contrib.classify.results.HotCool`, and its default is the condition on it.

::

    astra run astra.contrib.classify.hot_cool ApogeeCoaddedSpectrumInApStar
    astra run astra.contrib.classify.continuum_teff ApogeeCoaddedSpectrumInApStar   # the hot ones only

or from Python::

    for result in continuum_teff(ApogeeCoaddedSpectrumInApStar.select()):
        print(result.spectrum_pk, result.teff)
"""

from typing import Iterable, Union

import numpy as np

from astra import task
from astra.contrib.classify.results import ContinuumTeff, HotCool
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.tools.synthetic.model import continuum_flux

__all__ = ["hot_cool", "continuum_teff", "flux_ratio", "fit_continuum_teff", "BLUE_BELOW", "RED_ABOVE"]

#: The blue window: wavelengths below this (Angstrom).
BLUE_BELOW = 15800.0
#: The red window: wavelengths above this (Angstrom).
RED_ABOVE = 16500.0


def _good(spectrum):
    flux = np.atleast_2d(spectrum.flux)[0]
    ivar = np.atleast_2d(spectrum.ivar)[0]
    wavelength = np.asarray(spectrum.wavelength, dtype=float)
    good = (ivar > 0) & np.isfinite(flux) & (flux > 0)
    return wavelength, flux, good


def flux_ratio(wavelength, flux, good, min_pixels=100):
    """The blue-to-red median flux ratio, and the pixels used.

    :param wavelength: wavelengths (Angstrom).
    :param flux: flux of the same pixels.
    :param good: the pixels to use (a boolean array).
    :param min_pixels: fewest pixels in each window.
    :returns: ``(ratio, n_pixels)``; ``ratio`` is ``None`` with too few pixels.
    """
    blue = good & (wavelength < BLUE_BELOW)
    red = good & (wavelength > RED_ABOVE)
    n = int(blue.sum() + red.sum())
    if blue.sum() < min_pixels or red.sum() < min_pixels:
        return None, n
    return float(np.median(flux[blue]) / np.median(flux[red])), n


@task
def hot_cool(
    spectra: Iterable[Union[ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum]],
    hot_above: float = 1.218,
    min_pixels: int = 100,
) -> Iterable[HotCool]:
    """Class each spectrum "hot" or "cool" by its blue-to-red continuum ratio.

    :param spectra: APOGEE spectra (apStar or apVisit).
    :param hot_above: a ratio above this is "hot".
    :param min_pixels: fewest good pixels in each window; fewer flags ``flag_no_pixels``.
    """
    for spectrum in spectra:
        ratio, n = flux_ratio(*_good(spectrum), min_pixels=min_pixels)
        if ratio is None:
            yield HotCool.from_spectrum(spectrum, n_pixels=n, flag_no_pixels=True)
            continue
        label = "hot" if ratio > hot_above else "cool"
        yield HotCool.from_spectrum(spectrum, classification=label, ratio=ratio, n_pixels=n)


def fit_continuum_teff(wavelength, flux, good, grid, n_bins=40, min_pixels=50):
    """The black-body temperature whose continuum best matches the spectrum's.

    The spectrum is cut into ``n_bins`` wavelength bins; in each, the 90th percentile of the
    flux stands for the continuum (above most absorption lines). Each temperature of ``grid``
    is scored by the squared residuals of the bins about the best-scaled continuum.

    :param wavelength: wavelengths (Angstrom).
    :param flux: flux of the same pixels.
    :param good: the pixels to use.
    :param grid: temperatures to try (K), ascending.
    :param n_bins: wavelength bins.
    :param min_pixels: fewest good pixels for a bin to count.
    :returns: ``(teff, chi2, bins used, at the grid's edge)``, or ``None`` with fewer than 5 bins.
    """
    if not good.any():
        return None
    edges = np.linspace(wavelength[good].min(), wavelength[good].max(), n_bins + 1)
    index = np.digitize(wavelength, edges)
    centres, levels = [], []
    for i in range(1, n_bins + 1):
        chosen = good & (index == i)
        if chosen.sum() >= min_pixels:
            centres.append(np.median(wavelength[chosen]))
            levels.append(np.percentile(flux[chosen], 90))
    if len(centres) < 5:
        return None
    centres, levels = np.array(centres), np.array(levels)
    chi2 = np.empty(len(grid))
    for i, teff in enumerate(grid):
        model = continuum_flux(centres, teff)
        scale = (model @ levels) / (model @ model)
        chi2[i] = np.sum((levels - scale * model) ** 2)
    best = int(np.argmin(chi2))
    return float(grid[best]), float(chi2[best]), len(centres), best in (0, len(grid) - 1)


@task
def continuum_teff(
    spectra: Iterable[Union[ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum]],
    classes: HotCool = HotCool.classification == "hot",
    teff_min: float = 3500.0,
    teff_max: float = 9000.0,
    teff_step: float = 10.0,
) -> Iterable[ContinuumTeff]:
    """The continuum temperature of the spectra :func:`hot_cool` classed "hot".

    :param spectra: APOGEE spectra (apStar or apVisit); Astra hands in only those whose
        :class:`HotCool` result says "hot".
    :param classes: their :class:`HotCool` results (``classes[spectrum]``); the default is the
        condition a result must meet.
    :param teff_min: the coolest temperature tried (K).
    :param teff_max: the hottest temperature tried (K).
    :param teff_step: the grid step (K).
    """
    grid = np.arange(teff_min, teff_max + teff_step / 2, teff_step)  # once per batch
    for spectrum in spectra:
        upstream = classes[spectrum]
        fit = fit_continuum_teff(*_good(spectrum), grid)
        if fit is None:
            yield ContinuumTeff.from_spectrum(spectrum, hot_cool_pk=upstream.task_pk, flag_no_pixels=True)
            continue
        teff, chi2, n_bins, edge = fit
        yield ContinuumTeff.from_spectrum(
            spectrum, teff=teff, chi2=chi2, n_bins=n_bins, hot_cool_pk=upstream.task_pk, flag_at_grid_edge=edge
        )
