"""Checking a file's HDU layout against a data model's, with errors that name the file.

:meth:`astra.datamodels.DataModel.check_layout` and
:meth:`~astra.datamodels.DataModel.check_structure` call these (registered by name in
:mod:`astra.datamodels.registry` when :mod:`astra.tools.spectrum` is imported).
"""

from astra import datamodels
from astra.datamodels.layout import Structure, describe_structure
from astra.tools.spectrum.errors import SpectrumReadError, open_fits

__all__ = ["check_layout", "check_structure"]


def check_layout(model, path):
    """Check a file's HDU layout (headers only) against ``model``'s.

    :param model: a :class:`~astra.datamodels.DataModel`.
    :param path: the file.
    :raises SpectrumReadError: naming the file and the layout found (another data model's, or
        a description of its HDUs) when it is not ``model``'s.
    """
    with open_fits(path, kind=model.layout) as hdul:
        check_structure(model, Structure(hdul), path)


def check_structure(model, structure, path):
    """Check the HDU layout of a file already open (:func:`check_layout` without the opening).

    :param model: a :class:`~astra.datamodels.DataModel`.
    :param structure: a :class:`~astra.datamodels.layout.Structure`.
    :param path: the file, for messages.
    :raises SpectrumReadError: as :func:`check_layout`, and when the shapes of the file's
        spectra are not ones a release allows (the data model's ``shape_rule``).
    """
    found = datamodels.kind_from_structure(structure)
    if found is None:
        raise SpectrumReadError(
            path, f"HDU layout is not that of {model.title}: found {describe_structure(structure)}"
        )
    if not model.accepts_layout(found):
        raise SpectrumReadError(
            path, f"wrong kind of file: expected {model.title}, but its HDU layout is that of "
            f"{datamodels.DATA_MODELS[found].title}"
        )
    rule = datamodels.DATA_MODELS[found].shape_rule
    problem = rule(structure) if rule is not None else None
    if problem:
        raise SpectrumReadError(path, problem)
