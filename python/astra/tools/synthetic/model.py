"""The spectral model behind the synthetic files: continuum x absorption lines, driven by labels.

Normalised flux is ``1 - sum_k d_k(labels) * phi_k(lambda; sigma_k(labels))`` over a fixed
line list (the same in every process: it is drawn from a fixed seed). Line depths ``d_k``
are quadratic in the scaled labels and each line responds mostly to one label (temperature,
gravity or metallicity lines, plus mixed ones), so a per-pixel quadratic model such as The
Cannon can learn the labels back. Gravity-sensitive lines also widen with ``logg``
(linearised Gaussian width change), which makes the flux mildly non-quadratic.

All wavelengths are vacuum Angstrom.
"""

import functools

import numpy as np
from scipy import sparse

from astra.datamodels.grids import APSTAR_GRID

__all__ = [
    "LABEL_NAMES",
    "DEFAULT_LABELS",
    "LABEL_RANGES",
    "APOGEE_CRVAL",
    "APOGEE_CDELT",
    "APOGEE_NPIX",
    "APOGEE_CHIPS",
    "BOSS_LOGLAM0",
    "BOSS_DLOGLAM",
    "BOSS_NPIX",
    "apogee_wavelength",
    "boss_wavelength",
    "apogee_chip_mask",
    "model_flux",
    "continuum_flux",
    "draw_labels",
    "labels_array",
]

LABEL_NAMES = ("teff", "logg", "fe_h")
#: A red-clump-like giant, used when no labels are given.
DEFAULT_LABELS = {"teff": 4750.0, "logg": 2.5, "fe_h": 0.0}
#: Range over which the model is designed to behave (depths stay positive and below 1).
LABEL_RANGES = {"teff": (3800.0, 5800.0), "logg": (0.5, 4.5), "fe_h": (-2.0, 0.5)}
_CENTRE = np.array([4750.0, 2.5, -0.5])
_SCALE = np.array([1000.0, 2.0, 1.25])

APOGEE_CRVAL = APSTAR_GRID.crval
APOGEE_CDELT = APSTAR_GRID.cdelt
APOGEE_NPIX = APSTAR_GRID.npix
#: Wavelength ranges (Angstrom) covered by the blue, green and red APOGEE chips.
APOGEE_CHIPS = ((15142.0, 15810.0), (15857.0, 16435.0), (16473.0, 16954.0))

BOSS_LOGLAM0 = 3.5523
BOSS_DLOGLAM = 1e-4
BOSS_NPIX = 4648

_C_KMS = 299792.458
_LINE_SEED = 20200601
_N_SIGMA = 5.0


def apogee_wavelength():
    """Return the 8575 apStar rest-frame wavelengths: ``10**(4.179 + 6e-6 * arange(8575))``."""
    return APSTAR_GRID.wavelength()


def boss_wavelength(loglam0=BOSS_LOGLAM0, n=BOSS_NPIX):
    """Return BOSS coadd wavelengths: ``10**(loglam0 + 1e-4 * arange(n))``.

    :param loglam0: log10 wavelength of the first pixel.
    :param n: Number of pixels.
    """
    return 10 ** (loglam0 + BOSS_DLOGLAM * np.arange(n))


def apogee_chip_mask(wavelength):
    """Return a boolean array, True where a wavelength falls on one of the APOGEE chips.

    :param wavelength: Wavelengths in Angstrom.
    """
    wavelength = np.asarray(wavelength)
    on = np.zeros(wavelength.shape, dtype=bool)
    for lo, hi in APOGEE_CHIPS:
        on |= (wavelength >= lo) & (wavelength <= hi)
    return on


def labels_array(labels):
    """Convert labels to an ``(n, 3)`` float array of (teff, logg, fe_h).

    :param labels: ``None`` (the defaults), a dict, a sequence of dicts, or an array whose
        last axis is (teff, logg, fe_h).
    :returns: A 2-D float64 array.
    """
    if labels is None:
        labels = DEFAULT_LABELS
    if isinstance(labels, dict):
        missing = [k for k in LABEL_NAMES if k not in labels]
        if missing:
            raise ValueError(f"labels lack {missing}; expected keys {LABEL_NAMES}")
        return np.array([[float(labels[k]) for k in LABEL_NAMES]])
    if len(labels) and isinstance(labels[0], dict):
        return np.vstack([labels_array(item) for item in labels])
    return np.atleast_2d(np.asarray(labels, dtype=np.float64))


