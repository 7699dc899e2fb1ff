"""Synthetic APOGEE files: apStar, apVisit and aspcapStar, following the SDSS-IV data models."""

import functools

import numpy as np

from astra.tools.synthetic import common
from astra.tools.synthetic.common import BADPIX
from astra.tools.synthetic.fitsbytes import atomic_write, card, header_bytes, image_hdu, table_hdu
from astra.tools.synthetic.model import (
    APOGEE_CDELT,
    APOGEE_CRVAL,
    APOGEE_NPIX,
    apogee_chip_mask,
    apogee_wavelength,
    continuum_flux,
    model_flux,
)

__all__ = ["write_apstar", "write_apvisit", "apvisit_wavelength", "APVISIT_DR19_EXTNAMES"]

_FLUX_UNIT = "Flux (10^-17 erg/s/cm^2/Ang)"
_ERR_UNIT = "Error (10^-17 erg/s/cm^2/Ang)"
_MASK_UNIT = "Flag Mask (bitwise)"
_SIGMA_BAD = 1e10
# Cubic pixel -> wavelength polynomials (increasing powers) of the three chips of a real
# DR13 apVisit (chip 0 is the reddest; wavelength decreases along the pixels).
_CHIP_POLY = (
    (1.69546065e04, -1.06237729e-01, -2.85295035e-06, 1.21756636e-11),
    (1.64351675e04, -1.30518006e-01, -2.66875461e-06, 1.47389234e-11),
    (1.58100071e04, -1.53177882e-01, -2.45894367e-06, 1.20784785e-11),
)
# LSF coefficients of a real apStar (HDU 8): a Gauss-Hermite description.
_LSF = np.array(
    [1.0, 4287.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.47167845, 1.97129016e-05, 2.63287997e-02,
     -5.15692493e-06, -1.41091095e-01, -7.10376426e-06, 7.10762114e-02, -6.65221651e-06,
     1.46844761e-01, 8.06238566e-06, -5.00767399e-02, 1.0, 2.0, 0.0, 0.0, 9.99999978e-03,
     4.60673438e-02]
)


@functools.lru_cache(maxsize=1)
def _apstar_grid():
    wavelength = apogee_wavelength()
    return wavelength, apogee_chip_mask(wavelength)


def apvisit_wavelength(offset=0.0):
    """Return the ``(3, 4096)`` apVisit wavelength array (chip 0 reddest, decreasing).

    :param offset: Shift in Angstrom added to every pixel (visits differ slightly).
    """
    pixels = np.arange(4096.0)
    return np.array([np.polyval(poly[::-1], pixels) for poly in _CHIP_POLY]) + offset


def _wcs_cards(bunit):
    return [
        card("CRVAL1", APOGEE_CRVAL, "Start log10(wavelength)"),
        card("CDELT1", APOGEE_CDELT, "Dispersion in log10(wavelength)"),
        card("CRPIX1", 1, "Pixel of starting wavelength"),
        card("CTYPE1", "LOG-LINEAR", "Logarithmic wavelength scale"),
        card("DC-FLAG", 1, "Logarithmic wavelength scale"),
        card("BUNIT", bunit),
    ]


def _target(rng, obj):
    if obj is None:
        ra, dec = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-0.5, 1.0)))
        return common.twomass_id(ra, dec), ra, dec
    radec = common.radec_from_twomass(obj)
    ra, dec = radec if radec else (rng.uniform(0, 360), rng.uniform(-30, 80))
    return obj, ra, dec


def _visit_ids(rng, n, apred):
    plates = rng.integers(4000, 9999, n)
    mjds = np.sort(rng.integers(55700, 58300, n))
    fibers = rng.integers(1, 301, n)
    files = [f"apVisit-{apred}-{p}-{m}-{f:03d}.fits" for p, m, f in zip(plates, mjds, fibers)]
    return plates, mjds, fibers, files


def _placeholder(bunit, shape, extras, rng, kind, name=()):
    """Sky / telluric HDUs: real-looking arrays when ``extras``, else header-only (``name``: EXTNAME cards)."""
    if not extras:
        return image_hdu(None, [*name, card("BUNIT", bunit), card("COMMENT", "synthetic: omitted")])
    if kind == "sky":
        data = np.abs(rng.normal(0.0, 5.0, shape)).astype(np.float32)
    elif kind == "telluric":
        data = (1.0 - 0.02 * rng.random(shape)).astype(np.float32)
    else:
        data = np.full(shape, 0.01, dtype=np.float32)
    return image_hdu(data, [*name, card("BUNIT", bunit)])


