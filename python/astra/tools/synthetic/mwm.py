"""Synthetic SDSS-V Milky Way Mapper files: mwmStar and mwmVisit (Astra >= 0.5 data model).

HDU 0: summary header (``V_ASTRA``, ``SDSS_ID``, ...). HDUs 1-4: ``BOSS/APO``, ``BOSS/LCO``,
``APOGEE/APO``, ``APOGEE/LCO`` binary tables, one row per spectrum; an instrument or
observatory without data is an empty table with the same columns.
"""

import numpy as np

from astra.tools.synthetic import common
from astra.tools.synthetic.fitsbytes import atomic_write, card, header_bytes, table_hdu
from astra.tools.synthetic.model import (
    APOGEE_CDELT,
    APOGEE_CRVAL,
    APOGEE_NPIX,
    BOSS_DLOGLAM,
    BOSS_LOGLAM0,
    BOSS_NPIX,
    apogee_chip_mask,
    continuum_flux,
    model_flux,
)

__all__ = ["write_mwmstar", "write_mwmvisit", "MWM_HDUS"]

#: (EXTNAME, instrument, observatory, telescope, crval, cdelt, npix) of HDUs 1-4.
MWM_HDUS = (
    ("BOSS/APO", "BOSS", "APO", "apo25m", BOSS_LOGLAM0, BOSS_DLOGLAM, BOSS_NPIX),
    ("BOSS/LCO", "BOSS", "LCO", "lco25m", BOSS_LOGLAM0, BOSS_DLOGLAM, BOSS_NPIX),
    ("APOGEE/APO", "APOGEE", "APO", "apo25m", APOGEE_CRVAL, APOGEE_CDELT, APOGEE_NPIX),
    ("APOGEE/LCO", "APOGEE", "LCO", "lco25m", APOGEE_CRVAL, APOGEE_CDELT, APOGEE_NPIX),
)


def _hdu(spec, n_rows, star, labels, snr, sdss_id, v_astra, rng):
    extname, instrument, observatory, telescope, crval, cdelt, npix = spec
    wavelength = 10 ** (crval + cdelt * np.arange(npix))
    shape = (n_rows, npix)
    flux = np.zeros(shape, dtype=np.float32)
    ivar = np.zeros(shape, dtype=np.float32)
    flags = np.zeros(shape, dtype=np.int64)
    continuum = np.ones(shape, dtype=np.float32)
    if n_rows:
        cont = continuum_flux(wavelength, labels["teff"], 100.0)
        sigma = cont / snr
        truth = np.broadcast_to(cont * model_flux(wavelength, labels), shape)
        flux[:] = common.noisy(truth, np.broadcast_to(sigma, shape), rng)
        ivar[:] = 1.0 / sigma**2
        continuum[:] = cont
        if instrument == "APOGEE":
            gap = ~apogee_chip_mask(wavelength)
            flux[:, gap] = 0.0
            ivar[:, gap] = 0.0
            flags[:, gap] |= 1
        flags |= (rng.random(shape) < 0.002).astype(np.int64) << 1
    columns = [
        ("spectrum_pk_id", np.arange(n_rows, dtype=np.int64) + 1000),
        ("release", np.array(["sdss5"] * n_rows, dtype="S5")),
        ("filetype", np.array(["apStar" if instrument == "APOGEE" else "specFull"] * n_rows,
                              dtype="S8")),
        ("v_astra", np.array([v_astra] * n_rows, dtype="S8")),
        ("sdss_id", np.full(n_rows, sdss_id, dtype=np.int64)),
        ("telescope", np.array([telescope] * n_rows, dtype="S6")),
        ("snr", np.full(n_rows, snr, dtype=np.float32)),
    ]
    if star:
        columns += [
            ("min_mjd", np.full(n_rows, 59804, dtype=np.int32)),
            ("max_mjd", np.full(n_rows, 59866, dtype=np.int32)),
            ("wavelength", np.broadcast_to(wavelength, shape).astype(np.float32)),
        ]
    else:
        columns.append(("mjd", 59804 + np.arange(n_rows, dtype=np.int32) * 7))
    columns += [
        ("flux", flux),
        ("ivar", ivar),
        ("pixel_flags", flags),
        ("continuum", continuum),
        ("nmf_rchi2", np.ones(n_rows, dtype=np.float32)),
        ("nmf_flags", np.zeros(n_rows, dtype=np.int32)),
    ]
    cards = [
        card("OBSRVTRY", observatory),
        card("INSTRMNT", instrument),
        card("CRVAL", crval, "Log(10) wavelength of first pixel"),
        card("CDELT", cdelt, "Log(10) delta wavelength"),
        card("CTYPE", "LOG-LINEAR", "Wavelength solution type"),
        card("CUNIT", "Angstrom (Vacuum)", "Wavelength unit"),
        card("CRPIX", 1, "Reference pixel"),
        card("DC-FLAG", 1, "Linear wavelength flag"),
        card("NPIXELS", npix, "Number of pixels per spectrum"),
    ]
    return table_hdu(columns, n_rows, cards, extname=extname)