def draw_labels(rng, n=None):
    """Draw labels of giants and dwarfs spread over :data:`LABEL_RANGES`.

    ``logg`` follows ``teff`` loosely (cool stars are mostly giants) so samples look like a
    survey, while still covering the label space a model needs to learn.

    :param rng: A :class:`numpy.random.Generator` (or an int seed).
    :param n: Number of label sets; ``None`` returns one dict.
    :returns: A dict of labels, or a list of ``n`` dicts.
    """
    rng = np.random.default_rng(rng)
    m = 1 if n is None else n
    teff = rng.uniform(3900.0, 5700.0, m)
    giant_logg = 1.0 + 2.6 * (teff - 3900.0) / 1800.0
    logg = np.clip(giant_logg + rng.normal(0.0, 0.5, m), 0.6, 4.4)
    fe_h = np.clip(rng.normal(-0.3, 0.45, m), -1.9, 0.45)
    out = [
        {"teff": round(float(t), 1), "logg": round(float(g), 3), "fe_h": round(float(f), 3)}
        for t, g, f in zip(teff, logg, fe_h)
    ]
    return out[0] if n is None else out


def _quadratic_terms(x):
    """(n, 3) scaled labels -> (n, 10): 1, linear, squares, cross terms."""
    t, g, f = x.T
    return np.stack([np.ones_like(t), t, g, f, t * t, g * g, f * f, t * g, t * f, g * f], 1)


class _LineList:
    """Line centres, base widths, base depths and label coefficients for one wavelength band."""

    def __init__(self, rng, lo, hi, n_lines, sigma_range, depth_range, min_gap, extra=()):
        centres = []
        while len(centres) < n_lines:
            c = rng.uniform(lo, hi)
            if all(abs(c - o) > min_gap for o in centres):
                centres.append(c)
        centres = sorted(centres)
        sigma = rng.uniform(*sigma_range, len(centres))
        depth = rng.uniform(*depth_range, len(centres))
        kind = rng.integers(0, 4, len(centres))  # 0 teff, 1 logg, 2 fe_h, 3 mixed
        coef = np.zeros((len(centres), 10))
        coef[:, 0] = 1.0
        width = np.zeros(len(centres))
        for i, k in enumerate(kind):
            small = rng.uniform(-0.08, 0.08, 9)
            coef[i, 1:] = small * np.array([1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3])
            if k == 0:  # cooler stars: deeper lines, curving
                coef[i, 1] = -rng.uniform(0.30, 0.45)
                coef[i, 4] = rng.uniform(0.05, 0.12)
            elif k == 1:  # higher gravity: deeper and broader
                coef[i, 2] = rng.choice([-1, 1]) * rng.uniform(0.25, 0.40)
                coef[i, 5] = rng.uniform(-0.08, 0.08)
                width[i] = rng.uniform(0.04, 0.08)
            elif k == 2:  # metal lines: deeper with [Fe/H], saturating
                coef[i, 3] = rng.uniform(0.30, 0.45)
                coef[i, 6] = -rng.uniform(0.05, 0.12)
                coef[i, 1] = -rng.uniform(0.05, 0.15)
            else:
                coef[i, 1:4] = rng.uniform(-0.2, 0.2, 3)
        for centre, sig, dep, row, wid in extra:
            centres.append(centre)
            sigma = np.append(sigma, sig)
            depth = np.append(depth, dep)
            coef = np.vstack([coef, row])
            width = np.append(width, wid)
        self.centre = np.asarray(centres)
        self.sigma = np.asarray(sigma)
        self.depth = np.asarray(depth)
        self.coef = coef
        self.width = width


@functools.lru_cache(maxsize=1)
def _line_lists():
    rng = np.random.default_rng(_LINE_SEED)
    infrared = _LineList(rng, 15100.0, 17000.0, 420, (0.25, 0.45), (0.08, 0.35), 2.5)
    balmer_row = np.array([1, 0.35, -0.1, 0.0, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0])
    strong_metal = np.array([1, -0.3, 0.15, 0.35, 0.05, 0.0, -0.08, 0.0, 0.0, 0.0])
    extra = [
        (6564.61, 9.0, 0.35, balmer_row, 0.05),
        (4862.69, 8.0, 0.30, balmer_row, 0.05),
        (4341.69, 7.0, 0.25, balmer_row, 0.05),
        (4102.89, 6.0, 0.20, balmer_row, 0.05),
        (3934.78, 5.0, 0.45, strong_metal, 0.06),
        (3969.59, 5.0, 0.40, strong_metal, 0.06),
        (5891.58, 2.0, 0.30, strong_metal, 0.06),
        (5897.56, 2.0, 0.25, strong_metal, 0.06),
        (8500.36, 3.0, 0.25, strong_metal, 0.06),
        (8544.44, 3.0, 0.35, strong_metal, 0.06),
        (8664.52, 3.0, 0.30, strong_metal, 0.06),
    ]
    optical = _LineList(rng, 3600.0, 10300.0, 320, (1.0, 1.6), (0.05, 0.25), 9.0, extra)
    return (infrared, optical)


