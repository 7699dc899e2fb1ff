"""Synthetic BOSS ``spec-PLATE-MJD-FIBER.fits`` files (SDSS-III/IV data model, DR13-style)."""

import numpy as np

from astra.tools.synthetic import common
from astra.tools.synthetic.fitsbytes import atomic_write, card, header_bytes, table_hdu
from astra.tools.synthetic.model import BOSS_DLOGLAM, continuum_flux, model_flux

__all__ = ["write_boss_spec", "BOSS_FULLREJECT", "BOSS_BRIGHTSKY"]

BOSS_FULLREJECT = 1 << 18
BOSS_BRIGHTSKY = 1 << 23
_NOPLUG_OR = 1 << 26  # BADFLUXFACTOR: an or_mask-only warning


def write_boss_spec(
    path,
    snr=30.0,
    labels=None,
    seed=None,
    plateid=3586,
    mjd=55181,
    fiberid=500,
    run2d="v5_10_0",
    loglam0=3.5516,
    n_pixels=4625,
    flux_scale=None,
    observatory=None,
    layout="sdss4",
):
    """Write a synthetic BOSS spec file atomically.

    HDU 0 is the header (TELESCOP ``SDSS 2.5-M``, PLATEID, MJD, FIBERID, RUN2D, VERS2D,
    COEFF0/COEFF1 log-linear solution, ...), HDU 1 the ``COADD`` table (``flux``,
    ``loglam``, ``ivar``, ``and_mask``, ``or_mask``, ``wdisp``, ``sky``, ``model``), HDU 2
    a one-row ``SPALL`` table and HDU 3 a ``SPZLINE`` table. About 0.3 per cent of pixels are
    rejected (FULLREJECT, ivar 0) and a few carry BRIGHTSKY.

    :param path: Destination file.
    :param snr: S/N per pixel in the continuum.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h``.
    :param seed: Seed or Generator.
    :param plateid: PLATEID keyword.
    :param mjd: MJD keyword.
    :param fiberid: FIBERID keyword.
    :param run2d: RUN2D and VERS2D keywords.
    :param loglam0: log10 wavelength of the first pixel (COEFF0).
    :param observatory: ``"APO"`` or ``"LCO"``: an ``OBSERVAT`` card, as SDSS-V files have
        (SDSS-III/IV files have none: ``None``).
    :param layout: the HDUs after ``COADD`` and ``SPALL`` (:data:`astra.datamodels.releases.RELEASE_LAYOUTS`):
        ``"sdss4"`` (DR13-DR17 spec: ``SPZLINE``), ``"specLite"`` (DR18-DR20: ``ZALL``, ``ZLINE``;
        the ``SPALL`` row has ``FIBER_RA``/``FIBER_DEC`` and ``RACAT``/``DECCAT`` too) or
        ``"specFull"`` (as specLite, then one table per exposure, ``EXTNAME`` ``MJD_EXP_<mjd>-<nn>``).
    :param n_pixels: Number of pixels.
    :param flux_scale: Continuum level at 6000 Angstrom (random 20-200 if ``None``).
    :returns: The path written.
    """
    rng = common.make_rng(seed)
    labels = common.resolve_labels(labels)
    loglam = loglam0 + BOSS_DLOGLAM * np.arange(n_pixels)
    wavelength = 10**loglam
    scale = flux_scale if flux_scale is not None else 10 ** rng.uniform(1.3, 2.3)
    continuum = continuum_flux(wavelength, labels["teff"], scale)
    model = continuum * model_flux(wavelength, labels)
    sigma = continuum / snr
    flux = common.noisy(model, sigma, rng)
    ivar = 1.0 / sigma**2
    and_mask = np.zeros(n_pixels, dtype=np.int32)
    rejected = rng.random(n_pixels) < 0.003
    and_mask[rejected] |= BOSS_FULLREJECT
    ivar[rejected] = 0.0
    and_mask[rng.random(n_pixels) < 0.003] |= BOSS_BRIGHTSKY
    or_mask = and_mask.copy()
    or_mask[rng.random(n_pixels) < 0.01] |= _NOPLUG_OR
    sn_median = float(np.median(flux[ivar > 0] * np.sqrt(ivar[ivar > 0])))
    ra, dec = rng.uniform(0, 360), rng.uniform(-10, 70)

    primary = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", 8, "array data type"),
        card("NAXIS", 0, "number of array dimensions"),
        card("EXTEND", True),
        card("TELESCOP", "SDSS 2.5-M", "Sloan Digital Sky Survey"),
        card("FLAVOR", "science", "exposure type, SDSS spectro style"),
        card("MJD", int(mjd), "APO MJD day at start of exposure"),
        card("PLATEID", int(plateid), "The currently loaded plate"),
        card("EXPTIME", 4500.0, "Minimum of exposure times for all cameras"),
        card("VERS2D", run2d, "Version of idlspec2d for 2D reduction"),
        card("VERSCOMB", run2d, "Version of idlspec2d for combining multiple spe"),
        card("RUN2D", run2d, "Spectro-2D reduction name"),
        card("VACUUM", True, "Wavelengths are in vacuum"),
        card("NWORDER", 2, "Linear-log10 coefficients"),
        card("WFITTYPE", "LOG-LINEAR", "Linear-log10 dispersion"),
        card("COEFF0", float(loglam0), "Central wavelength (log10) of first pixel"),
        card("COEFF1", BOSS_DLOGLAM, "Log10 dispersion per pixel"),
        card("DC-FLAG", 1, "Log-linear flag"),
        card("BUNIT", "1E-17 erg/cm^2/s/Ang"),
        # As in real spec files: RA/DEC are the plate centre (the telescope's boresight), up to
        # 1.5 degrees from the object; PLUG_RA/PLUG_DEC are the object's.
        card("RA", round((ra + 1.3) % 360.0, 6), "RA of telescope boresight (deg)"),
        card("DEC", round(max(-90.0, min(90.0, dec - 0.7)), 6), "DEC of telescope boresight (deg)"),
        card("PLUG_RA", round(ra, 7), "RA of object [deg]"),
        card("PLUG_DEC", round(dec, 7), "dec of object [deg]"),
        card("FIBERID", int(fiberid), "Fiber number (1-1000)"),
        *([card("OBSERVAT", observatory, "Observatory")] if observatory else []),
        card("NEXP", 0, "Number of individual exposures"),
        *common.truth_cards(labels, snr, seed),
    ]
    coadd = table_hdu(
        [
            ("flux", flux.astype(np.float32)),
            ("loglam", loglam.astype(np.float32)),
            ("ivar", ivar.astype(np.float32)),
            ("and_mask", and_mask),
            ("or_mask", or_mask),
            ("wdisp", np.full(n_pixels, 1.6, dtype=np.float32)),
            ("sky", np.abs(rng.normal(5.0, 1.0, n_pixels)).astype(np.float32)),
            ("model", model.astype(np.float32)),
        ],
        n_pixels,
        [card("COMMENT", "Coadded spectrum")],
        extname="COADD",
    )
    spall = table_hdu(
        [
            ("PROGRAMNAME", np.array(["synthetic"])),
            ("PLATE", np.array([plateid], dtype=np.int32)),
            ("MJD", np.array([mjd], dtype=np.int32)),
            ("FIBERID", np.array([fiberid], dtype=np.int32)),
            ("CLASS", np.array(["STAR"])),
            ("SUBCLASS", np.array(["synthetic"])),
            ("Z", np.array([0.0], dtype=np.float32)),
            ("SN_MEDIAN_ALL", np.array([sn_median], dtype=np.float32)),
            ("PLUG_RA", np.array([ra])),
            ("PLUG_DEC", np.array([dec])),
            *([("FIBER_RA", np.array([ra])), ("FIBER_DEC", np.array([dec])), ("RACAT", np.array([ra])),
               ("DECCAT", np.array([dec]))] if layout != "sdss4" else []),
        ],
        1,
        extname="SPALL",
    )
    zline = table_hdu(
        [
            ("PLATE", np.array([plateid], dtype=np.int32)),
            ("MJD", np.array([mjd], dtype=np.int32)),
            ("FIBERID", np.array([fiberid], dtype=np.int32)),
            ("LINENAME", np.array(["H_alpha"])),
            ("LINEWAVE", np.array([6564.61])),
            ("LINEZ", np.array([0.0], dtype=np.float32)),
        ],
        1,
        extname="SPZLINE" if layout == "sdss4" else "ZLINE",
    )
    if layout == "sdss4":
        return atomic_write(path, [header_bytes(primary), coadd, spall, zline])
    if layout not in ("specLite", "specFull"):
        raise ValueError(f"unknown spec layout {layout!r}; expected sdss4, specLite or specFull")
    zall = table_hdu([("Z", np.array([0.0], dtype=np.float32)), ("CLASS", np.array(["STAR"]))], 1, extname="ZALL")
    chunks = [header_bytes(primary), coadd, spall, zall, zline]
    if layout == "specFull":
        exposure = table_hdu(
            [("flux", flux.astype(np.float32)), ("loglam", loglam.astype(np.float32)), ("ivar", ivar.astype(np.float32))],
            n_pixels, extname=f"MJD_EXP_{int(mjd)}-00",  # one per exposure from DR18 on (datamodel specFull.md)
        )
        chunks.append(exposure)
    return atomic_write(path, chunks)
