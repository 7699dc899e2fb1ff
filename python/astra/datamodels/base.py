"""DataModel: everything Astra knows about one SDSS data model, in one object.

A data model is pure data (keys per release, path templates, HDU layout, grid); what reads,
writes or schedules its files registers itself by name in :mod:`astra.datamodels.registry`.
"""

import collections
import math
import re

from astra.datamodels import registry
from astra.datamodels.paths import canonical_release, get_template

__all__ = ["DataModel", "UnknownReleaseForModel", "Position"]

#: Where a data model keeps its object's position: ``hdu`` is ``"header"`` (cards of the
#: primary header) or the ``EXTNAME`` of a binary table (its first row), ``ra`` and ``dec`` the
#: card or column names (degrees, J2000).
Position = collections.namedtuple("Position", "hdu ra dec")


def _degrees(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except (TypeError, ValueError):
            return None
    value = float(value)
    return value if math.isfinite(value) else None


#: Every DataModel made, by name (for :attr:`DataModel.layout_model`).
_BY_NAME = {}


class UnknownReleaseForModel(ValueError):
    """The data model has no template in the release asked for."""



class DataModel:
    """One SDSS data model (apStar, spec, mwmStar, ...): keys, file task, loaders, layout, grid.

    Instances live in :data:`astra.datamodels.DATA_MODELS`; get one with
    :func:`astra.datamodels.get`. Code that needs to know something about a species asks its
    data model instead of keeping a table of its own.

    Its file task, loader and synthetic writer are registered by the packages that define them
    (:mod:`astra.datamodels.registry`).

    :param name: the sdss-access species name, e.g. ``"apStar"``.
    :param title: how messages name it, e.g. ``"BOSS spec"``.
    :param instrument: ``"apogee"``, ``"boss"`` or ``None`` (files holding both, as mwm files do).
    :param releases: ``((releases, keys), ...)``: the sdss-access template keys of each group
        of releases, in template order.
    :param layout: the data model whose HDU layout this one follows (default: itself).
    :param layout_rule: for a data model with its own layout, a function of a
        :class:`~astra.datamodels.layout.Structure` that is true for files laid out as it.
    :param filename: for a data model with its own layout, a regular expression its file
        names match (``re.match`` on the base name).
    :param format: the specutils/astropy registry format name of its loader.
    :param compatible: other layouts its loader also reads (mwmStar and mwmVisit).
    :param lean: whether the lean FITS reader serves its fast reads (image-only layouts).
    :param grid: a :class:`~astra.datamodels.grids.LogLinearGrid` when every file has the
        same pixels, else ``None``.
    :param identity_keys: the keys that identify a spectrum in a result row; default
        ``release`` and every key of every release.
    :param synthetic_keys: ``{key: (low, high)}``: integer keys whose synthetic values
        (:func:`astra.tools.synthetic.sample_keys`) are drawn from this range instead of the
        common one (BOSS spec MJDs start earlier than APOGEE's).
    :param position: where the object's position is, as the SDSS data model says: a tuple of
        :class:`Position`, tried in order (default the primary header's ``RA``/``DEC``). A
        BOSS spec file's ``RA``/``DEC`` are the telescope's boresight, so ``spec`` declares
        ``PLUG_RA``/``PLUG_DEC``.
    :param shape_rule: for a data model with its own layout, a function of a
        :class:`~astra.datamodels.layout.Structure` returning ``None`` when the shapes of the
        file's spectra are ones a release allows (:mod:`astra.datamodels.releases`), else a
        message naming the shape found and the shapes allowed.
    """

    def __init__(self, name, title, releases, instrument=None, layout=None, layout_rule=None,
                 filename=None, format=None, compatible=(), lean=False, grid=None,
                 identity_keys=None, synthetic_keys=None, position=None, shape_rule=None):
        self.name = name
        self.title = title
        self.instrument = instrument
        self._releases = tuple((tuple(group), tuple(keys)) for group, keys in releases)
        self._by_release = {release: keys for group, keys in self._releases for release in group}
        self.layout = layout or name
        self.layout_rule = layout_rule
        self.filename = re.compile(filename) if filename else None
        self.format = format
        self.compatible = frozenset(compatible)
        self.lean = lean
        self.grid = grid
        self.synthetic_keys = dict(synthetic_keys or {})
        self.all_keys = tuple(dict.fromkeys(k for _, keys in self._releases for k in keys))
        self.identity_keys = tuple(identity_keys) if identity_keys else ("release", *self.all_keys)
        self.position = tuple(Position(*p) for p in (position or (("header", "RA", "DEC"),)))
        self.shape_rule = shape_rule
        _BY_NAME[name] = self

    def __repr__(self):
        return f"<DataModel {self.name}>"

    # ------------------------------------------------------------------ keys

    @property
    def releases(self):
        """The releases this data model is declared for, in declaration order."""
        return tuple(release for group, _ in self._releases for release in group)

    def keys(self, release):
        """The sdss-access template keys of this data model in ``release``, in template order.

        A release sdss-access knows but this declaration does not (a newer sdss-access) gives
        the keys of sdss-access's own template.

        :param release: a release in any spelling sdss-access accepts (``"DR16"``, ``"ipl-3"``).
        :returns: a tuple of key names.
        :raises UnknownReleaseForModel: when neither the declaration nor sdss-access has it.
        """
        keys = self._by_release.get(release)
        if keys is not None:
            return keys
        name = canonical_release(release)
        keys = self._by_release.get(name)
        if keys is not None:
            return keys
        try:
            return tuple(get_template(name, self.name).keys)
        except ValueError:
            raise UnknownReleaseForModel(
                f"{self.name} has no release {release!r} (releases: {', '.join(self.releases)})"
            ) from None

    # ------------------------------------------------------------------ the object's position

    def position_cards(self):
        """``(ra cards, dec cards)``: the primary-header cards of :attr:`position`, in order."""
        cards = [p for p in self.position if p.hdu == "header"]
        return tuple(p.ra for p in cards), tuple(p.dec for p in cards)

    def position_columns(self):
        """``[(EXTNAME, ra column, dec column)]``: the table columns of :attr:`position`, in order."""
        return [(p.hdu, p.ra, p.dec) for p in self.position if p.hdu != "header"]

    def position_of(self, header, hdul=None):
        """The object's ``(ra, dec)`` in degrees from a file's headers, as :attr:`position` says.

        :param header: the primary header (a mapping).
        :param hdul: the open file, for positions kept in a table (optional).
        :returns: ``(ra, dec)``, or ``(None, None)`` when the file has none of the places.
        """
        for place in self.position:
            if place.hdu == "header":
                ra, dec = _degrees(header.get(place.ra)), _degrees(header.get(place.dec))
            elif hdul is not None:
                ra, dec = _table_position(hdul, place)
            else:
                continue
            if ra is not None and dec is not None:
                return ra, dec
        return None, None

    # ------------------------------------------------------------------ registered parts

    @property
    def file_task(self):
        """The data-model file task class (:mod:`astra.tasks.io`), e.g. ``ApStarFile``."""
        return registry.lookup("file_task", self.name)

    @property
    def layout_model(self):
        """The data model that owns this one's HDU layout (``spec`` for ``specLite``)."""
        return _BY_NAME[self.layout]

    @property
    def loader(self):
        """The loader function of this data model's layout (used by :meth:`read_arrays`)."""
        own = registry.lookup("loader", self.name, None)
        return own if own is not None else registry.lookup("loader", self.layout)

    @property
    def synthetic_writer(self):
        """``writer(path, keys, labels, seed, **options)`` for synthetic files, or ``None``."""
        return registry.lookup("synthetic_writer", self.name, None)

    @property
    def npix(self):
        """Pixels per spectrum when the grid is fixed (apStar: 8575), else ``None``."""
        return self.grid.npix if self.grid is not None else None

    def wavelength(self):
        """The fixed wavelength grid in Angstrom, or ``None`` when files differ."""
        return self.grid.wavelength() if self.grid is not None else None

    # ------------------------------------------------------------------ reading

    def read_spectrum(self, path, **kwargs):
        """Read a file of this data model as a :class:`specutils.Spectrum`.

        :param path: the file.
        :param kwargs: passed to the loader.
        :raises astra.tools.spectrum.SpectrumReadError: if it cannot be read as this data model.
        """
        return registry.lookup("read_spectrum", self.name)(path, kind=self.name, **kwargs)

    def read_arrays(self, path, **kwargs):
        """Read a file of this data model as plain arrays, fast (see :func:`astra.tools.spectrum.read_arrays`).

        :param path: the file.
        :param kwargs: passed to the loader.
        :returns: :data:`~astra.tools.spectrum.utils.SpectrumArrays`.
        :raises astra.tools.spectrum.SpectrumReadError: if it cannot be read as this data model.
        """
        return registry.lookup("read_arrays", self.name)(path, kind=self.name, **kwargs)

    def accepts_layout(self, found):
        """Whether a file whose layout is ``found`` (a data-model name) may be read as this one."""
        layout = self.layout_model
        return found == layout.name or found in layout.compatible

    def check_layout(self, path):
        """Check a file's HDU layout (headers only) against this data model's.

        :param path: the file.
        :raises astra.tools.spectrum.SpectrumReadError: naming the file and the layout found
            (another data model's, or a description of its HDUs) when it is not this one's.
        """
        registry.lookup("check_layout", self.name)(self, path)

    def check_structure(self, structure, path):
        """Check the HDU layout of a file already open (:meth:`check_layout` without the opening).

        ``astra migrate`` calls it with the headers :func:`~astra.tools.spectrum.lean_fits.skim`
        read, so every new file's layout is checked without reading it twice.

        :param structure: a :class:`~astra.datamodels.layout.Structure`.
        :param path: the file, for messages.
        :raises astra.tools.spectrum.SpectrumReadError: as :meth:`check_layout`.
        """
        registry.lookup("check_structure", self.name)(self, structure, path)


def _table_position(hdul, place):
    """``(ra, dec)`` from the first row of the table ``place.hdu`` of an open file, or ``None``s."""
    for hdu in hdul[1:]:
        if str(hdu.header.get("EXTNAME", "")).strip().upper() != place.hdu.upper():
            continue
        data = getattr(hdu, "data", None)
        names = [n.upper() for n in getattr(getattr(data, "columns", None), "names", [])]
        if data is None or not len(data) or place.ra.upper() not in names or place.dec.upper() not in names:
            return None, None
        return _degrees(data[place.ra][0]), _degrees(data[place.dec][0])
    return None, None
