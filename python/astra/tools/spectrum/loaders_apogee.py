"""Readers for APOGEE files: apStar, apVisit and aspcapStar (SDSS-IV data models).

Registered with the specutils/astropy I/O registry when :mod:`astra.tools.spectrum` is
imported, so ``Spectrum1D.read(path)`` picks them without ``format=``.
"""

import numpy as np
import astropy.units as u

from astra.datamodels.grids import APSTAR_GRID
from astra.datamodels.releases import apstar_shapes, describe_allowed

from astra.tools.spectrum.errors import (
    SpectrumReadError,
    describe_source,
    open_fits,
    read_image,
    require_shape,
)
from astra.tools.spectrum.registry import register_loader
from astra.tools.spectrum.utils import (
    APOGEE_BAD_PIXEL_BITS,
    ivar_from_sigma,
    log_linear_wavelength,
    make_spectrum,
)

__all__ = ["load_apstar", "load_apvisit", "load_aspcapstar", "APSTAR_NPIX", "APVISIT_SHAPE"]

#: Pixels of the apStar rest-frame grid (:data:`astra.datamodels.APSTAR_GRID`).
APSTAR_NPIX = APSTAR_GRID.npix
#: apVisit images: three chips (red, green, blue) of 4096 pixels.
APVISIT_SHAPE = (3, 4096)
#: HDUs in the data models (0 is the header).
APSTAR_HDUS = 10
APVISIT_HDUS = 11
ASPCAPSTAR_HDUS = 4


def _wavelength_solution(header, fallback, name, index):
    for h in (header, fallback):
        if h is not None and "CRVAL1" in h and "CDELT1" in h:
            values = {key: h.get(key, 1) for key in ("CRVAL1", "CDELT1", "CRPIX1")}
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SpectrumReadError(name, f"HDU {index} header: {key} is {value!r}, not a number")
            return tuple(float(v) for v in values.values())
    raise SpectrumReadError(
        name, f"HDU {index} header has no CRVAL1/CDELT1 log-linear wavelength solution"
    )


def _apstar_snr(header, n_rows):
    """Per-row S/N: the combined rows carry SNR, visit rows SNRVIS1..n."""
    snr = np.full(n_rows, np.nan)
    combined = header.get("SNR", np.nan)
    if n_rows == 1:
        snr[0] = combined
        return snr
    snr[: min(2, n_rows)] = combined
    for i in range(2, n_rows):
        snr[i] = header.get(f"SNRVIS{i - 1}", np.nan)
    return snr


@register_loader("apStar")
def load_apstar(file_obj, bad_bits=APOGEE_BAD_PIXEL_BITS, **kwargs):
    """Read an apStar file: every row (combined spectra, then each visit) as one Spectrum.

    The flux is always 2-D, ``(n_rows, 8575)``, as the release's data model stores it
    (:func:`astra.datamodels.releases.apstar_shapes`): with ``NVISITS = 1``, ``n_rows`` is 1
    in DR13-DR16 (whose HDUs are 1-D in the file) and 2 from DR17 on (the pixel- and
    global-weighted combinations of the one visit); with ``n >= 2`` visits it is ``n + 2``
    (rows 0 and 1 the combined spectra with pixel and global weighting, then one row per
    visit). Row 0 is always the combined spectrum.

    :param file_obj: Path, open file object or HDUList of an apStar file.
    :param bad_bits: Pixel bits that set the boolean ``mask`` (default
        :data:`~astra.tools.spectrum.utils.APOGEE_BAD_PIXEL_BITS`).
    :returns: A :class:`specutils.Spectrum` with log-linear vacuum wavelengths in Angstrom,
        flux in 1e-17 erg/s/cm2/Angstrom, ``InverseVariance`` uncertainty (0 where the
        error is not finite, not positive or the pipeline's 1e10 "no data" value), boolean
        ``mask`` (True = bad), and ``meta`` with ``header`` (HDU 0), ``bitmask`` (HDU 3,
        integers, rows as flux), ``snr`` (per row: header SNR for the combined rows, SNRVISn
        for visit n), ``nvisits``, ``obj`` and ``visit_files``.
    :raises SpectrumReadError: If the file is missing, empty, truncated or not an apStar, or
        its HDUs 1-3 have a shape no release allows (the message names the shape found and the
        shapes each release allows).
    """
    name = describe_source(file_obj)
    with open_fits(file_obj, min_hdus=APSTAR_HDUS, kind="apStar") as hdul:
        header = hdul[0].header  # parsed in memory: valid after the file is closed
        flux_header = hdul[1].header
        arrays = [read_image(hdul, i, name, "apStar") for i in (1, 2, 3)]

    nvisits = header.get("NVISITS")
    nvisits = int(nvisits) if isinstance(nvisits, (int, np.integer)) and not isinstance(nvisits, bool) else None
    allowed = apstar_shapes(nvisits)
    for index, (array, what) in enumerate(zip(arrays, ("flux", "sigma", "bitmask")), 1):
        if array.shape not in allowed:
            raise SpectrumReadError(
                name,
                f"HDU {index} ({what}) has shape {array.shape} with NVISITS = {nvisits}; the apStar "
                f"data model allows {describe_allowed(allowed)}",
            )
    flux, sigma, bitmask = (np.atleast_2d(a) for a in arrays)
    if not (flux.shape == sigma.shape == bitmask.shape):
        raise SpectrumReadError(
            name,
            f"HDUs 1-3 disagree in shape: flux {flux.shape}, sigma {sigma.shape}, "
            f"bitmask {bitmask.shape}",
        )
    crval, cdelt, crpix = _wavelength_solution(flux_header, header, name, 1)
    wavelength = log_linear_wavelength(crval, cdelt, APSTAR_NPIX, crpix)
    n_rows = flux.shape[0]
    n_visits_in_file = 1 if n_rows <= 2 else n_rows - 2
    meta = {
        "header": header,
        "snr": _apstar_snr(header, n_rows),
        "nvisits": int(nvisits) if nvisits is not None else n_visits_in_file,
        "obj": str(header.get("OBJID", "")).strip(),
        "visit_files": [
            str(header.get(f"SFILE{i}", "")).strip() for i in range(1, n_visits_in_file + 1)
        ],
    }
    return make_spectrum(
        wavelength, flux, ivar_from_sigma(sigma), bitmask.astype(np.int32), bad_bits, meta
    )


