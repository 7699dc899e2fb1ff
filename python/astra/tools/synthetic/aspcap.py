"""Synthetic aspcapStar files: ASPCAP's pseudo-continuum-normalised spectra (DR14-DR17 layout)."""

import numpy as np

from astra.tools.synthetic import common
from astra.tools.synthetic.apogee import _SIGMA_BAD, _apstar_grid, _target, _wcs_cards
from astra.tools.synthetic.fitsbytes import atomic_write, card, header_bytes, image_hdu, table_hdu
from astra.tools.synthetic.model import APOGEE_NPIX, model_flux

__all__ = ["write_aspcapstar"]


def write_aspcapstar(path, snr=100.0, labels=None, seed=None, obj=None, field="120-45",
                     telescope="apo25m"):
    """Write a synthetic aspcapStar file (ASPCAP-normalised spectrum, DR14-DR17 layout).

    HDU 1 is the pseudo-continuum-normalised flux on the apStar grid (CRVAL1/CDELT1 in its
    header, 0 in the chip gaps), HDU 2 its error, HDU 3 the noiseless model, HDU 4 a
    one-row table with the labels and ASPCAPFLAG.

    :param path: Destination file.
    :param snr: S/N per pixel.
    :param labels: Dict with ``teff``, ``logg``, ``fe_h``.
    :param seed: Seed or Generator.
    :param obj: 2MASS-style object id (random if ``None``).
    :param field: FIELD keyword.
    :param telescope: TELESCOP keyword.
    :returns: The path written.
    """
    rng = common.make_rng(seed)
    labels = common.resolve_labels(labels)
    obj, ra, dec = _target(rng, obj)
    wavelength, on_chip = _apstar_grid()
    model = model_flux(wavelength, labels)
    error = np.full(APOGEE_NPIX, 1.0 / snr)
    flux = common.noisy(model, error, rng)
    flux[~on_chip] = 0.0
    model = np.where(on_chip, model, 0.0)
    error[~on_chip] = _SIGMA_BAD
    cards = [
        card("OBJID", obj, "Object ID"),
        card("TELESCOP", telescope, "Telescope"),
        card("FIELD", field, "Field name"),
        card("RA", round(ra, 7)),
        card("DEC", round(dec, 7)),
        card("SNR", float(snr), "median S/N"),
        *common.truth_cards(labels, snr, seed),
    ]
    table = table_hdu(
        [
            ("APOGEE_ID", np.array([obj])),
            ("TEFF", np.array([labels["teff"]], dtype=np.float32)),
            ("LOGG", np.array([labels["logg"]], dtype=np.float32)),
            ("M_H", np.array([labels["fe_h"]], dtype=np.float32)),
            ("FE_H", np.array([labels["fe_h"]], dtype=np.float32)),
            ("SNR", np.array([snr], dtype=np.float32)),
            ("ASPCAPFLAG", np.array([0], dtype=np.int64)),
        ],
        1,
    )
    chunks = [
        header_bytes(
            [card("SIMPLE", True, "conforms to FITS standard"), card("BITPIX", 16),
             card("NAXIS", 0), card("EXTEND", True)] + cards
        ),
        image_hdu(flux.astype(np.float32), _wcs_cards("Normalized flux")),
        image_hdu(error.astype(np.float32), _wcs_cards("Normalized flux error")),
        image_hdu(model.astype(np.float32), _wcs_cards("Best-fit model")),
        table,
    ]
    return atomic_write(path, chunks)
