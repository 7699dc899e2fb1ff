#!/usr/bin/env python
"""Make ``python/astra/etc/continuum-pixels-apogee.npy``: the APOGEE continuum pixel mask.

A pixel of the 8575-pixel apStar rest-frame grid is a continuum pixel when

1. the synthetic spectral model (:func:`astra.tools.synthetic.model_flux`) absorbs less than
   ``--synthetic-depth`` there for every label set drawn over its whole label range, and
2. (with ``--sas``) in every real apStar combined spectrum of S/N >= ``--min-snr`` found under
   that SAS tree, the pseudo-normalised flux (an iteratively clipped sines-and-cosines fit to
   all good pixels, then a second fit to the provisional mask) lies within ``--tolerance``
   of 1.

Usage (from the repository root)::

    python bin/make_continuum_pixels.py --sas ../shared/sdss-data/sas

The real-data condition uses the few high-S/N dr13 apStar spectra of the test SAS tree; a mask
made from many more real spectra would be better and can replace the file as it is (same shape).
"""

import argparse
import glob
import os

import numpy as np

from astra.contrib.continuum import APOGEE_REGIONS, normalise
from astra.tools import synthetic
from astra.tools.spectrum import read_spectrum

OUT = os.path.join(os.path.dirname(__file__), "..", "python", "astra", "etc", "continuum-pixels-apogee.npy")


def synthetic_continuum(depth, n=400, seed=1):
    """Pixels where the synthetic model is line-free for every label set tried."""
    wavelength = synthetic.apogee_wavelength()
    rng = np.random.default_rng(seed)
    labels = synthetic.draw_labels(rng, n)
    lo = {k: v[0] for k, v in synthetic.LABEL_RANGES.items()}
    hi = {k: v[1] for k, v in synthetic.LABEL_RANGES.items()}
    for t in (lo, hi):
        for g in (lo, hi):
            for f in (lo, hi):
                labels.append({"teff": t["teff"], "logg": g["logg"], "fe_h": f["fe_h"]})
    flux = synthetic.model_flux(wavelength, labels)
    return (1.0 - flux.min(axis=0) < depth) & synthetic.apogee_chip_mask(wavelength)


def real_continuum(sas, tolerance, min_snr, candidates):
    """Pixels near the pseudo-continuum in every high-S/N real apStar spectrum."""
    paths = sorted(glob.glob(os.path.join(sas, "**", "apStar-*.fits"), recursive=True))
    keep = np.ones(8575, dtype=bool)
    used = []
    for path in paths:
        spectrum = read_spectrum(path, kind="apStar")
        if spectrum.meta["snr"][0] < min_snr:
            continue
        wavelength = spectrum.spectral_axis.value
        flux, ivar, bad = spectrum.flux.value[0], spectrum.uncertainty.array[0], spectrum.mask[0]
        mask = None
        for _ in range(2):
            norm, norm_ivar, _ = normalise(wavelength, flux, ivar, mask=bad, continuum_pixels=mask,
                                           regions=APOGEE_REGIONS, n_iterations=5)
            near = (np.abs(norm - 1) < tolerance) & (norm_ivar > 0)
            mask = near & candidates
        keep &= near
        used.append(os.path.basename(path))
    return keep, used


def main():
    """Write the mask and print how many pixels each chip has."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sas", help="SAS tree with real apStar files (default: synthetic only)")
    parser.add_argument("--synthetic-depth", type=float, default=0.01)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--min-snr", type=float, default=50.0)
    parser.add_argument("--output", default=OUT)
    args = parser.parse_args()
    mask = synthetic_continuum(args.synthetic_depth)
    print(f"synthetic: {mask.sum()} pixels")
    if args.sas:
        real, used = real_continuum(args.sas, args.tolerance, args.min_snr, mask)
        mask &= real
        print(f"real ({', '.join(used)}): {real.sum()} pixels; both: {mask.sum()}")
    wavelength = synthetic.apogee_wavelength()
    for lo, hi in APOGEE_REGIONS:
        print(f"  chip {lo:.0f}-{hi:.0f}: {(mask & (wavelength >= lo) & (wavelength < hi)).sum()} pixels")
    np.save(os.path.abspath(args.output), mask)
    print(f"wrote {os.path.abspath(args.output)}")


if __name__ == "__main__":
    main()