@register_loader("apVisit")
def load_apvisit(file_obj, bad_bits=APOGEE_BAD_PIXEL_BITS, **kwargs):
    """Read an apVisit file: the three chips joined into one spectrum in ascending wavelength.

    In the file each HDU is ``(3, 4096)``, chip 0 is the reddest and wavelength decreases
    along the pixels; the result is 1-D with 12288 pixels sorted by wavelength (observed
    frame, vacuum).

    :param file_obj: Path, open file object or HDUList of an apVisit file.
    :param bad_bits: Pixel bits that set the boolean ``mask``.
    :returns: A :class:`specutils.Spectrum` with ``InverseVariance`` uncertainty, boolean
        ``mask`` and ``meta`` with ``header``, ``bitmask`` (integers), ``snr`` (header SNR),
        ``chip`` (the chip, 0-2, each pixel came from) and ``obj``.
    :raises SpectrumReadError: If the file is missing, empty, truncated or not an apVisit.
    """
    name = describe_source(file_obj)
    with open_fits(file_obj, min_hdus=APVISIT_HDUS, kind="apVisit") as hdul:
        header = hdul[0].header  # parsed in memory: valid after the file is closed
        arrays = [read_image(hdul, i, name, "apVisit") for i in (1, 2, 3, 4)]
    for index, (array, what) in enumerate(
        zip(arrays, ("flux", "sigma", "bitmask", "wavelength")), 1
    ):
        require_shape(array, APVISIT_SHAPE, name, index, what)
    flux, sigma, bitmask, wavelength = (a.ravel() for a in arrays)
    if not np.all(np.isfinite(wavelength)):
        raise SpectrumReadError(name, "HDU 4 (wavelength) has non-finite values")
    order = np.argsort(wavelength, kind="stable")
    chip = np.repeat(np.arange(APVISIT_SHAPE[0]), APVISIT_SHAPE[1])[order]
    meta = {
        "header": header,
        "snr": float(header.get("SNR", np.nan)),
        "chip": chip,
        "obj": str(header.get("OBJID", "")).strip(),
    }
    return make_spectrum(
        wavelength[order],
        flux[order],
        ivar_from_sigma(sigma[order]),
        bitmask[order].astype(np.int32),
        bad_bits,
        meta,
    )


@register_loader("aspcapStar")
def load_aspcapstar(file_obj, **kwargs):
    """Read an aspcapStar file: the ASPCAP pseudo-continuum-normalised spectrum.

    :param file_obj: Path, open file object or HDUList of an aspcapStar file.
    :returns: A dimensionless :class:`specutils.Spectrum` (HDU 1) with log-linear wavelengths
        from CRVAL1/CDELT1 of HDU 1, ``InverseVariance`` from the errors of HDU 2, ``mask``
        where the inverse variance is 0, and ``meta`` with ``header``, ``model_flux`` (the
        best-fitting ASPCAP model, HDU 3), ``snr`` (header SNR if present) and
        ``bitmask`` (``None``: the data model has no pixel bitmask).
    :raises SpectrumReadError: If the file is missing, empty, truncated or not an aspcapStar.
    """
    name = describe_source(file_obj)
    with open_fits(file_obj, min_hdus=ASPCAPSTAR_HDUS, kind="aspcapStar") as hdul:
        header = hdul[0].header  # parsed in memory: valid after the file is closed
        flux_header = hdul[1].header
        flux, error, model = (read_image(hdul, i, name, "aspcapStar") for i in (1, 2, 3))
    require_shape(flux, (None,), name, 1, "flux")
    for index, (array, what) in ((2, (error, "error")), (3, (model, "model"))):
        require_shape(array, flux.shape, name, index, what)
    crval, cdelt, crpix = _wavelength_solution(flux_header, None, name, 1)
    wavelength = log_linear_wavelength(crval, cdelt, flux.size, crpix)
    meta = {
        "header": header,
        "model_flux": model,
        "snr": float(header.get("SNR", np.nan)),
        "obj": str(header.get("OBJID", header.get("APOGEE_ID", ""))).strip(),
    }
    return make_spectrum(
        wavelength, flux, ivar_from_sigma(error), None, 0, meta, u.dimensionless_unscaled
    )
