"""Recognise which SDSS data model a file follows, without being told.

specutils ships its own APOGEE, SDSS and SDSS-V readers whose identifiers also match these
files (sometimes several at once, which is a "Format is ambiguous" error). Rather than remove
them from the global registry, which would surprise other code in the process, our readers are
registered with :data:`PRIORITY` above every built-in reader: astropy's registry picks the
highest-priority format among those whose identifier matches. Our identifiers are mutually
exclusive, so among ours there is never a tie.

A file is recognised first by its data-model file name (``apStar-*.fits``, ``spec-*.fits``,
...), which costs no I/O and means a broken file with a data-model name still reaches our
loader and gets a clear error instead of "Format could not be identified". Files with other
names are recognised by their HDU structure.
"""

import functools
import os

from astropy.io import fits

from astra import datamodels

__all__ = [
    "PRIORITY",
    "FORMATS",
    "identify_kind",
    "kind_from_filename",
    "kind_from_structure",
    "make_identifier",
]

#: Registry priority of Astra's readers: above specutils' built-ins (at most 20).
PRIORITY = 100

#: Data-model kind -> registry format name, for the data models that own an HDU layout (from
#: :mod:`astra.datamodels`; ``specLite`` and ``specFull`` are read as ``spec``).
FORMATS = {model.name: model.format for model in datamodels.layouts()}


def kind_from_filename(path):
    """Return the data-model kind named by a file's base name, or ``None``.

    :param path: A file path (only its base name is looked at).
    :returns: One of the keys of :data:`FORMATS`, or ``None``.
    """
    if not isinstance(path, (str, os.PathLike)):
        return None
    return datamodels.kind_from_filename(os.path.basename(os.fspath(path)))


def kind_from_structure(hdul):
    """Return the data-model kind an open file's HDU layout matches, or ``None``.

    Only headers are read, never data. The rules are the data models' own
    (:attr:`astra.datamodels.DataModel.layout_rule`).

    :param hdul: An open :class:`~astropy.io.fits.HDUList` (or a lean reader's list).
    :returns: One of the keys of :data:`FORMATS`, or ``None``.
    """
    return datamodels.kind_from_structure(hdul)


@functools.lru_cache(maxsize=512)
def _kind_of_path(path, mtime_ns, size):
    # mtime and size are part of the cache key so that a rewritten file is looked at again.
    try:
        with fits.open(path, memmap=False) as hdul:
            return kind_from_structure(hdul)
    except Exception:
        return None


def identify_kind(path=None, fileobj=None, *args):
    """Return the data-model kind of a file given as a path, file object or HDUList.

    The file name decides when it follows a data-model pattern; otherwise the HDU layout is
    inspected (cached per path, size and modification time).

    :param path: The file path, if known.
    :param fileobj: An open file object, if the caller has one.
    :param args: Further positional arguments of a ``read`` call; an HDUList passed as the
        first of them is inspected.
    :returns: One of the keys of :data:`FORMATS`, or ``None``.
    """
    kind = kind_from_filename(path)
    if kind is not None:
        return kind
    source = args[0] if args else None
    if isinstance(source, fits.HDUList):
        return kind_from_structure(source)
    kind = kind_from_filename(getattr(fileobj, "name", None))
    if kind is not None:
        return kind
    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
        st = os.stat(path)
        return _kind_of_path(os.fspath(path), st.st_mtime_ns, st.st_size)
    if fileobj is not None and hasattr(fileobj, "seek"):
        try:
            start = fileobj.tell()
            hdul = fits.open(fileobj, memmap=False)
            try:
                return kind_from_structure(hdul)
            finally:
                hdul.close(closed=False)  # the file object is the caller's
                fileobj.seek(start)
        except Exception:
            return None
    return None


def make_identifier(kind):
    """Build an astropy-registry identifier function that accepts files of one kind.

    :param kind: One of the keys of :data:`FORMATS`.
    :returns: A function ``(origin, path, fileobj, *args, **kwargs) -> bool``.
    """

    def identifier(origin, path=None, fileobj=None, *args, **kwargs):
        if origin != "read":
            return False
        return identify_kind(path, fileobj, *args) == kind

    identifier.__name__ = f"identify_{kind}"
    identifier.__doc__ = f"Return True for a file following the {kind} data model."
    return identifier