def _write(path, star, sdss_id, v_astra, labels, snr, seed, hdus, n_visits):
    rng = common.make_rng(seed)
    labels = common.resolve_labels(labels)
    unknown = set(hdus) - {spec[0] for spec in MWM_HDUS}
    if unknown:
        raise ValueError(f"unknown HDUs {sorted(unknown)}; expected some of "
                         f"{[spec[0] for spec in MWM_HDUS]}")
    primary = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", 8, "array data type"),
        card("NAXIS", 0, "number of array dimensions"),
        card("EXTEND", True),
        card("V_ASTRA", v_astra, "Astra version"),
        card("CREATED", common.today(), "File creation date"),
        card("SDSS_ID", int(sdss_id), "SDSS-5 unique identifier"),
        card("HEALPIX", int(sdss_id) % 49152, "HEALPix (128 side)"),
        card("RA", round(float(rng.uniform(0, 360)), 6), "Right ascension [deg]"),
        card("DEC", round(float(rng.uniform(-80, 80)), 6), "Declination [deg]"),
        *common.truth_cards(labels, snr, seed),
        card("COMMENT", "HDU 0: Summary information only"),
        card("COMMENT", "HDU 1: BOSS spectra from Apache Point Observatory"),
        card("COMMENT", "HDU 2: BOSS spectra from Las Campanas Observatory"),
        card("COMMENT", "HDU 3: APOGEE spectra from Apache Point Observatory"),
        card("COMMENT", "HDU 4: APOGEE spectra from Las Campanas Observatory"),
    ]
    rows = 1 if star else n_visits
    chunks = [header_bytes(primary)] + [
        _hdu(spec, rows if spec[0] in hdus else 0, star, labels, snr, sdss_id, v_astra, rng)
        for spec in MWM_HDUS
    ]
    return atomic_write(path, chunks)


def write_mwmstar(path, sdss_id=12345678, v_astra="0.6.0", labels=None, snr=50.0, seed=None,
                  hdus=("BOSS/APO", "APOGEE/APO")):
    """Write a synthetic mwmStar file: one coadded spectrum per instrument/observatory.

    :param path: Destination file.
    :param sdss_id: SDSS_ID keyword and column.
    :param v_astra: V_ASTRA keyword and column.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h``.
    :param snr: S/N per pixel in the continuum.
    :param seed: Seed or Generator.
    :param hdus: EXTNAMEs of the HDUs that hold data; the others are empty tables.
    :returns: The path written.
    """
    return _write(path, True, sdss_id, v_astra, labels, snr, seed, hdus, 1)


def write_mwmvisit(path, sdss_id=12345678, v_astra="0.6.0", labels=None, snr=30.0, seed=None,
                   hdus=("BOSS/APO", "APOGEE/APO"), n_visits=2):
    """Write a synthetic mwmVisit file: ``n_visits`` rows per instrument/observatory.

    Wavelengths are given by the CRVAL/CDELT/NPIXELS keywords of each HDU (no wavelength
    column), as in the real mwmVisit files.

    :param path: Destination file.
    :param sdss_id: SDSS_ID keyword and column.
    :param v_astra: V_ASTRA keyword and column.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h``.
    :param snr: S/N per pixel in the continuum of each visit.
    :param seed: Seed or Generator.
    :param hdus: EXTNAMEs of the HDUs that hold data.
    :param n_visits: Rows per non-empty HDU.
    :returns: The path written.
    """
    return _write(path, False, sdss_id, v_astra, labels, snr, seed, hdus, n_visits)