def write_apstar(
    path,
    n_visits=1,
    snr=100.0,
    labels=None,
    seed=None,
    obj=None,
    field="120-45",
    telescope="apo25m",
    apred="r6",
    flux_scale=None,
    extras=False,
    layout="sdss4",
):
    """Write a synthetic apStar file atomically, in the layout of a group of releases.

    The layouts are those of :data:`astra.datamodels.releases.RELEASE_LAYOUTS`:

    * ``"sdss4"`` (DR13-DR16): ten HDUs; HDUs 1-3 float32, float32, int16; one visit gives
      1-D HDUs ``(8575,)``; HDU 8 the LSF coefficients, HDU 9 a one-row RV table;
    * ``"dr17"``: eleven HDUs; HDUs 1-3 float64, float64, int64; one visit gives ``(2, 8575)``
      (both combinations); HDU 8 an image without data; HDUs 9 (one row per visit, with the
      visit file names) and 10 (the combined spectrum) RV/CCF tables;
    * ``"sdss5"`` (DR19, DR20): ten HDUs, as ``"dr17"`` but HDU 8 an empty table and no HDU 10.

    Otherwise rows follow the data model: two combined rows then one per visit
    (``(n_visits + 2, 8575)``).
    Visits have S/N ``snr / sqrt(n_visits)`` so the combined rows have S/N ``snr`` (relative
    to the continuum). Chip gaps have flux 0, error 1e10 and the BADPIX bit, a few pixels
    carry CRPIX (error x10) or SIG_SKYLINE flags.

    :param path: Destination file.
    :param n_visits: Number of visits (>= 1).
    :param snr: S/N per pixel of the combined spectrum, in the continuum.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h`` (missing ones take defaults).
    :param seed: Seed (int) or :class:`numpy.random.Generator` for the noise and metadata.
    :param obj: 2MASS-style object id (random if ``None``).
    :param field: FIELD keyword.
    :param telescope: TELESCOP keyword.
    :param apred: Reduction version used in visit file names.
    :param flux_scale: Continuum level at 16000 Angstrom (random 100-1000 if ``None``).
    :param extras: Also fill the sky and telluric HDUs 4-7 (otherwise header-only, which
        keeps the HDU layout but makes files three times smaller).
    :param layout: ``"sdss4"``, ``"dr17"`` or ``"sdss5"`` (see above).
    :returns: The path written.
    """
    if n_visits < 1:
        raise ValueError("n_visits must be at least 1")
    if layout not in _APSTAR_LAYOUTS:
        raise ValueError(f"unknown apStar layout {layout!r}; expected one of {', '.join(_APSTAR_LAYOUTS)}")
    rng = common.make_rng(seed)
    labels = common.resolve_labels(labels)
    obj, ra, dec = _target(rng, obj)
    wavelength, on_chip = _apstar_grid()
    scale = flux_scale if flux_scale is not None else 10 ** rng.uniform(2.0, 3.0)
    continuum = continuum_flux(wavelength, labels["teff"], scale)
    truth = continuum * model_flux(wavelength, labels)

    snr_visit = snr / np.sqrt(n_visits)
    sigma_v = np.broadcast_to(continuum / snr_visit, (n_visits, APOGEE_NPIX)).copy()
    flags_v, cosmic = common.flag_pixels(rng, sigma_v.shape)
    sigma_v[cosmic] *= 10.0
    flux_v = common.noisy(truth, sigma_v, rng)

    if n_visits == 1 and layout == "sdss4":
        flux, sigma, bitmask = flux_v, sigma_v, flags_v
    elif n_visits == 1:  # DR17 on: the pixel- and global-weighted combinations of the one visit
        flux, sigma, bitmask = (np.vstack([a, a]) for a in (flux_v, sigma_v, flags_v))
    else:
        weight = 1.0 / sigma_v**2
        combined = (weight * flux_v).sum(0) / weight.sum(0)
        combined_sigma = 1.0 / np.sqrt(weight.sum(0))
        flux = np.vstack([combined, combined, flux_v])
        sigma = np.vstack([combined_sigma, combined_sigma, sigma_v])
        bitmask = np.vstack(
            [np.bitwise_or.reduce(flags_v, 0), np.bitwise_and.reduce(flags_v, 0), flags_v]
        )
    flux[:, ~on_chip] = 0.0
    sigma[:, ~on_chip] = _SIGMA_BAD
    bitmask[:, ~on_chip] |= 1 << BADPIX

    snr_rows = [common.median_snr(f, s, on_chip) for f, s in zip(flux, sigma)]
    plates, mjds, fibers, files = _visit_ids(rng, n_visits, apred)
    v_helio = rng.normal(0.0, 40.0)

    cards = [
        card("DATE", common.today(), "Creation UTC (CCCC-MM-DD) date of FITS header"),
        card("OBJID", obj, "Object ID"),
        card("J", round(rng.uniform(9, 13), 3), "2MASS J magnitude"),
        card("H", round(rng.uniform(8, 12.2), 3), "2MASS H magnitude"),
        card("K", round(rng.uniform(8, 12), 3), "2MASS Ks magnitude"),
        card("TARG1", -2147483648 + 2**11, "First APOGEE targeting flag (bitwise, see docs)"),
        card("TARG2", 0, "Second APOGEE targeting flag (bitwise, see docs"),
        card("TARG3", 0, "Third APOGEE targeting flag (bitwise, see docs)"),
        card("SURVEY", "apogee", "Survey name (for targeting flags)"),
        card("TELESCOP", telescope, "Telescope"),
        card("LOCID", int(rng.integers(4000, 5500)), "LocationID"),
        card("FIELD", field, "Field name"),
        card("RA", round(ra, 7), "right ascension, deg, J2000"),
        card("DEC", round(dec, 7), "declination, deg, J2000"),
        card("NVISITS", n_visits, "number of visit spectra combined"),
        card("VRAD", 0.0, "Doppler shift (km/s) of this spectrum"),
        card("VHELIO", round(v_helio, 4), "mean heliocentric velocity (km/s)"),
        card("VSCATTER", round(abs(rng.normal(0, 0.3)), 4), "STDEV of VHELIO (km/s)"),
        card("VERR", 0.1, "weighted error in VHELIO (km/s)"),
        card("SNR", round(snr_rows[0], 4), "final median Signal/Noise ratio"),
        card("STARFLAG", 0, "bitwise OR of individual visit starflags"),
        card("ANDFLAG", 0, "bitwise AND of individual visit starflags"),
        card("RVTEFF", labels["teff"], "effective temperature (K) from mini-grid cross"),
        card("RVLOGG", labels["logg"], "surface gravity (dex) from mini-grid cross corr"),
        card("RVFEH", labels["fe_h"], "metallicity [Fe/H] from mini-grid cross correla"),
    ]
    for i in range(n_visits):
        n = i + 1
        cards += [
            card("COMMENT", f"VISIT {n} INFORMATION:"),
            card(f"SFILE{n}", files[i], f"Visit #{n} spectrum file"),
            card(f"JD{n}", float(mjds[i]) + 2400000.5, f"Julian date of visit {n}"),
            card(f"FIBER{n}", int(fibers[i]), f"Fiber, visit {n}"),
            card(f"VHELIO{n}", round(v_helio + rng.normal(0, 0.1), 4),
                 f"Heliocentric velocity (km/s), visit {n}"),
            card(f"SNRVIS{n}", round(snr_rows[-n_visits + i], 4), f"Signal/Noise ratio, visit {n}"),
            card(f"FLAG{n}", 0, f"STARFLAG for visit {n}"),
        ]
    cards += [
        card("NWAVE", APOGEE_NPIX, "Number of wavelengths in subsequent HDUs"),
        card("CRVAL1", APOGEE_CRVAL, "Start log10(wavelength) in subsequent HDUs"),
        card("CDELT1", APOGEE_CDELT, "Dispersion in log10(wavelength) in subsequent HD"),
        card("CRPIX1", 1, "Pixel of starting wavelength in subsequent HDUs"),
        card("CTYPE1", "LOG-LINEAR", "Logarithmic wavelength scale in subsequent HDUs"),
        card("DC-FLAG", 1, "Logarithmic wavelength scale in subsequent HDUs"),
        *common.truth_cards(labels, snr, seed),
        card("HISTORY", "APSTAR: The data are in separate extensions:"),
        card("HISTORY", "APSTAR:  HDU1 - Flux (10^-17 ergs/s/cm^2/Ang)"),
        card("HISTORY", "APSTAR:  HDU2 - Error (10^-17 ergs/s/cm^2/Ang)"),
        card("HISTORY", "APSTAR:  HDU3 - Flag mask"),
        card("HISTORY", "APSTAR:  HDU4 - Sky, HDU5 - Sky Error, HDU6 - Telluric"),
        card("HISTORY", "APSTAR:  HDU7 - Telluric Error, HDU8 - LSF, HDU9 - RV table"),
    ]

    if layout == "dr17":
        cards.insert(1, card("FIELD", field, "Field name"))
    elif layout == "sdss5":
        cards.insert(1, card("APRED", apred, "APOGEE reduction version"))

    def rows(array, dtype):
        return (array[0] if flux.shape[0] == 1 else array).astype(dtype)

    shape = tuple(np.shape(flux)) if flux.shape[0] > 1 else (APOGEE_NPIX,)
    flux_dtype, bitmask_dtype = (np.float32, np.int16) if layout == "sdss4" else (np.float64, np.int64)
    rv_table = table_hdu(
        [
            ("FILE", np.array(["".join(f.ljust(30) for f in files)])),
            ("FIBER", fibers.astype(np.int16)[None]),
            ("MJD", mjds.astype(np.int32)[None]),
            ("JD", (mjds + 2400000.5)[None]),
            ("VHELIO", np.full((1, n_visits), v_helio, dtype=np.float32)),
            ("TEFF", np.array([labels["teff"]], dtype=np.float32)),
            ("LOGG", np.array([labels["logg"]], dtype=np.float32)),
            ("FEH", np.array([labels["fe_h"]], dtype=np.float32)),
        ],
        1,
    )
    chunks = [
        header_bytes(
            [card("SIMPLE", True, "image conforms to FITS standard"),
             card("BITPIX", 16, "bits per data value"), card("NAXIS", 0, "number of axes"),
             card("EXTEND", True, "file may contain extensions")] + cards
        ),
        image_hdu(rows(flux, flux_dtype), _wcs_cards(_FLUX_UNIT)),
        image_hdu(rows(sigma, flux_dtype), _wcs_cards(_ERR_UNIT)),
        image_hdu(rows(bitmask, bitmask_dtype), _wcs_cards(_MASK_UNIT)),
        _placeholder("Sky (10^-17 erg/s/cm^2/Ang)", shape, extras, rng, "sky"),
        _placeholder("Sky Error (10^-17 erg/s/cm^2/Ang)", shape, extras, rng, "err"),
        _placeholder("Telluric", shape, extras, rng, "telluric"),
        _placeholder("Telluric Error", shape, extras, rng, "err"),
    ]
    if layout == "sdss4":
        chunks += [image_hdu(_LSF, [card("CTYPE1", "Parameters"), card("BUNIT", "LSF Coefficients")]), rv_table]
    else:
        visits_table = _visit_rv_table(files, mjds, snr_rows[-n_visits:], v_helio, labels)
        combined = _visit_rv_table(files[:1], mjds[:1], snr_rows[:1], v_helio, labels)
        if layout == "dr17":
            chunks += [image_hdu(None), visits_table, combined]
        else:
            chunks += [table_hdu([], 0), visits_table]
    return atomic_write(path, chunks)


