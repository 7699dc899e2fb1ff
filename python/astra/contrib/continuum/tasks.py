"""Continuum normalisation: a smooth continuum fitted to continuum pixels, one FITS file per spectrum.

APOGEE spectra (apStar, apVisit) are fitted with sines and cosines, separately on each detector
chip, by inverse-variance-weighted least squares (Ness et al. 2015)::

    continuum(x) = c0 + sum_k [a_k sin(2 pi k x / L) + b_k cos(2 pi k x / L)],  k = 1..order

with ``x`` the wavelength in Angstrom and ``L`` the ``length_scale``. BOSS spectra get a cubic
B-spline (knots every ``knot_spacing`` Angstrom) or a Chebyshev polynomial over the whole
spectrum. In every case the fit is iterated a few times, rejecting pixels that fall more than
``clip_low`` robust standard deviations below the fit (absorption lines) or ``clip_high`` above
it (sky residuals, cosmic rays).

Continuum pixels of APOGEE spectra come from a boolean mask on the 8575-pixel apStar rest-frame
grid shipped with Astra (``astra/etc/continuum-pixels-apogee.npy``; made by
``bin/make_continuum_pixels.py``: pixels that are line-free in the synthetic spectral model
over its whole label range *and* close to the pseudo-continuum of the high-S/N real dr13 apStar
spectra) or from a file given as ``continuum_pixels``. apVisit spectra are in the observed
frame, where the rest-frame mask does not apply (and the header velocity of dr13 apVisit files
is not reliable): every good pixel is a candidate and the clipping finds the continuum.

Use the pure function on arrays::

    from astra.contrib.continuum import normalise
    flux_n, ivar_n, continuum = normalise(wavelength, flux, ivar, mask=bad)

or the task, which other tasks ``require()``::

    ContinuumNormalise(release="dr13", apred="r6", apstar="stars", telescope="apo25m",
                       field="120-45", obj="2M00452143+1634446")

Its output (one FITS file per spectrum) has HDUs ``FLUX`` (normalised), ``IVAR`` (normalised
inverse variance, 0 for bad pixels and outside the fitted regions, where the flux is set to 1),
``CONTINUUM`` and ``WAVELENGTH``; for apStar every row (combined spectra, then each visit) is
normalised. Read it with :func:`read_normalised`.
"""

import functools
import os

import numpy as np

import astra
from astra import datamodels
from astra.datamodels.grids import APSTAR_GRID
from astra.tasks import BaseTask
from astra.tasks.io import ApStarFile, ApVisitFile, SpecFile
from astra.tasks.io.base import SPECTRUM_ID_PARAMETERS, SpectrumKeysMixin, supported_file_task

