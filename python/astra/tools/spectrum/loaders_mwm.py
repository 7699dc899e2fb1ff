"""Readers for the SDSS-V Milky Way Mapper files mwmStar and mwmVisit.

Data model (Astra >= 0.5): HDU 0 is a header-only summary (``V_ASTRA``, ``SDSS_ID``, ...);
HDUs 1-4 are binary tables for BOSS/APO, BOSS/LCO, APOGEE/APO and APOGEE/LCO, one row per
spectrum (mwmStar: the coadd; mwmVisit: each visit) with array columns ``flux``, ``ivar``,
``pixel_flags`` and scalar columns such as ``snr``, ``telescope``, ``mjd`` (mwmVisit) or
``min_mjd``/``max_mjd`` (mwmStar). Wavelengths are a ``wavelength`` column when present
(mwmStar), else the log-linear solution ``CRVAL``/``CDELT``/``NPIXELS`` of the HDU header.
An instrument/observatory without data has an empty table (0 rows).
"""

import numpy as np
from astropy.io import fits
from specutils import SpectrumList

from astra.tools.spectrum.errors import SpectrumReadError, describe_source, names_bad_cards, open_fits
from astra.tools.spectrum.identify import kind_from_filename
from astra.tools.spectrum.registry import register_loader
from astra.tools.spectrum.utils import clean_ivar, log_linear_wavelength, make_spectrum

__all__ = [
    "load_mwm_spectrum",
    "load_mwm_list",
    "MWM_HDU_NAMES",
]

#: EXTNAMEs of HDUs 1-4.
MWM_HDU_NAMES = ("BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO")
_PIXEL_COLUMNS = {"flux", "ivar", "pixel_flags", "wavelength", "continuum"}


def _column(hdu, wanted):
    for name in hdu.columns.names:
        if name.lower() == wanted:
            return np.array(hdu.data[name])
    return None


def _hdu_spectrum(hdu, header, name, index, bad_bits):
    """Build one Spectrum (rows x pixels) from a non-empty mwm binary table."""
    flux = _column(hdu, "flux")
    ivar = _column(hdu, "ivar")
    if flux is None or ivar is None:
        raise SpectrumReadError(name, f"HDU {index} has no flux/ivar columns")
    flux = flux.reshape(flux.shape[0], -1)
    ivar = clean_ivar(ivar.reshape(flux.shape))
    flags = _column(hdu, "pixel_flags")
    flags = (
        np.zeros(flux.shape, dtype=np.int64)
        if flags is None
        else flags.reshape(flux.shape).astype(np.int64)
    )
    wavelength = _column(hdu, "wavelength")
    if wavelength is not None:
        wavelength = wavelength.reshape(flux.shape[0], -1)[0]
    else:
        h = hdu.header
        if not all(k in h for k in ("CRVAL", "CDELT")):
            raise SpectrumReadError(
                name, f"HDU {index} has neither a wavelength column nor CRVAL/CDELT keywords"
            )
        n = int(h.get("NPIXELS", flux.shape[1]))
        wavelength = log_linear_wavelength(h["CRVAL"], h["CDELT"], n, h.get("CRPIX", 1))
    if wavelength.size != flux.shape[1]:
        raise SpectrumReadError(
            name,
            f"HDU {index} has {wavelength.size} wavelengths for {flux.shape[1]} flux pixels",
        )
    meta = {"header": header, "hdu_header": hdu.header.copy(), "name": hdu.name}
    for column in hdu.columns:
        key = column.name.lower()
        if key in _PIXEL_COLUMNS:
            continue
        values = np.array(hdu.data[column.name])
        if values.ndim == 1:
            if values.dtype.kind in "SU":
                values = np.char.strip(values.astype(str))
            meta.setdefault(key, values)
    return make_spectrum(wavelength, flux, ivar, flags, bad_bits, meta)


