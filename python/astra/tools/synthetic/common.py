"""Helpers shared by the synthetic writers: identifiers, noise and pixel flags."""

import datetime

import numpy as np

from astra.tools.synthetic.fitsbytes import card
from astra.tools.synthetic.model import DEFAULT_LABELS, LABEL_NAMES

__all__ = [
    "make_rng",
    "resolve_labels",
    "twomass_id",
    "radec_from_twomass",
    "noisy",
    "flag_pixels",
    "truth_cards",
    "median_snr",
]

#: APOGEE pixel bits used by the synthetic files.
BADPIX, CRPIX, SIG_SKYLINE, PERSIST_LOW = 0, 1, 12, 11


def make_rng(seed):
    """Return a numpy Generator for an int seed, a Generator, or ``None`` (fresh entropy)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def resolve_labels(labels):
    """Return a complete label dict (defaults filled in), with plain float values."""
    out = dict(DEFAULT_LABELS)
    if labels:
        unknown = set(labels) - set(LABEL_NAMES)
        if unknown:
            raise ValueError(f"unknown labels {sorted(unknown)}; expected {LABEL_NAMES}")
        out.update({k: float(v) for k, v in labels.items()})
    return out


def twomass_id(ra, dec):
    """Format a 2MASS-style identifier, e.g. ``2M00452143+1634446``.

    :param ra: Right ascension in degrees.
    :param dec: Declination in degrees.
    """
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm = int(d), int((d % 1) * 60)
    ds = ((d * 60) % 1) * 60
    return f"2M{hh:02d}{mm:02d}{int(ss * 100):04d}{sign}{dd:02d}{dm:02d}{int(ds * 10):03d}"


def radec_from_twomass(obj):
    """Parse a 2MASS-style identifier back into (ra, dec) degrees; ``None`` if not one."""
    try:
        body = obj[2:]
        sign = 1 if "+" in body else -1
        ra_text, dec_text = body.replace("+", " ").replace("-", " ").split()
        ra = (int(ra_text[:2]) + int(ra_text[2:4]) / 60 + int(ra_text[4:]) / 360000) * 15
        dec = int(dec_text[:2]) + int(dec_text[2:4]) / 60 + int(dec_text[4:]) / 36000
        return ra, sign * dec
    except (ValueError, IndexError):
        return None


def noisy(truth, sigma, rng):
    """Return ``truth`` plus Gaussian noise of standard deviation ``sigma`` (float64)."""
    return truth + rng.standard_normal(np.broadcast_shapes(np.shape(truth), np.shape(sigma))) * sigma


def flag_pixels(rng, shape, fraction_cr=0.002, fraction_sky=0.01):
    """Random APOGEE-like pixel flags: a few cosmic rays (bad) and sky-line warnings.

    :returns: int16 bitmask of ``shape`` and the boolean array of cosmic-ray pixels.
    """
    bitmask = np.zeros(shape, dtype=np.int16)
    cosmic = rng.random(shape) < fraction_cr
    bitmask[cosmic] |= 1 << CRPIX
    bitmask[rng.random(shape) < fraction_sky] |= 1 << SIG_SKYLINE
    return bitmask, cosmic


def truth_cards(labels, snr, seed):
    """Header cards recording what a synthetic file was generated from."""
    return [
        card("SYNTH", True, "Synthetic spectrum written by astra.tools.synthetic"),
        card("SYN_TEFF", float(labels["teff"]), "True Teff (K) of the synthetic spectrum"),
        card("SYN_LOGG", float(labels["logg"]), "True log g of the synthetic spectrum"),
        card("SYN_FEH", float(labels["fe_h"]), "True [Fe/H] of the synthetic spectrum"),
        card("SYN_SNR", float(snr), "Requested S/N (continuum) of the synthetic spectrum"),
        card("SYN_SEED", -1 if seed is None or not isinstance(seed, int) else seed,
             "Random seed (-1: not an int)"),
    ]


def today():
    """Today's date as YYYY-MM-DD (the DATE keyword)."""
    return datetime.date.today().isoformat()


def median_snr(flux, sigma, good):
    """Median of flux / sigma over ``good`` pixels (the pipelines' header S/N)."""
    ratio = flux[good] / sigma[good]
    return float(np.median(ratio)) if ratio.size else 0.0