#: The apStar layouts :func:`write_apstar` writes (see :mod:`astra.datamodels.releases`).
_APSTAR_LAYOUTS = ("sdss4", "dr17", "sdss5")


def _visit_rv_table(files, mjds, snr, v_helio, labels):
    """The DR17/SDSS-V RV table: one row per spectrum, with its file name and a CCF."""
    n = len(files)
    return table_hdu(
        [
            ("FILENAME", np.array(files)),
            ("JD", (np.asarray(mjds, dtype=np.float64) + 2400000.5)),
            ("SNR", np.asarray(snr, dtype=np.float64)),
            ("VHELIO", np.full(n, v_helio)),
            ("VREL", np.full(n, v_helio)),
            ("VRELERR", np.full(n, 0.1)),
            ("TEFF", np.full(n, float(labels["teff"]))),
            ("LOGG", np.full(n, float(labels["logg"]))),
            ("FEH", np.full(n, float(labels["fe_h"]))),
            ("CCF", np.zeros((n, 765))),
        ],
        n,
    )


def write_apvisit(
    path,
    snr=50.0,
    labels=None,
    seed=None,
    obj=None,
    plate=6561,
    mjd=56587,
    fiber=131,
    telescope="apo25m",
    apred="r6",
    v_rad=None,
    survey=None,
    flux_scale=None,
    extras=False,
    extnames=False,
):
    """Write a synthetic apVisit file (twelve HDUs, three chips of 4096 pixels) atomically.

    As in the real files, each image HDU is ``(3, 4096)``, chip 0 is the reddest and the
    wavelength (HDU 4) decreases along the pixels. Lines are Doppler shifted by ``v_rad``.

    :param path: Destination file.
    :param snr: S/N per pixel in the continuum.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h``.
    :param seed: Seed or Generator.
    :param obj: 2MASS-style object id (random if ``None``).
    :param plate: PLATE keyword.
    :param mjd: MJD5 keyword.
    :param fiber: FIBERID keyword.
    :param telescope: TELESCOP keyword.
    :param apred: Reduction version (the table's FILE column).
    :param v_rad: Observed radial velocity in km/s (random if ``None``).
    :param survey: SURVEY keyword to write (DR16 files have ``"apogee"``; DR13 none).
    :param flux_scale: Continuum level at 16000 Angstrom (random if ``None``).
    :param extras: Fill the sky and telluric HDUs 5-8 (otherwise header-only).
    :param extnames: Name HDUs 1-10 as DR19 files do (:data:`APVISIT_DR19_EXTNAMES`, from the SDSS
        datamodel's ``apVisit.md`` changelog); earlier releases leave them unnamed.
    :returns: The path written.
    """
    rng = common.make_rng(seed)
    labels = common.resolve_labels(labels)
    obj, ra, dec = _target(rng, obj)
    v_rad = float(rng.normal(0, 30)) if v_rad is None else float(v_rad)
    wavelength = apvisit_wavelength(rng.normal(0.0, 0.05))
    flat = wavelength.ravel()
    order = np.argsort(flat)
    normalised = np.empty_like(flat)
    normalised[order] = model_flux(flat[order], labels, v_rad=v_rad)
    scale = flux_scale if flux_scale is not None else 10 ** rng.uniform(2.0, 3.0)
    continuum = continuum_flux(flat, labels["teff"], scale)
    sigma = (continuum / snr).reshape(3, 4096)
    bitmask, cosmic = common.flag_pixels(rng, sigma.shape)
    sigma[cosmic] *= 10.0
    flux = common.noisy((continuum * normalised).reshape(3, 4096), sigma, rng)
    snr_mid = common.median_snr(flux[1], sigma[1], ~cosmic[1])

    cards = [
        card("DATE", common.today(), "Creation UTC (CCCC-MM-DD) date of FITS header"),
        card("LOCID", int(rng.integers(4000, 5500)), "Location ID of field"),
        card("PLATE", str(plate), "Plate ID"),
        card("TELESCOP", telescope, "Telescope"),
        card("MJD5", int(mjd), "MJD of observation"),
        card("FIBERID", int(fiber), "APOGEE Fiber ID 1-300"),
        card("EXPTIME", 2002.04, "Total visit exptime per dither pos"),
        card("JD-MID", float(mjd) + 2400000.5 + 0.23, "JD at midpoint of visit"),
        card("NCOMBINE", 8),
        card("OBJID", obj, "Object ID"),
        card("OBJTYPE", "STAR", "Object type"),
        card("RA", round(ra, 7), "targeting right ascension, deg, J2000"),
        card("DEC", round(dec, 7), "targeting declination, deg, J2000"),
        card("J", round(rng.uniform(9, 13), 3), "2MASS J magnitude"),
        card("H", round(rng.uniform(8, 12.2), 3), "2MASS H magnitude"),
        card("K", round(rng.uniform(8, 12), 3), "2MASS Ks magnitude"),
        card("SNR", round(snr_mid, 4), "median S/N, middle chip"),
    ]
    if survey:
        cards.append(card("SURVEY", survey, "Survey definition (for targeting flags)"))
    cards += [
        card("TARG1", -2147483648 + 2**11, "First APOGEE targeting flag (bitwise, see docs)"),
        card("TARG2", 0, "Second APOGEE targeting flag (bitwise, see docs"),
        card("STARFLAG", 0, "Star data quality flag"),
        card("V_APRED", "synthetic", "apogeereduce software version"),
        card("HISTORY", "AP1DVISIT:  HDU1 - Flux (10^-17 ergs/s/cm^2/Ang)"),
        card("HISTORY", "AP1DVISIT:  HDU2 - Error (10^-17 ergs/s/cm^2/Ang)"),
        card("HISTORY", "AP1DVISIT:  HDU3 - Flag mask (bitwise OR combined)"),
        card("HISTORY", "AP1DVISIT:  HDU4 - Wavelength (Ang)"),
        card("HISTORY", "AP1DVISIT:  HDU5-8 - Sky, Sky Error, Telluric, Telluric Error"),
        card("HISTORY", "AP1DVISIT:  HDU9 - Wavelength coefficients, HDU10 - LSF"),
        card("BC", round(rng.normal(0, 15), 4), "barycentric correction (km/s)"),
        card("VTYPE", 2, "RV type (1=chisq, 2=xcorr)"),
        card("VRAD", round(v_rad, 4), "doppler shift (km/s)"),
        card("VRADERR", 0.1, "VRAD error (km/s)"),
        card("RVTEFF", labels["teff"], "Teff (K) from mini-grid x correlation"),
        card("RVLOGG", labels["logg"], "logg (dex) from mini-grid x correlation"),
        card("RVFEH", labels["fe_h"], "[Fe/H] from mini-grid x correlation"),
        *common.truth_cards(labels, snr, seed),
    ]
    chip_cards = [card("CTYPE1", "Pixel"), card("CTYPE2", "Chip")]

    def name(index):
        return [card("EXTNAME", APVISIT_DR19_EXTNAMES[index - 1], "extension name")] if extnames else []

    coefficients = np.zeros((3, 14))
    coefficients[:, 6:10] = np.array(_CHIP_POLY)
    table = table_hdu(
        [
            ("APOGEE_ID", np.array([obj])),
            ("FILE", np.array([f"apVisit-{apred}-{plate}-{mjd}-{int(fiber):03d}.fits"])),
            ("FIBERID", np.array([fiber], dtype=np.int16)),
            ("PLATE", np.array([str(plate)])),
            ("MJD", np.array([mjd], dtype=np.int32)),
            ("TELESCOPE", np.array([telescope])),
            ("SNR", np.array([snr_mid], dtype=np.float32)),
            ("VREL", np.array([v_rad], dtype=np.float32)),
            ("RV_TEFF", np.array([labels["teff"]], dtype=np.float32)),
            ("RV_LOGG", np.array([labels["logg"]], dtype=np.float32)),
            ("RV_FEH", np.array([labels["fe_h"]], dtype=np.float32)),
        ],
        1,
    )
    chunks = [
        header_bytes(
            [card("SIMPLE", True, "image conforms to FITS standard"),
             card("BITPIX", 16, "bits per data value"), card("NAXIS", 0, "number of axes"),
             card("EXTEND", True, "file may contain extensions")] + cards
        ),
        image_hdu(flux.astype(np.float32), name(1) + chip_cards + [card("BUNIT", _FLUX_UNIT)]),
        image_hdu(sigma.astype(np.float32),
                  name(2) + chip_cards + [card("BUNIT", "Flux Error (10^-17 erg/s/cm^2/Ang)")]),
        image_hdu(bitmask, name(3) + chip_cards + [card("BUNIT", _MASK_UNIT)]),
        image_hdu(wavelength, name(4) + chip_cards + [card("BUNIT", "Wavelength (Ang)")]),
        _placeholder("Sky (10^-17 erg/s/cm^2/Ang)", (3, 4096), extras, rng, "sky", name(5)),
        _placeholder("Sky Error (10^-17 erg/s/cm^2/Ang)", (3, 4096), extras, rng, "err", name(6)),
        _placeholder("Telluric", (3, 4096), extras, rng, "telluric", name(7)),
        _placeholder("Telluric Error", (3, 4096), extras, rng, "err", name(8)),
        image_hdu(coefficients, name(9) + [card("BUNIT", "Wavelength Coefficients")]),
        image_hdu(np.tile(_LSF, (3, 1)), name(10) + [card("BUNIT", "LSF Coefficients")]),
        table,
    ]
    return atomic_write(path, chunks)


#: The names of apVisit HDUs 1-10 in DR19 (the SDSS datamodel's ``apVisit.md``: DR19 "added_hdus";
#: the release table's apVisit row, :mod:`astra.datamodels.releases`).
APVISIT_DR19_EXTNAMES = ("FLUX", "ERROR", "MASK", "WAVELENGTH", "SKY FLUX", "SKY ERROR", "TELLURIC",
                         "TELLURIC ERROR", "WAVE COEFFICIENTS", "LSF COEFFICIENTS")
