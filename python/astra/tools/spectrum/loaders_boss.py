"""Reader for BOSS spectra: ``spec-PLATE-MJD-FIBER.fits`` (SDSS-III/IV, and SDSS-V spec files).

The coadded spectrum is the ``COADD`` binary table in HDU 1 with columns ``flux``,
``loglam``, ``ivar``, ``and_mask``, ``or_mask`` (column names are matched case-insensitively:
SDSS-V files use upper case).
"""

import numpy as np
from astropy.io import fits

from astra.tools.spectrum.errors import SpectrumReadError, describe_source, open_fits
from astra.tools.spectrum.registry import register_loader
from astra.tools.spectrum.utils import BOSS_BAD_PIXEL_BITS, clean_ivar, make_spectrum

__all__ = ["load_boss_spec"]

_REQUIRED = ("flux", "loglam", "ivar")


def _column(table, wanted):
    for name in table.columns.names:
        if name.lower() == wanted:
            return np.array(table.data[name])
    return None


def _snr(flux, ivar):
    """Median S/N over pixels with ivar > 0.

    Close to SN_MEDIAN_ALL of the SPALL table (54.3 vs 55.0 for spec-3586-55181-0500), which
    is not used because parsing that 236-column table costs ~0.1 s per file.
    """
    good = ivar > 0
    return float(np.median(flux[good] * np.sqrt(ivar[good]))) if good.any() else np.nan


@register_loader("spec")
def load_boss_spec(file_obj, bad_bits=BOSS_BAD_PIXEL_BITS, **kwargs):
    """Read the coadded spectrum (HDU 1, COADD) of a BOSS spec file.

    :param file_obj: Path, open file object or HDUList of a spec file.
    :param bad_bits: ``and_mask`` bits that set the boolean ``mask`` (default
        :data:`~astra.tools.spectrum.utils.BOSS_BAD_PIXEL_BITS`).
    :returns: A 1-D :class:`specutils.Spectrum` with wavelength ``10**loglam`` (vacuum,
        Angstrom), flux in 1e-17 erg/s/cm2/Angstrom, ``InverseVariance`` uncertainty,
        ``mask`` (True where ivar is 0 or a bad bit is set) and ``meta`` with ``header``
        (HDU 0), ``bitmask`` (``and_mask``), ``or_mask``, ``snr`` and ``name`` (EXTNAME).
    :raises SpectrumReadError: If the file is missing, empty, truncated or not a spec file.
    """
    name = describe_source(file_obj)
    with open_fits(file_obj, min_hdus=2, kind="spec") as hdul:
        table = hdul[1]
        if not isinstance(table, fits.BinTableHDU):
            raise SpectrumReadError(
                name, f"HDU 1 is a {type(table).__name__}, expected the COADD binary table"
            )
        missing = [c for c in _REQUIRED if _column(table, c) is None]
        if missing:
            raise SpectrumReadError(
                name,
                f"HDU 1 has no {', '.join(missing)} column(s); found {table.columns.names}",
            )
        try:
            flux, loglam, ivar = (_column(table, c) for c in _REQUIRED)
            and_mask = _column(table, "and_mask")
            or_mask = _column(table, "or_mask")
        except Exception as exc:
            raise SpectrumReadError(name, f"HDU 1 table cannot be read ({exc})") from exc
        header = hdul[0].header  # parsed in memory: valid after the file is closed
        ivar = clean_ivar(ivar)
        snr = _snr(flux, ivar)
        extname = table.name
    if flux.ndim != 1 or flux.size == 0:
        raise SpectrumReadError(name, f"HDU 1 flux column has shape {flux.shape}, expected (n,)")
    if and_mask is None:
        and_mask = np.zeros(flux.shape, dtype=np.int32)
    meta = {"header": header, "or_mask": or_mask, "snr": snr, "name": extname}
    return make_spectrum(10 ** loglam.astype(np.float64), flux, ivar, and_mask, bad_bits, meta)
