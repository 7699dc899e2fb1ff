"""Spectra in Astra: specutils objects read by loaders for the SDSS data models.

Importing this package registers readers for apStar, apVisit, aspcapStar, BOSS spec,
mwmStar and mwmVisit files with the specutils/astropy I/O registry, so::

    from astra.tools.spectrum import Spectrum1D, SpectrumList

    spectrum = Spectrum1D.read(path)                       # format found from the file
    spectrum = Spectrum1D.read(path, format="APOGEE apStar (astra)")
    spectra = SpectrumList.read(mwm_star_path)             # one per non-empty HDU

``Spectrum1D`` is :class:`specutils.Spectrum` itself (specutils 2 deprecated its own
``Spectrum1D`` alias; ours emits no warning). A 2-D flux ``(n_rows, n_pixels)`` holds
several spectra on one spectral axis, e.g. all rows of an apStar file.
"""

import os

from specutils import Spectrum, SpectrumList

from astra import datamodels
from astra.core import readahead
from astra.datamodels.registry import ANY, provide

from astra.tools.spectrum.errors import SpectrumReadError, quick_open
from astra.tools.spectrum.identify import FORMATS, PRIORITY, identify_kind
from astra.tools.spectrum import loaders_apogee, loaders_boss, loaders_mwm  # noqa: F401 (registers)
from astra.tools.spectrum.loaders_apogee import load_apstar, load_apvisit, load_aspcapstar
from astra.tools.spectrum.loaders_boss import load_boss_spec
from astra.tools.spectrum.loaders_mwm import load_mwm_list, load_mwm_spectrum
from astra.tools.spectrum.layout_check import check_layout, check_structure
from astra.tools.spectrum.utils import (
    SpectrumArrays,
    arrays_only,
    APOGEE_BAD_PIXEL_BITS,
    BOSS_BAD_PIXEL_BITS,
    FLUX_UNIT,
    ivar_from_sigma,
)

#: Astra's public name for a spectrum: :class:`specutils.Spectrum` (no deprecation warning).
Spectrum1D = Spectrum

__all__ = [
    "Spectrum1D",
    "SpectrumList",
    "SpectrumReadError",
    "FORMATS",
    "PRIORITY",
    "identify_kind",
    "read_spectrum",
    "load_apstar",
    "load_apvisit",
    "load_aspcapstar",
    "load_boss_spec",
    "load_mwm_spectrum",
    "load_mwm_list",
    "APOGEE_BAD_PIXEL_BITS",
    "BOSS_BAD_PIXEL_BITS",
    "FLUX_UNIT",
    "ivar_from_sigma",
    "read_arrays",
    "SpectrumArrays",
]


def read_arrays(path, kind=None, **kwargs):
    """Read a spectrum file as plain numpy arrays, fast.

    Within a batch's run the next files are read ahead in background threads
    (:mod:`astra.core.readahead`); a file's read error is still raised here, for that file.

    Faster than :func:`read_spectrum` when an analysis needs only arrays: no
    :class:`specutils.Spectrum` is built, and the file is opened lazily with light checks (the
    FITS signature, a whole number of FITS blocks, and the checks on the HDUs the loader
    reads). Plain apStar, apVisit and aspcapStar files are read by the lean reader of
    :mod:`~astra.tools.spectrum.lean_fits` (about 0.3 ms for an apStar file, against about
    1.2 ms with astropy); anything it does not handle is read with astropy. On any failure
    the file is read again with every check, so a broken file gets the same precise error. Damage confined to HDUs the loader does not read (e.g. an apStar
    file cut exactly at a block boundary after its bitmask HDU) is not detected here;
    :func:`read_spectrum` checks the whole file.

    :param path: Path of the file.
    :param kind: Data-model name (see :func:`read_spectrum`), or ``None`` to recognise it.
        Whichever reader serves the file, its HDU layout is checked: a file laid out as
        another data model raises :class:`SpectrumReadError` ("wrong kind of file").
    :param kwargs: Passed to the loader.
    :returns: :data:`~astra.tools.spectrum.utils.SpectrumArrays` ``(wavelength, flux, ivar,
        mask, meta)``: wavelength in Angstrom, flux 2-D for apStar, ``mask`` True where bad.
        ``meta["header"]`` supports ``header[key]``, ``header.get(key, default)`` and ``key in
        header``; from the lean reader it is a
        :class:`~astra.tools.spectrum.lean_fits.LeanHeader`, whose ``to_astropy()`` gives an
        :class:`astropy.io.fits.Header`.
    :raises SpectrumReadError: If the file cannot be read as that kind.
    :raises ValueError: If the kind is unknown (naming the closest known one).
    """
    return readahead.through(_read_arrays, path, kind, kwargs)


def _read_arrays(path, kind=None, **kwargs):
    model = datamodels.get(kind or _identify_or_raise(path))
    loader = model.loader
    with arrays_only():
        try:
            with quick_open():  # reads only the HDUs the loader needs, checks their layout
                return loader(path, **kwargs)
        except Exception:
            # Something is off: read again with every check, for the precise error (or data).
            return loader(path, **kwargs)


def _identify_or_raise(path):
    if not os.path.exists(path):
        raise SpectrumReadError(path, "no such file")
    kind = identify_kind(path)
    if kind is None:
        raise SpectrumReadError(path, f"not recognised as any of {', '.join(FORMATS)} (name or HDU layout)")
    return kind


def read_spectrum(path, kind=None, **kwargs):
    """Read a spectrum file with the Astra loader for its data model.

    Faster than ``Spectrum1D.read(path)`` when ``kind`` is given (no identification), and
    raises :class:`SpectrumReadError` naming the path when the kind cannot be recognised.

    :param path: Path of the file.
    :param kind: Data-model name (a key of :data:`astra.datamodels.DATA_MODELS`:
        ``"apStar"``, ``"apVisit"``, ``"aspcapStar"``, ``"spec"``, ``"specLite"``,
        ``"specFull"``, ``"mwmStar"``, ``"mwmVisit"``; case does not matter), or ``None`` to
        recognise it from the file name or HDU layout.
    :param kwargs: Passed to the loader (e.g. ``bad_bits``, ``hdu`` for mwm files).
    :returns: A :class:`specutils.Spectrum`.
    :raises SpectrumReadError: If the file cannot be read as that kind.
    :raises ValueError: If the kind is unknown (naming the closest known one).
    """
    return readahead.through(_read_spectrum, path, kind, kwargs)


def _read_spectrum(path, kind=None, **kwargs):
    model = datamodels.get(kind or _identify_or_raise(path))
    return Spectrum.read(path, format=model.layout_model.format, **kwargs)


# What the data models find by name (astra.datamodels.registry): the loader of each layout,
# and the reading functions every DataModel's read_spectrum()/read_arrays()/check_*() call.
for _kind, _loader in (
    ("apStar", load_apstar), ("apVisit", load_apvisit), ("aspcapStar", load_aspcapstar),
    ("spec", load_boss_spec), ("mwmStar", load_mwm_spectrum), ("mwmVisit", load_mwm_spectrum),
):
    provide("loader", _kind, _loader)
provide("read_spectrum", ANY, read_spectrum)
provide("read_arrays", ANY, read_arrays)
provide("check_layout", ANY, check_layout)
provide("check_structure", ANY, check_structure)
