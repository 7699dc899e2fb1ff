"""HDU layouts: what a file's headers say about which data model it follows.

A data model's layout rule is a function of a :class:`Structure`, a read-only view of a file's
HDU headers that works the same over an astropy :class:`~astropy.io.fits.HDUList` and over the
lean reader's :class:`~astra.tools.spectrum.lean_fits.LeanHDUList` (so the fast path checks the
layout with the headers it already parsed). Only headers are read, never data.
"""

__all__ = ["Structure", "describe_structure"]


class Structure:
    """The headers of an open FITS file, HDU by HDU, for layout rules.

    :param hdul: an astropy ``HDUList`` or a lean ``LeanHDUList``.
    """

    def __init__(self, hdul):
        self._hdul = hdul
        self._columns = {}

    def has(self, index):
        """Whether the file has HDU ``index`` (reads headers up to it, no further)."""
        try:
            self._hdul[index]
        except IndexError:
            return False
        return True

    def __len__(self):
        return len(self._hdul)

    def header(self, index):
        """The header of HDU ``index`` (``-1`` is the last)."""
        if index < 0:
            index += len(self._hdul)
        return self._hdul[index].header

    def shape(self, index):
        """The data shape of HDU ``index`` in numpy order (``()`` for none), from its structure."""
        hdu = self._hdul[index]
        axes = getattr(hdu, "axes", None)  # a skimmed HDU knows its axes without its header
        if axes is None:
            header = hdu.header
            naxis = header.get("NAXIS", 0)
            axes = tuple(header.get(f"NAXIS{k}", 0) for k in range(1, naxis + 1)) if isinstance(naxis, int) else ()
        return tuple(reversed(tuple(axes)))

    def is_image(self, index):
        """Whether HDU ``index`` is the primary HDU or an ``IMAGE`` extension."""
        if index == 0:
            return True
        return self.header(index).get("XTENSION") == "IMAGE"

    def is_table(self, index):
        """Whether HDU ``index`` is a binary table."""
        return index != 0 and self.header(index).get("XTENSION") == "BINTABLE"

    def columns(self, index):
        """The lower-case column names of binary-table HDU ``index`` (empty for others)."""
        cached = self._columns.get(index)
        if cached is None:
            cached = set()
            if self.is_table(index):
                header = self.header(index)
                n = header.get("TFIELDS", 0)
                n = n if isinstance(n, int) else 0
                cached = {str(header.get(f"TTYPE{i}", "")).strip().lower() for i in range(1, n + 1)}
            self._columns[index] = cached
        return cached


def describe_structure(structure, limit=6):
    """A short text of a file's HDUs for messages, e.g. ``"3 HDUs: PRIMARY, IMAGE (8575,), BINTABLE"``.

    :param structure: a :class:`Structure`.
    :param limit: describe at most this many HDUs.
    """
    n = len(structure)
    parts = []
    for index in range(min(n, limit)):
        header = structure.header(index)
        kind = "PRIMARY" if index == 0 else str(header.get("XTENSION", "?")).strip()
        naxis = header.get("NAXIS", 0)
        if kind in ("PRIMARY", "IMAGE") and isinstance(naxis, int) and naxis > 0:
            shape = tuple(header.get(f"NAXIS{k}") for k in range(naxis, 0, -1))
            kind += f" {shape}"
        parts.append(kind)
    more = ", ..." if n > limit else ""
    return f"{n} HDU{'s' if n != 1 else ''}: {', '.join(parts)}{more}"
