"""Synthetic SDSS spectra written in the real data models, for tests, the demo and benchmarks.

Each writer produces one file at an explicit path, atomically, with the HDU layout, header
keywords and wavelength solution of the real data model, a flux of continuum x absorption lines
(whose depths depend on ``teff``, ``logg`` and ``fe_h``) plus Gaussian noise at a chosen S/N,
an error array, and a pixel bitmask with a few flagged pixels. The Astra loaders
(:mod:`astra.tools.spectrum`) read them like the real files::

    from astra.tools import synthetic
    from astra.tools.spectrum import Spectrum1D

    synthetic.write_apstar("apStar-r6-2M00000000+0000000.fits", n_visits=3, snr=80,
                           labels={"teff": 4800, "logg": 2.4, "fe_h": -0.3}, seed=1)
    spectrum = Spectrum1D.read("apStar-r6-2M00000000+0000000.fits")   # flux (5, 8575)

    keys = synthetic.write_sample_tree(sas_root, 100, release="dr13", species="apStar")

The true labels are written in the primary header as SYN_TEFF, SYN_LOGG, SYN_FEH.
"""

from astra.tools.synthetic.apogee import apvisit_wavelength, write_apstar, write_apvisit
from astra.tools.synthetic.aspcap import write_aspcapstar
from astra.tools.synthetic.boss import write_boss_spec
from astra.tools.synthetic.fitsbytes import atomic_write
from astra.tools.synthetic.model import (
    APOGEE_CHIPS,
    DEFAULT_LABELS,
    LABEL_NAMES,
    LABEL_RANGES,
    apogee_chip_mask,
    apogee_wavelength,
    boss_wavelength,
    continuum_flux,
    draw_labels,
    model_flux,
)
from astra.tools.synthetic.mwm import write_mwmstar, write_mwmvisit
from astra.tools.synthetic import registered  # noqa: F401 (registers each data model's writer)
from astra.tools.synthetic.tree import SampleTree, corrupt_file, write_sample_tree

__all__ = [
    "write_apstar",
    "write_apvisit",
    "write_aspcapstar",
    "write_boss_spec",
    "write_mwmstar",
    "write_mwmvisit",
    "write_sample_tree",
    "SampleTree",
    "corrupt_file",
    "model_flux",
    "continuum_flux",
    "draw_labels",
    "apogee_wavelength",
    "apvisit_wavelength",
    "boss_wavelength",
    "apogee_chip_mask",
    "atomic_write",
    "APOGEE_CHIPS",
    "DEFAULT_LABELS",
    "LABEL_NAMES",
    "LABEL_RANGES",
]
