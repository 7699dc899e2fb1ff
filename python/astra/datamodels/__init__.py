"""The SDSS data models Astra reads, one :class:`DataModel` object each.

Every part of Astra that needs to know something about a kind of spectrum file (its
sdss-access keys in a release, its file task, its loader, its HDU layout, the keys of its result
rows, its pixel grid, its synthetic writer) asks the data model::

    import astra.datamodels

    apstar = astra.datamodels.get("apStar")
    apstar.keys("dr16")        # ('apred', 'apstar', 'telescope', 'field', 'prefix', 'obj')
    apstar.file_task           # astra.tasks.io.ApStarFile
    apstar.npix                # 8575
    arrays = apstar.read_arrays(path)

:data:`DATA_MODELS` lists them in order; :func:`get` finds one by name. Adding a data model is
one :class:`DataModel` entry here; its loader, file task and synthetic writer register
themselves by its name (:mod:`astra.datamodels.registry`; see the "SDSS data-model files"
guide). This package is a leaf of pure data: it imports nothing of Astra above it.
"""

import collections
import collections.abc

from astra.datamodels.apogee import APSTAR, APVISIT, ASPCAPSTAR
from astra.datamodels.base import DataModel, UnknownReleaseForModel
from astra.datamodels.boss import SPEC, SPECFULL, SPECLITE
from astra.datamodels.grids import APSTAR_GRID, LogLinearGrid
from astra.datamodels.keys import KEYS, Key, UnsafeKeyError, check_key_value, printable
from astra.datamodels.layout import Structure, describe_structure
from astra.datamodels.mwm import MWMSTAR, MWMVISIT
from astra.suggest import closest

__all__ = [
    "DATA_MODELS",
    "DataModel",
    "UnknownDataModelError",
    "UnknownReleaseForModel",
    "get",
    "file_tasks",
    "result_keys",
    "layouts",
    "kind_from_structure",
    "KEYS",
    "Key",
    "UnsafeKeyError",
    "check_key_value",
    "printable",
    "Structure",
    "describe_structure",
    "LogLinearGrid",
    "APSTAR_GRID",
]

#: Every data model by name, in a fixed order.
DATA_MODELS = collections.OrderedDict(
    (model.name, model) for model in (APSTAR, APVISIT, SPEC, SPECLITE, SPECFULL, ASPCAPSTAR, MWMSTAR, MWMVISIT)
)


class UnknownDataModelError(ValueError):
    """No data model has the name asked for."""


def get(name):
    """The data model called ``name``: exactly, else ignoring case.

    :param name: e.g. ``"apStar"`` (``"apstar"`` works too).
    :returns: a :class:`DataModel`.
    :raises UnknownDataModelError: (a :class:`ValueError`) with the closest name, if any, and
        the list of known names.
    """
    if isinstance(name, DataModel):
        return name
    model = DATA_MODELS.get(name)
    if model is not None:
        return model
    text = str(name)
    by_lower = {n.lower(): m for n, m in DATA_MODELS.items()}
    model = by_lower.get(text.lower())
    if model is not None:
        return model
    close = closest(text, DATA_MODELS)
    hint = f"did you mean {close!r}? " if close else ""
    raise UnknownDataModelError(
        f"unknown data model {text!r}; {hint}known: {', '.join(DATA_MODELS)}"
    )


class _FileTaskView(collections.abc.Mapping):
    """A read-only mapping of data-model name to file task, for a subset of the registry."""

    def __init__(self, names):
        self._names = tuple(names)

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return DATA_MODELS[name].file_task

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return repr(dict(self))


def file_tasks(names=None):
    """A read-only mapping of data-model name to its file task class (imported on first use).

    :param names: the data models to include (default: all).
    """
    return _FileTaskView([get(n).name for n in names] if names is not None else DATA_MODELS)


def result_keys():
    """The data-model keys a result row stores: every data model's identity keys, without repeats.

    :returns: a tuple in :data:`~astra.datamodels.keys.KEYS` order.
    """
    wanted = {k for model in DATA_MODELS.values() for k in model.identity_keys}
    ordered = [k for k in KEYS if k in wanted]
    return tuple(ordered + sorted(wanted - set(ordered)))


def layouts():
    """The data models that own an HDU layout (``spec``, not ``specLite``), in order."""
    return [model for model in DATA_MODELS.values() if model.layout == model.name]


def kind_from_structure(structure):
    """The name of the data model whose HDU layout a file follows, or ``None``.

    :param structure: a :class:`~astra.datamodels.layout.Structure` (or an open HDU list).
    """
    if not isinstance(structure, Structure):
        structure = Structure(structure)
    for model in DATA_MODELS.values():
        if model.layout == model.name and model.layout_rule(structure):
            return model.name
    return None


def kind_from_filename(base):
    """The name of the data model whose file names ``base`` follows, or ``None``.

    :param base: a file's base name.
    """
    for model in layouts():
        if model.filename.match(base):
            return model.name
    return None