def _read_mwm(file_obj, kind, bad_bits, hdu=None):
    """Return [(hdu index, Spectrum)] for non-empty HDUs 1-4 (or only ``hdu``)."""
    name = describe_source(file_obj)
    spectra = []
    with open_fits(file_obj, min_hdus=5, kind=kind) as hdul:
        header = hdul[0].header  # parsed in memory: valid after the file is closed
        indices = range(1, 5) if hdu is None else [hdu]
        for index in indices:
            if not 1 <= index <= 4:
                raise SpectrumReadError(name, f"hdu={index} is not one of 1-4 ({kind})")
            table = hdul[index]
            if not isinstance(table, fits.BinTableHDU):
                raise SpectrumReadError(
                    name, f"HDU {index} is a {type(table).__name__}, expected a binary table"
                )
            if int(table.header.get("NAXIS2", 0)) == 0:
                if hdu is not None:
                    raise SpectrumReadError(name, f"HDU {index} ({table.name}) is empty")
                continue
            try:
                spectra.append((index, _hdu_spectrum(table, header, name, index, bad_bits)))
            except SpectrumReadError:
                raise
            except Exception as exc:
                raise SpectrumReadError(name, f"HDU {index} cannot be read ({exc})") from exc
    if not spectra:
        raise SpectrumReadError(name, f"no spectra: HDUs 1-4 of this {kind} file are all empty")
    return spectra


def _register(kind):
    @register_loader(kind, autogenerate_spectrumlist=False)
    def load_one(file_obj, hdu=None, bad_bits=0, **kwargs):
        return _read_mwm(file_obj, kind, bad_bits, hdu)[0][1]

    @register_loader(kind, dtype=SpectrumList)
    def load_list(file_obj, bad_bits=0, **kwargs):
        return SpectrumList([s for _, s in _read_mwm(file_obj, kind, bad_bits)])

    return load_one, load_list


_register("mwmStar")
_register("mwmVisit")


@names_bad_cards
def load_mwm_spectrum(file_obj, hdu=None, bad_bits=0):
    """Read one instrument/observatory HDU of an mwmStar or mwmVisit file.

    This is what ``Spectrum1D.read(path)`` does for these files.

    :param file_obj: Path, open file object or HDUList.
    :param hdu: HDU number 1-4; ``None`` takes the first non-empty one.
    :param bad_bits: ``pixel_flags`` bits that set the boolean ``mask`` (default 0: only
        pixels with zero inverse variance are masked).
    :returns: A :class:`specutils.Spectrum` with 2-D flux ``(n_rows, n_pixels)``,
        ``InverseVariance`` uncertainty and ``meta`` with ``header`` (HDU 0), ``hdu_header``,
        ``name`` (EXTNAME), ``bitmask`` (``pixel_flags``) and every scalar column of the
        table (``snr``, ``telescope``, ``mjd`` or ``min_mjd``/``max_mjd``, ...), one value
        per row.
    :raises SpectrumReadError: If the file is broken, or the HDU asked for is empty.
    """
    kind = _kind_for(file_obj)
    return _read_mwm(file_obj, kind, bad_bits, hdu)[0][1]


@names_bad_cards
def load_mwm_list(file_obj, bad_bits=0):
    """Read every non-empty instrument/observatory HDU of an mwmStar or mwmVisit file.

    This is what ``SpectrumList.read(path)`` does for these files.

    :param file_obj: Path, open file object or HDUList.
    :param bad_bits: ``pixel_flags`` bits that set the boolean ``mask``.
    :returns: A :class:`specutils.SpectrumList`, in HDU order, one Spectrum per non-empty HDU
        (see :func:`load_mwm_spectrum` for each).
    :raises SpectrumReadError: If the file is broken or all four HDUs are empty.
    """
    kind = _kind_for(file_obj)
    return SpectrumList([s for _, s in _read_mwm(file_obj, kind, bad_bits)])


def _kind_for(file_obj):
    kind = kind_from_filename(describe_source(file_obj))
    return kind if kind in ("mwmStar", "mwmVisit") else "mwm"