__all__ = [
    "ContinuumNormalise",
    "Normaliser",
    "SETTINGS",
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

#: The data-model tasks the continuum task reads, by data-model name (a view of
#: :data:`astra.datamodels.DATA_MODELS`).
SPECIES = datamodels.file_tasks(("apStar", "apVisit", "spec"))

#: Wavelength ranges (Angstrom) of the three APOGEE chips, split in the middle of the gaps.
APOGEE_REGIONS = ((15000.0, 15834.0), (15834.0, 16454.0), (16454.0, 17100.0))

#: The continuum-pixel mask shipped with Astra (boolean, apStar rest-frame grid).
DEFAULT_CONTINUUM_PIXELS = os.path.join(os.path.dirname(astra.__file__), "etc", "continuum-pixels-apogee.npy")

_APSTAR_NPIX = APSTAR_GRID.npix


# ---------------------------------------------------------------------- design matrices


def sinusoid_design(x, order, length_scale):
    """The design matrix ``[1, sin(2 pi k x / L), cos(2 pi k x / L)]`` for ``k = 1..order``.

    :param x: positions (wavelength in Angstrom, or pixels), shape ``(n,)``.
    :param order: number of sine/cosine pairs.
    :param length_scale: ``L``, in the units of ``x``.
    :returns: array ``(n, 2 * order + 1)``.
    """
    x = np.asarray(x, dtype=float)
    columns = [np.ones_like(x)]
    for k in range(1, order + 1):
        phase = 2 * np.pi * k * x / length_scale
        columns += [np.sin(phase), np.cos(phase)]
    return np.stack(columns, axis=1)


def _chebyshev_design(x, degree, lo, hi):
    t = 2 * (np.asarray(x, dtype=float) - lo) / max(hi - lo, 1e-12) - 1
    return np.polynomial.chebyshev.chebvander(t, degree)


def _spline_design(x, knot_spacing, lo, hi):
    from scipy.interpolate import BSpline

    n_inner = max(int(np.ceil((hi - lo) / knot_spacing)), 1)
    inner = np.linspace(lo, hi, n_inner + 1)
    knots = np.concatenate([[lo] * 3, inner, [hi] * 3])
    x = np.clip(np.asarray(x, dtype=float), lo, hi)
    return BSpline.design_matrix(x, knots, 3).toarray()


def _design(method, x, lo, hi, order, length_scale, degree, knot_spacing):
    if method == "sinusoid":
        return sinusoid_design(x, order, length_scale)
    if method == "polynomial":
        return _chebyshev_design(x, degree, lo, hi)
    if method == "spline":
        return _spline_design(x, knot_spacing, lo, hi)
    raise ValueError(f"unknown continuum method {method!r}; use 'sinusoid', 'polynomial' or 'spline'")


# ---------------------------------------------------------------------- fitting


def _fit_region(flux, ivar, use, design, n_iterations, clip_low, clip_high):
    """Weighted least squares on the ``use`` pixels, with asymmetric clipping; returns (fit, used)."""
    n_params = design.shape[1]
    used = use.copy()
    fit = None
    for _ in range(n_iterations + 1):
        if used.sum() <= n_params:
            break
        sw = np.sqrt(ivar[used])
        coefficients, *_ = np.linalg.lstsq(design[used] * sw[:, None], flux[used] * sw, rcond=None)
        fit = design @ coefficients
        relative = np.where(fit > 0, flux / np.where(fit > 0, fit, 1.0) - 1.0, np.nan)
        current = relative[used]
        scale = 1.4826 * np.nanmedian(np.abs(current - np.nanmedian(current)))
        if not np.isfinite(scale) or scale <= 0:
            break
        keep = use & (relative > -clip_low * scale) & (relative < clip_high * scale)
        if keep.sum() <= max(n_params, 0.2 * use.sum()) or np.array_equal(keep, used):
            break
        used = keep
    return fit, used


def fit_continuum(
    wavelength,
    flux,
    ivar,
    mask=None,
    continuum_pixels=None,
    method="sinusoid",
    order=3,
    length_scale=1400.0,
    regions=APOGEE_REGIONS,
    degree=5,
    knot_spacing=250.0,
    n_iterations=3,
    clip_low=2.0,
    clip_high=3.0,
):
    """Fit the continuum of one or several spectra on a common wavelength axis.

    :param wavelength: wavelengths (Angstrom), shape ``(n_pixels,)``.
    :param flux: flux, ``(n_pixels,)`` or ``(n_rows, n_pixels)``.
    :param ivar: inverse variance, same shape as ``flux``.
    :param mask: optional boolean array, true for bad pixels (never used; broadcast over rows).
    :param continuum_pixels: optional boolean ``(n_pixels,)``, true for continuum pixels; by
        default every good pixel is a candidate (the clipping then finds the continuum).
    :param method: ``"sinusoid"`` (APOGEE), ``"polynomial"`` (Chebyshev) or ``"spline"``
        (cubic B-spline; BOSS).
    :param order: sine/cosine pairs of the sinusoid fit.
    :param length_scale: ``L`` of the sinusoid fit, in Angstrom.
    :param regions: ``(lo, hi)`` wavelength ranges fitted separately (APOGEE chips); ``None``
        fits the whole spectrum at once.
    :param degree: Chebyshev degree of the polynomial fit.
    :param knot_spacing: knot spacing (Angstrom) of the spline fit.
    :param n_iterations: clipping iterations after the first fit.
    :param clip_low: reject pixels this many robust standard deviations below the fit.
    :param clip_high: reject pixels this many robust standard deviations above the fit.
    :returns: ``(continuum, used)``: the continuum (``nan`` where nothing was fitted, and
        beyond the first and last good pixel of each region: no extrapolation) and the
        boolean pixels the last fit used, both shaped like ``flux``.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    flux2 = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar2 = np.atleast_2d(np.asarray(ivar, dtype=float))
    if flux2.shape != ivar2.shape or flux2.shape[-1] != wavelength.size:
        raise ValueError(f"flux {flux2.shape}, ivar {ivar2.shape} and wavelength {wavelength.shape} do not match")
    good = np.isfinite(flux2) & np.isfinite(ivar2) & (ivar2 > 0)
    if mask is not None:
        good &= ~np.broadcast_to(np.atleast_2d(np.asarray(mask, dtype=bool)), good.shape)
    candidates = good.copy()
    if continuum_pixels is not None:
        candidates &= np.asarray(continuum_pixels, dtype=bool)[None, :]
    if regions is None:
        regions = ((wavelength.min(), wavelength.max() + 1e-9),)
    continuum = np.full(flux2.shape, np.nan)
    used = np.zeros(flux2.shape, dtype=bool)
    for lo, hi in regions:
        in_region = (wavelength >= lo) & (wavelength < hi)
        if not in_region.any():
            continue
        x = wavelength[in_region]
        design = _design(method, x, x.min(), x.max(), order, length_scale, degree, knot_spacing)
        index = np.flatnonzero(in_region)
        for row in range(flux2.shape[0]):
            use = candidates[row, in_region]
            f = np.where(use, flux2[row, in_region], 0.0)
            iv = np.where(use, ivar2[row, in_region], 0.0)
            fit, row_used = _fit_region(f, iv, use, design, n_iterations, clip_low, clip_high)
            if fit is None:
                continue
            # No extrapolation: the continuum spans the good pixels of the region only.
            span = np.flatnonzero(good[row, in_region])
            inside = index[span[0] : span[-1] + 1]
            continuum[row, inside] = fit[span[0] : span[-1] + 1]
            used[row, in_region] = row_used
    shape = np.shape(flux)
    return continuum.reshape(shape), used.reshape(shape)


def normalise(wavelength, flux, ivar, mask=None, **kwargs):
    """Continuum-normalise one or several spectra.

    Pixels that are bad (``mask``, non-finite, ``ivar <= 0``), outside the fitted regions or
    where the continuum is not positive get normalised flux 1 and inverse variance 0.

    :param wavelength: wavelengths (Angstrom), ``(n_pixels,)``.
    :param flux: flux, ``(n_pixels,)`` or ``(n_rows, n_pixels)``.
    :param ivar: inverse variance, same shape.
    :param mask: optional boolean, true for bad pixels.
    :param kwargs: passed to :func:`fit_continuum` (``continuum_pixels``, ``method``,
        ``order``, ``length_scale``, ``regions``, ...).
    :returns: ``(normalised_flux, normalised_ivar, continuum)``.
    """
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    continuum, _ = fit_continuum(wavelength, flux, ivar, mask=mask, **kwargs)
    ok = np.isfinite(continuum) & (continuum > 0) & np.isfinite(flux) & np.isfinite(ivar)
    safe = np.where(ok, continuum, 1.0)
    normalised_flux = np.where(ok, flux / safe, 1.0)
    normalised_ivar = np.where(ok & (ivar > 0), ivar * safe**2, 0.0)
    if mask is not None:
        normalised_ivar = np.where(np.broadcast_to(mask, flux.shape), 0.0, normalised_ivar)
    return normalised_flux, normalised_ivar, continuum


# ---------------------------------------------------------------------- continuum pixel masks


@functools.lru_cache(maxsize=8)
def _load_mask(path, mtime):
    if path.endswith(".npy"):
        mask = np.load(path, allow_pickle=False)
    else:
        mask = np.zeros(_APSTAR_NPIX, dtype=bool)
        mask[np.loadtxt(path, dtype=int, ndmin=1)] = True
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (_APSTAR_NPIX,):
        raise ValueError(f"{path}: continuum pixel mask has shape {mask.shape}, expected ({_APSTAR_NPIX},)")
    mask.setflags(write=False)
    return mask


def load_continuum_pixels(path=None):
    """The boolean continuum-pixel mask on the apStar grid (8575 pixels).

    :param path: a ``.npy`` boolean array or a text file of pixel indices; default the mask
        shipped with Astra (:data:`DEFAULT_CONTINUUM_PIXELS`).
    :returns: a read-only boolean array.
    """
    path = os.path.abspath(os.path.expanduser(path or DEFAULT_CONTINUUM_PIXELS))
    if not os.path.exists(path):
        raise FileNotFoundError(f"continuum pixel mask {path} does not exist (parameter continuum_pixels)")
    return _load_mask(path, os.path.getmtime(path))


# ---------------------------------------------------------------------- reading the output


class NormalisedSpectrum:
    """A continuum-normalised spectrum read from a :class:`ContinuumNormalise` output.

    :ivar wavelength: ``(n_pixels,)``.
    :ivar flux: normalised flux, ``(n_rows, n_pixels)``.
    :ivar ivar: normalised inverse variance, ``(n_rows, n_pixels)``.
    :ivar continuum: the fitted continuum, ``(n_rows, n_pixels)``.
    :ivar header: the primary header (source path, species, method and settings).
    """

    def __init__(self, wavelength, flux, ivar, continuum, header):
        self.wavelength = wavelength
        self.flux = flux
        self.ivar = ivar
        self.continuum = continuum
        self.header = header


def read_normalised(path):
    """Read the FITS file written by :class:`ContinuumNormalise`.

    :param path: the output path.
    :returns: a :class:`NormalisedSpectrum` (flux, ivar and continuum always 2-D).
    """
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        arrays = [np.atleast_2d(np.asarray(hdul[name].data, dtype=float)) for name in ("FLUX", "IVAR", "CONTINUUM")]
        wavelength = np.asarray(hdul["WAVELENGTH"].data, dtype=float)
        header = hdul[0].header.copy()
    return NormalisedSpectrum(wavelength, *arrays, header)


# ---------------------------------------------------------------------- settings

#: The continuum settings: the parameters of :class:`ContinuumNormalise` besides the species
#: and the data-model keys (a method that normalises spectra itself takes the same ones).
SETTINGS = (
    "order", "length_scale", "continuum_pixels", "boss_method", "boss_degree", "knot_spacing",
    "n_iterations", "clip_low", "clip_high",
)


def fit_options(species, settings):
    """Keyword arguments of :func:`fit_continuum` for a species and continuum settings.

    :param species: the data-model name (``apStar``, ``apVisit``, ``spec``, ...).
    :param settings: values of :data:`SETTINGS` by name.
    """
    common = dict(n_iterations=settings["n_iterations"], clip_low=settings["clip_low"], clip_high=settings["clip_high"])
    if datamodels.get(species).instrument == "boss":
        return dict(common, method=settings["boss_method"], degree=settings["boss_degree"],
                    knot_spacing=settings["knot_spacing"], regions=None)
    return dict(common, method="sinusoid", order=settings["order"], length_scale=settings["length_scale"],
                regions=APOGEE_REGIONS)


class Normaliser:
    """Continuum normalisation of one species with fixed settings (what a batch sets up once).

    ``Normaliser("apStar")(wavelength, flux, ivar, mask)`` normalises as
    :class:`ContinuumNormalise` does with the same settings.

    :param species: the data-model name.
    :param settings: values of :data:`SETTINGS` by name; missing ones take
        :class:`ContinuumNormalise`'s defaults.
    :raises FileNotFoundError: if ``continuum_pixels`` names a file that does not exist.
    """

    def __init__(self, species, settings=None):
        params = dict(ContinuumNormalise.get_params())
        given = dict(settings or {})
        unknown = sorted(set(given) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown continuum setting(s) {', '.join(unknown)} (known: {', '.join(SETTINGS)})")
        self.species = species
        #: The settings in force.
        self.settings = {
            name: given[name] if name in given else params[name].task_value("ContinuumNormalise", name) for name in SETTINGS
        }
        #: The keyword arguments of :func:`fit_continuum`.
        self.options = fit_options(species, self.settings)
        if datamodels.get(species).grid is APSTAR_GRID:  # the mask is on the apStar grid
            self.options["continuum_pixels"] = load_continuum_pixels(self.settings["continuum_pixels"] or None)

    def __call__(self, wavelength, flux, ivar, mask=None):
        """Normalise: see :func:`normalise`.

        :returns: ``(normalised_flux, normalised_ivar, continuum)``.
        """
        return normalise(wavelength, flux, ivar, mask=mask, **self.options)


# ---------------------------------------------------------------------- the task


@astra.inherits(SpecFile, ApVisitFile, ApStarFile)
class ContinuumNormalise(SpectrumKeysMixin, BaseTask):
    """Continuum-normalise an apStar (every row), apVisit or BOSS spec file.

    Give ``species`` (``apStar`` (default), ``apVisit`` or ``spec``), ``release`` and that
    species' data-model keys (tuples for a batch). APOGEE spectra are fitted with sines and
    cosines per chip (apStar: on the continuum pixels; apVisit: on all good pixels, clipped),
    BOSS spectra with ``boss_method``.
    """

    task_id_parameters = SPECTRUM_ID_PARAMETERS

    species = astra.Parameter(default="apStar", description="sdss-access species: apStar, apVisit or spec")
    order = astra.IntParameter(default=3, description="sine/cosine pairs per APOGEE chip")
    length_scale = astra.FloatParameter(default=1400.0, description="length scale L (Angstrom) of the sines and cosines")
    continuum_pixels = astra.Parameter(
        default="", description="continuum pixel mask (.npy boolean or text indices, apStar grid); empty: shipped mask"
    )
    boss_method = astra.Parameter(default="spline", description="BOSS continuum: spline or polynomial")
    boss_degree = astra.IntParameter(default=5, description="Chebyshev degree of the BOSS polynomial")
    knot_spacing = astra.FloatParameter(default=250.0, description="BOSS spline knot spacing (Angstrom)")
    n_iterations = astra.IntParameter(default=3, description="sigma-clipping iterations")
    clip_low = astra.FloatParameter(default=2.0, description="reject pixels this many sigma below the fit")
    clip_high = astra.FloatParameter(default=3.0, description="reject pixels this many sigma above the fit")

    def requires(self):
        """The spectrum's data-model file task (a batch of them when this is a batch)."""
        task_class = supported_file_task("ContinuumNormalise", self.species, SPECIES)
        return task_class(**self.get_common_param_kwargs(task_class))

    def output(self):
        """The normalised spectrum of one file (FITS)."""
        return self.local_target("continuum.fits")

    def settings(self):
        """This task's continuum settings (:data:`SETTINGS`) by name."""
        return {name: getattr(self, name) for name in SETTINGS}

    def setup(self):
        """The :class:`Normaliser` of this batch (the continuum pixel mask is loaded once)."""
        return Normaliser(self.species, self.settings())

    def fit_options(self):
        """Keyword arguments of :func:`fit_continuum` for this task's species and settings."""
        return fit_options(self.species, self.settings())

    def process(self, task, normaliser):
        """Read the spectrum, normalise every row and write one FITS file atomically."""
        from astra.tools.spectrum import read_spectrum  # imported before Luigi forks: astra.forking

        path = task.input().path
        spectrum = read_spectrum(path, kind=self.species)
        wavelength = spectrum.spectral_axis.value
        flux_n, ivar_n, continuum = normaliser(wavelength, spectrum.flux.value, spectrum.uncertainty.array, spectrum.mask)
        if not np.any(ivar_n > 0):
            raise ValueError(f"{path}: no pixel could be normalised")
        self._write(task, path, wavelength, flux_n, ivar_n, continuum)

    def _write(self, task, path, wavelength, flux, ivar, continuum):
        from astropy.io import fits

        from astra.targets import atomic_path

        header = fits.Header()
        header["TASK_ID"] = task.task_id[:68]
        header["SPECIES"] = (self.species, "sdss-access species of the source file")
        header["METHOD"] = (self.fit_options()["method"], "continuum model")
        header["ORDER"] = (self.order, "sine/cosine pairs per chip (APOGEE)")
        header["LSCALE"] = (self.length_scale, "length scale L (Angstrom, APOGEE)")
        header["NROWS"] = (int(np.atleast_2d(flux).shape[0]), "spectra (rows) in this file")
        header["SOURCE"] = os.path.basename(path)
        hdus = [fits.PrimaryHDU(header=header)]
        for name, data in (("FLUX", flux), ("IVAR", ivar), ("CONTINUUM", continuum)):
            hdus.append(fits.ImageHDU(np.asarray(data, dtype=np.float32), name=name))
        hdus.append(fits.ImageHDU(np.asarray(wavelength, dtype=np.float64), name="WAVELENGTH"))
        with atomic_path(task.output().path) as tmp:
            fits.HDUList(hdus).writeto(tmp)