def _basis(wavelength, centre, sigma):
    """Sparse (n_lines, n_pix) Gaussian profiles phi and width derivatives psi."""
    rows, cols, phi, psi = [], [], [], []
    lo = np.searchsorted(wavelength, centre - _N_SIGMA * 1.2 * sigma)
    hi = np.searchsorted(wavelength, centre + _N_SIGMA * 1.2 * sigma)
    for k in np.nonzero(hi > lo)[0]:
        idx = np.arange(lo[k], hi[k])
        x2 = ((wavelength[idx] - centre[k]) / sigma[k]) ** 2
        g = np.exp(-0.5 * x2)
        rows.append(np.full(idx.size, k))
        cols.append(idx)
        phi.append(g)
        psi.append(g * x2)  # d phi / d ln(sigma)
    shape = (centre.size, wavelength.size)
    if not rows:
        empty = sparse.csr_matrix(shape)
        return empty, empty
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return (
        sparse.csr_matrix((np.concatenate(phi), (rows, cols)), shape=shape),
        sparse.csr_matrix((np.concatenate(psi), (rows, cols)), shape=shape),
    )


@functools.lru_cache(maxsize=32)
def _cached_basis(v_rad, raw):
    wavelength = np.frombuffer(raw, dtype=np.float64)
    shift = 1.0 + v_rad / _C_KMS
    return [
        _basis(wavelength, lines.centre * shift, lines.sigma * shift) for lines in _line_lists()
    ]


def model_flux(wavelength, labels=None, v_rad=0.0):
    """Continuum-normalised, noiseless model flux at the given wavelengths.

    :param wavelength: 1-D ascending vacuum wavelengths in Angstrom (any range: APOGEE and
        BOSS lines are both modelled).
    :param labels: A dict with ``teff``, ``logg``, ``fe_h`` (default :data:`DEFAULT_LABELS`),
        a list of such dicts, or an ``(n, 3)`` array.
    :param v_rad: Radial velocity (km/s) shifting the lines (observed frame).
    :returns: Flux array, 1-D for one set of labels, ``(n, n_pix)`` for several; values in
        (0, 1], 1 in the continuum.
    """
    wavelength = np.ascontiguousarray(wavelength, dtype=np.float64)
    single = labels is None or isinstance(labels, dict)
    x = (labels_array(labels) - _CENTRE) / _SCALE
    terms = _quadratic_terms(x)
    bases = _cached_basis(float(v_rad), wavelength.tobytes())
    absorbed = np.zeros((x.shape[0], wavelength.size))
    for lines, (phi, psi) in zip(_line_lists(), bases):
        depth = lines.depth * np.clip(terms @ lines.coef.T, 0.05, None)  # (n, n_lines)
        stretch = lines.width * x[:, 1:2]  # gravity broadening, in ln(sigma)
        absorbed += (phi.T @ depth.T).T + (psi.T @ (depth * stretch).T).T
    flux = np.clip(1.0 - absorbed, 0.02, 1.0)
    return flux[0] if single else flux


def _planck_shape(wavelength, teff):
    x = 1.4387769e8 / (np.asarray(wavelength) * teff)  # hc / (lambda k T), lambda in Angstrom
    return 1.0 / (np.asarray(wavelength) ** 5 * np.expm1(x))


def continuum_flux(wavelength, teff=None, scale=1.0):
    """The smooth continuum the synthetic spectra are multiplied by.

    A black body of temperature ``teff`` times a gentle instrument response, normalised to
    ``scale`` at 16000 Angstrom (APOGEE) or 6000 Angstrom (shorter wavelengths). Across the
    APOGEE chips it changes by about 10-20 per cent, smoothly.

    :param wavelength: Wavelengths in Angstrom.
    :param teff: Effective temperature (K) setting the slope; default 4750.
    :param scale: Continuum level at the reference wavelength (flux units).
    :returns: Array shaped like ``wavelength``.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    teff = DEFAULT_LABELS["teff"] if teff is None else float(teff)
    ref = 16000.0 if np.median(wavelength) > 12000.0 else 6000.0
    t = (wavelength - ref) / ref
    response = 1.0 + 0.3 * t - 2.0 * t**2
    shape = _planck_shape(wavelength, teff) / _planck_shape(ref, teff)
    return scale * shape * response
