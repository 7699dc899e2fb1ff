"""A lean reader for plain FITS image files: the fast path of :func:`~astra.tools.spectrum.read_arrays`.

astropy.io.fits turns every card of every header it meets into objects and consults its
configuration for each one; for an apStar file that is most of the reading time (about 1 ms,
against about 0.1 ms here). This reader handles only the plain case: an uncompressed file
whose HDUs of interest are unscaled images. For anything else it raises :class:`NotLean` and
the caller reads the file with astropy. It never guesses: a header value it does not
recognise as a plain number, logical or string is handed to astropy's own card parser.

::

    with LeanHDUList(path) as hdul:
        header = hdul[0].header          # a LeanHeader: header["SNR"], header.get("OBJID")
        flux = hdul[1].data              # native byte order, read on first access
"""

import collections.abc
import math
import os
import re

import numpy as np

__all__ = ["NotLean", "LeanHeader", "LeanHDU", "LeanHDUList", "FITS_BLOCK", "SkimmedHDU", "skim", "table_cell"]

#: FITS files are made of blocks of this many bytes; a header card is 80 bytes.
FITS_BLOCK = 2880
_CARD = 80
_END = b"END" + b" " * 77

#: FITS BITPIX -> dtype as stored (big-endian).
_DTYPES = {8: np.dtype("u1"), 16: np.dtype(">i2"), 32: np.dtype(">i4"), 64: np.dtype(">i8"),
           -32: np.dtype(">f4"), -64: np.dtype(">f8")}

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?")
#: A whole string value field: printable ASCII with '' for a quote, then an optional comment.
_STRING = re.compile(r"'((?:[ -&(-~]|'')*)' *(?:/.*)?")
#: Keywords of commentary cards (no single value): asked of astropy.
_COMMENTARY = {"COMMENT", "HISTORY", "", "CONTINUE", "HIERARCH"}
_MISSING = object()


class NotLean(Exception):
    """The file, or an HDU of it, is outside what the lean reader handles: read it with astropy."""


#: The first ten characters of every card laid out the standard way (upper-cased): commentary
#: cards, ``END``, and value cards whose keyword starts in column 1 with ``= `` in columns 9-10.
_REGULAR_FIELDS = re.compile(r"(?:(?:COMMENT |HISTORY |CONTINUE| {8}|END {5})..|(?=[A-Z0-9_-]+ *= )[A-Z0-9_ -]{8}= )*", re.S)
_KEYWORD_FIELD = re.compile(r"[A-Z0-9_-]+ *")
#: ``(regular, keyword -> card offset)`` of each card skeleton seen (see :func:`_card_index`).
_SKELETONS = {}
_SKELETON_LIMIT = 1024


def _card_index(raw):
    """``(regular, cards)`` of a header: whether every card is laid out the standard way, and
    the offset of the first value card of each keyword.

    Both depend only on the first ten bytes of each card (keyword and ``= ``), which files
    of one data model repeat exactly while their values differ; so the skeleton made of
    those bytes is cut out (one numpy cast, no Python loop per card) and each skeleton is
    indexed once.
    """
    if len(raw) % _CARD:
        raw = raw + b" " * (_CARD - len(raw) % _CARD)
    skeleton = np.frombuffer(raw, dtype=_CARD_BYTES).astype(_FIELD_BYTES).tobytes()
    known = _SKELETONS.get(skeleton)
    if known is None:
        text = skeleton.decode("ascii").upper()
        regular = _REGULAR_FIELDS.fullmatch(text) is not None
        cards = {}
        for number in range(len(text) // 10):
            field = text[number * 10:number * 10 + 10]
            if field[8:] == "= " and _KEYWORD_FIELD.fullmatch(field[:8]):
                key = field[:8].rstrip()
                if key == "HIERARCH":
                    regular = False
                elif key not in _COMMENTARY and key not in cards:
                    cards[key] = number * _CARD
        if len(_SKELETONS) >= _SKELETON_LIMIT:
            _SKELETONS.clear()
        known = _SKELETONS[skeleton] = (regular, cards)
    return known


_CARD_BYTES = np.dtype(f"S{_CARD}")
_FIELD_BYTES = np.dtype("S10")


class LeanHeader(collections.abc.Mapping):
    """A FITS header as a read-only mapping of keyword to value, parsed on first access.

    Supports ``header[key]``, ``header.get(key, default)``, ``key in header`` (keywords are
    case-insensitive), iteration over the keywords of value cards in file order, and
    :meth:`to_astropy` for a full :class:`astropy.io.fits.Header`. Values are ``int``,
    ``float``, ``bool`` or ``str`` (trailing blanks removed), as astropy gives them; a
    keyword that appears twice gives its first value, as in astropy. A header with any card
    laid out other than the standard way (``HIERARCH``, a keyword not starting in column 1,
    ``=`` elsewhere than column 9) is looked up entirely through astropy.

    :param raw: The header's bytes, a whole number of 80-byte cards ending with ``END``.
    :raises NotLean: If the header is not plain ASCII.
    """

    def __init__(self, raw):
        self._raw = raw
        try:
            self._text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise NotLean("header is not ASCII") from None
        self._regular, self._cards = _card_index(raw)  # shared: never changed
        self._values = {}
        self._astropy = None

    def __getitem__(self, key):
        if not self._regular:
            return self.to_astropy()[key]
        key = key.upper()
        value = self._values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        start = self._cards.get(key)
        if start is None:
            if key in _COMMENTARY or "." in key:
                return self.to_astropy()[key]
            raise KeyError(f"Keyword {key!r} not found.")
        value = _parse_value(self._text[start + 10:start + _CARD])
        if value is None:  # not a plain value: let astropy interpret the card
            value = self.to_astropy()[key]
        self._values[key] = value
        return value

    def get(self, key, default=None):
        """The value of ``key``, or ``default`` if the header has no such keyword."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        if not isinstance(key, str):
            return False
        if not self._regular:
            return key in self.to_astropy()
        key = key.upper()
        if key in self._cards:
            return True
        if key in _COMMENTARY or "." in key:  # commentary, or a record-valued keyword (DP1.AXIS.1)
            return key in self.to_astropy()
        return False  # a longer keyword would need a HIERARCH card, which this header has not

    def __iter__(self):
        if not self._regular:
            return iter(dict.fromkeys(k for k in self.to_astropy().keys() if k not in _COMMENTARY))
        return iter(self._cards)

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return self.tostring()

    def tostring(self):
        """The header as FITS text: 80-character cards up to and including ``END``."""
        return self._text

    def to_astropy(self):
        """This header as an :class:`astropy.io.fits.Header` (built once, then reused)."""
        if self._astropy is None:
            from astropy.io import fits

            self._astropy = fits.Header.fromstring(self._raw)
        return self._astropy


def _parse_value(field):
    """The value in a card's value field (number, logical, string), or ``None`` to ask astropy."""
    text = field.lstrip(" ")
    if text.startswith("'"):
        match = _STRING.fullmatch(text)
        if match is None:
            return None
        value = match.group(1).replace("''", "'").rstrip()
        # A string ending in "&" may continue on CONTINUE cards: astropy joins those.
        return None if value.endswith("&") else value
    text = text.split("/", 1)[0].rstrip(" ")
    if text == "T":
        return True
    if text == "F":
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text.replace("D", "E").replace("d", "e"))
    return None


class LeanHDU:
    """One HDU of a :class:`LeanHDUList`: its :class:`LeanHeader` and, for images, ``data``.

    :param hdul: The open list this HDU belongs to.
    :param index: The HDU number (0 is the primary HDU).
    :param header: The HDU's header.
    :param offset: Byte offset of the HDU's data in the file.
    :param nbytes: Bytes of data (without the padding to a whole block).
    """

    def __init__(self, hdul, index, header, offset, nbytes):
        self._hdul = hdul
        self.index = index
        self.header = header
        self._offset = offset
        self._nbytes = nbytes
        self._data = None

    @property
    def is_image(self):
        """True for the primary HDU and ``IMAGE`` extensions."""
        if self.index == 0:
            return True
        return self.header.get("XTENSION") == "IMAGE"

    @property
    def data(self):
        """The image as a numpy array in native byte order, or ``None`` for an HDU without data.

        :raises NotLean: For anything but an unscaled image (tables, random groups,
            ``BSCALE``/``BZERO`` scaling).
        """
        if self._data is None:
            if self._nbytes:
                self._data = self._read_image()
            elif self.header.get("NAXIS", 0):
                raise NotLean(f"HDU {self.index} has an axis of length 0")
        return self._data

    def _read_image(self):
        header = self.header
        if not self.is_image or header.get("GROUPS") is True:
            raise NotLean(f"HDU {self.index} is not a plain image")
        if header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0:
            raise NotLean(f"HDU {self.index} is scaled (BSCALE/BZERO)")
        if header["BITPIX"] > 0 and "BLANK" in header:
            raise NotLean(f"HDU {self.index} has BLANK (astropy gives floats with NaN)")
        if header.get("PCOUNT", 0) != 0 or header.get("GCOUNT", 1) != 1:
            raise NotLean(f"HDU {self.index} has PCOUNT/GCOUNT")
        dtype = _DTYPES[header["BITPIX"]]
        shape = tuple(header[f"NAXIS{k}"] for k in range(header["NAXIS"], 0, -1))
        array = np.empty(shape, dtype=dtype)
        fp = self._hdul._file
        fp.seek(self._offset)
        if fp.readinto(memoryview(array).cast("B")) != array.nbytes:
            raise NotLean(f"HDU {self.index} data is cut short")
        if not array.dtype.isnative:
            array.byteswap(inplace=True)
            array = array.view(array.dtype.newbyteorder())
        return array


class LeanHDUList:
    """The HDUs of a plain FITS file, read lazily: a header when its HDU is first asked for.

    Use it as a context manager; ``hdul[i]`` gives a :class:`LeanHDU`. Only the headers up to
    the HDU asked for are read, and only the data of images whose ``data`` is asked for.

    :param path: A FITS file (not compressed).
    :raises NotLean: If the file does not start like a plain FITS file.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._file = open(self.path, "rb", buffering=0)
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._hdus = []
            self._next_offset = 0  # where the header of the next unread HDU starts
            self._read_next()
            if self._hdus[0].header.get("SIMPLE") is not True:
                raise NotLean("not a standard FITS file (SIMPLE is not T)")
        except BaseException:
            self._file.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the file; data already read stays valid."""
        self._file.close()

    def filename(self):
        """The path of the file."""
        return self.path

    def __getitem__(self, index):
        if not isinstance(index, int) or index < 0:
            raise NotLean(f"HDU {index!r}: only non-negative numbers are supported")
        while len(self._hdus) <= index:
            if self._next_offset >= self._size:
                raise IndexError(f"{self.path}: no HDU {index} (the file has {len(self._hdus)})")
            self._read_next()
        return self._hdus[index]

    def __len__(self):
        while self._next_offset < self._size:
            self._read_next()
        return len(self._hdus)

    def _read_next(self):
        fp = self._file
        start = self._next_offset
        fp.seek(start)
        chunks = []
        while True:
            block = fp.read(FITS_BLOCK)
            if len(block) != FITS_BLOCK:
                raise NotLean(f"header of HDU {len(self._hdus)} has no END card")
            chunks.append(block)
            end = _find_end(block)
            if end >= 0:
                break
        raw = b"".join(chunks)
        header = LeanHeader(raw[: (len(chunks) - 1) * FITS_BLOCK + end + _CARD])
        if header.get("ZIMAGE") is True:
            raise NotLean(f"HDU {len(self._hdus)} is a tile-compressed image")
        offset = start + len(raw)
        nbytes = _data_bytes(header, len(self._hdus))
        padded = -(-nbytes // FITS_BLOCK) * FITS_BLOCK
        if offset + padded > self._size:
            raise NotLean(f"HDU {len(self._hdus)} data is cut short")
        self._hdus.append(LeanHDU(self, len(self._hdus), header, offset, nbytes))
        self._next_offset = offset + padded


def _find_end(block):
    """The offset of the END card in a header block, or -1."""
    # Searching for the 80-byte card itself is slow (a needle of blanks in a block of
    # blanks); "END" is rare, so look for it and check the card it starts.
    found = block.find(b"END")
    while found >= 0:
        if found % _CARD == 0 and block[found:found + _CARD] == _END:
            return found
        found = block.find(b"END", found + 1)
    return -1


def _data_bytes(header, index):
    """Bytes of data that follow a header (FITS standard, section 4.4.1)."""
    try:
        bitpix = header["BITPIX"]
        naxis = header["NAXIS"]
        if type(bitpix) is not int or bitpix not in _DTYPES or type(naxis) is not int or not 0 <= naxis <= 999:
            raise NotLean(f"HDU {index}: BITPIX {bitpix} / NAXIS {naxis} not supported")
        axes = [header[f"NAXIS{k}"] for k in range(1, naxis + 1)]
        if index == 0 and header.get("GROUPS") is True:
            raise NotLean("random-groups FITS")
        gcount, pcount = header.get("GCOUNT", 1), header.get("PCOUNT", 0)
        if not all(type(v) is int and v >= 0 for v in (*axes, gcount, pcount)):
            raise NotLean(f"HDU {index}: NAXISn, GCOUNT and PCOUNT must be non-negative integers")
        if naxis == 0:
            return 0
        count = int(np.prod(axes, dtype=np.int64))
        return abs(bitpix) // 8 * gcount * (pcount + count)
    except (KeyError, TypeError) as error:
        raise NotLean(f"HDU {index}: structural keyword missing or odd ({error})") from None


class SkimmedHDU:
    """One HDU as :func:`skim` sees it, with its header parsed only if asked for.

    :ivar index: the HDU number.
    :ivar xtension: ``"PRIMARY"`` for HDU 0, else the extension type (``"IMAGE"``, ...).
    :ivar bitpix: ``BITPIX``.
    :ivar axes: the axis lengths in FITS order (``NAXIS1`` first).
    :ivar data_offset: where its data start in the file.
    :ivar nbytes: bytes of data (without the padding).
    """

    __slots__ = ("index", "xtension", "bitpix", "axes", "data_offset", "nbytes", "_raw", "_header")

    def __init__(self, index, xtension, bitpix, axes, data_offset, nbytes, raw=None, header=None):
        self.index, self.xtension, self.bitpix, self.axes = index, xtension, bitpix, axes
        self.data_offset, self.nbytes = data_offset, nbytes
        self._raw, self._header = raw, header

    @property
    def header(self):
        """The HDU's header, a :class:`LeanHeader` parsed on first access."""
        if self._header is None:
            self._header = LeanHeader(self._raw)
        return self._header

    def __iter__(self):
        return iter((self.index, self.xtension, self.bitpix, self.axes, self.data_offset, self.nbytes))

    def __repr__(self):
        return f"SkimmedHDU({', '.join(map(repr, self))})"


def skim(path, keywords=()):
    """The structure of every HDU of a plain FITS file, and chosen primary-header values, fast.

    About ten times faster than reading every header with :class:`LeanHDUList`: headers are
    only searched for their structural keywords (``XTENSION``, ``BITPIX``, ``NAXISn``,
    ``PCOUNT``, ``GCOUNT``) and, in the primary header, for ``keywords``. For checking a
    file's HDU layout and size cheaply, as ``astra migrate`` does for every new file.

    :param path: a FITS file (not compressed).
    :param keywords: primary-header keywords whose values are wanted.
    :returns: ``(values, hdus)``: a dict of keyword to value (only those present; a value
        that is not a plain number, logical or string is interpreted by astropy) and a list
        of :class:`SkimmedHDU`, one per HDU (``hdus[i].header`` parses that header on first
        use, so layout rules can look at the few headers they need; the primary header is
        parsed once when ``keywords`` are asked for, and shared).
    :raises NotLean: if the file is not plain FITS, a header has no ``END`` card, a
        structural keyword is missing or odd, an image is tile-compressed, or an HDU's data
        run past the end of the file (truncated).
    """
    hdus = []
    values = {}
    pread = os.pread
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            index = len(hdus)
            raw = pread(fd, FITS_BLOCK, offset)
            if len(raw) != FITS_BLOCK:
                raise NotLean(f"header of HDU {index} has no END card")
            end = _find_end(raw)
            while end < 0:  # the header goes on in the next block
                block = pread(fd, FITS_BLOCK, offset + len(raw))
                if len(block) != FITS_BLOCK:
                    raise NotLean(f"header of HDU {index} has no END card")
                found = _find_end(block)
                if found >= 0:
                    end = len(raw) + found
                raw += block
            length = end + _CARD
            header = None
            if index == 0:
                if raw[:30] != _SIMPLE:
                    raise NotLean("not a standard FITS file (SIMPLE is not T)")
                if keywords:
                    header = LeanHeader(raw[:length])
                    values = {key: header[key] for key in keywords if key in header}
            if index:
                key = raw[:_KNOWN_PREFIX]
                known = _KNOWN_EXTENSIONS.get(key)
                if known is None:
                    known = _extension_structure(raw, index, key)
                xtension, bitpix, axes, nbytes = known
                if xtension == "BINTABLE" and b"ZIMAGE  = " in raw[:length]:
                    raise NotLean(f"HDU {index} is a tile-compressed image")
            else:
                xtension, bitpix, axes, pcount, gcount = _structure(raw, index)
                nbytes = abs(bitpix) // 8 * gcount * (pcount + math.prod(axes)) if axes else 0
            data_offset = offset + len(raw)
            offset = data_offset + -(-nbytes // FITS_BLOCK) * FITS_BLOCK
            if offset > size:
                raise NotLean(f"HDU {index} data is cut short")
            hdus.append(SkimmedHDU(index, xtension, bitpix, axes, data_offset, nbytes, raw[:length], header))
    finally:
        os.close(fd)
    if not hdus:
        raise NotLean("empty file")
    return values, hdus


_SIMPLE = b"SIMPLE  =                    T"

#: The structure of an extension HDU depends only on its first ``5 + NAXIS`` cards; files of
#: one data model repeat them HDU for HDU, so the structure of each such prefix is kept (for
#: up to :data:`_KNOWN_LIMIT` prefixes, NAXIS at most 5) instead of being parsed again.
_KNOWN_PREFIX = 10 * _CARD
_KNOWN_LIMIT = 4096
_KNOWN_EXTENSIONS = {}


def _extension_structure(raw, index, key):
    """``(xtension, bitpix, axes, nbytes)`` of an extension HDU, remembered by ``key`` (its first cards)."""
    xtension, bitpix, axes, pcount, gcount = _structure(raw, index)
    nbytes = abs(bitpix) // 8 * gcount * (pcount + math.prod(axes)) if axes else 0
    known = (xtension, bitpix, axes, nbytes)
    if len(axes) <= 5:  # every card the structure was read from is inside the key
        if len(_KNOWN_EXTENSIONS) >= _KNOWN_LIMIT:
            _KNOWN_EXTENSIONS.clear()
        _KNOWN_EXTENSIONS[key] = known
    return known
#: The first ten bytes of a mandatory card: keyword, blanks, "= ".
_PREFIX = {name: name.ljust(8) + b"= " for name in (b"BITPIX", b"NAXIS", b"PCOUNT", b"GCOUNT")}
_NAXIS_PREFIX = [b"NAXIS%-3d= " % k for k in range(1000)]


def _integer_card(raw, position, prefix):
    """The value of the card at ``position``, which must start with ``prefix`` (a keyword and
    ``= ``) and hold an integer in fixed format (columns 11-30, as the standard requires of
    the mandatory keywords)."""
    start = position * _CARD
    if raw[start:start + 10] != prefix:
        keyword = prefix[:8].rstrip().decode()
        raise NotLean(f"card {position + 1} is not {keyword} (mandatory keywords out of order)")
    try:
        return int(raw[start + 10:start + 30])
    except ValueError:
        raise NotLean(f"{prefix[:8].rstrip().decode()} is not a fixed-format integer") from None


def _structure(raw, index):
    """``(xtension, bitpix, axes, pcount, gcount)`` from the mandatory cards, in the order
    the FITS standard fixes (section 4.4.1): SIMPLE/XTENSION, BITPIX, NAXIS, NAXISn, then
    PCOUNT and GCOUNT for an extension."""
    if index == 0:
        xtension = "PRIMARY"
    elif raw[:10] == b"XTENSION= ":
        xtension = raw[10:80].split(b"/", 1)[0].strip().strip(b"'").strip().decode("ascii", "replace")
    else:
        raise NotLean(f"HDU {index} does not start with XTENSION")
    bitpix = _integer_card(raw, 1, _PREFIX[b"BITPIX"])
    naxis = _integer_card(raw, 2, _PREFIX[b"NAXIS"])
    if bitpix not in _DTYPES or not 0 <= naxis <= 999:
        raise NotLean(f"HDU {index}: BITPIX {bitpix} / NAXIS {naxis} not supported")
    axes = tuple([_integer_card(raw, 2 + k, _NAXIS_PREFIX[k]) for k in range(1, naxis + 1)])
    if index:
        pcount = _integer_card(raw, 3 + naxis, _PREFIX[b"PCOUNT"])
        gcount = _integer_card(raw, 4 + naxis, _PREFIX[b"GCOUNT"])
    elif b"GROUPS  =                    T" in raw:
        raise NotLean("random-groups FITS")
    else:
        pcount, gcount = 0, 1
    if pcount < 0 or gcount < 0 or axes and min(axes) < 0:
        raise NotLean(f"HDU {index}: negative axis length, PCOUNT or GCOUNT")
    return xtension, bitpix, axes, pcount, gcount


#: Binary-table column codes: bytes per element (FITS standard, table 18).
_TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
#: The codes :func:`table_cell` reads (one plain number each).
_CELL_DTYPES = {"B": np.dtype("u1"), "I": np.dtype(">i2"), "J": np.dtype(">i4"), "K": np.dtype(">i8"),
                "E": np.dtype(">f4"), "D": np.dtype(">f8")}
_TFORM = re.compile(r" *(\d*)([A-Z])")


def table_cell(path, hdu, column, row=0):
    """One number of a binary table, read straight from the file: a few bytes, no table.

    For a value a data model keeps in a one-row table rather than in a header (the S/N of a
    BOSS spectrum is ``SN_MEDIAN_ALL`` in its ``SPALL`` table).

    :param path: the file.
    :param hdu: the table's :class:`SkimmedHDU` (from :func:`skim`).
    :param column: the column name (``TTYPEn``; case is ignored).
    :param row: the row number (0 is the first).
    :returns: an ``int`` or ``float`` (a logical column gives ``True``/``False``, or
        ``None`` when undefined).
    :raises KeyError: when the table has no such column.
    :raises NotLean: when the HDU is not a binary table with that row, or the column is not
        one plain number (a vector, text, scaled with ``TSCALn``/``TZEROn``): read it with astropy.
    """
    header = hdu.header
    if hdu.xtension != "BINTABLE" or hdu.data_offset is None:
        raise NotLean(f"HDU {hdu.index} is not a binary table read by skim")
    fields, width, rows = header.get("TFIELDS"), header.get("NAXIS1"), header.get("NAXIS2")
    if not all(type(v) is int for v in (fields, width, rows)) or not 0 <= row < rows:
        raise NotLean(f"HDU {hdu.index}: no row {row} (TFIELDS/NAXIS1/NAXIS2 odd or too few rows)")
    wanted, offset = column.strip().lower(), 0
    for number in range(1, fields + 1):
        form = _TFORM.match(str(header.get(f"TFORM{number}", "")))
        if form is None or form.group(2) not in _TFORM_BYTES and form.group(2) != "X":
            raise NotLean(f"HDU {hdu.index}: TFORM{number} not understood")
        repeat, code = int(form.group(1) or 1), form.group(2)
        size = (repeat + 7) // 8 if code == "X" else repeat * _TFORM_BYTES[code]
        if str(header.get(f"TTYPE{number}", "")).strip().lower() == wanted:
            if repeat != 1 or code not in _CELL_DTYPES and code != "L" or f"TSCAL{number}" in header \
                    or f"TZERO{number}" in header:
                raise NotLean(f"HDU {hdu.index}: column {column} is not one plain number")
            fd = os.open(path, os.O_RDONLY)
            try:
                raw = os.pread(fd, size, hdu.data_offset + row * width + offset)
            finally:
                os.close(fd)
            if len(raw) != size:
                raise NotLean(f"HDU {hdu.index} data is cut short")
            if code == "L":
                return {b"T": True, b"F": False}.get(raw)
            return np.frombuffer(raw, dtype=_CELL_DTYPES[code])[0].item()
        offset += size
    raise KeyError(f"HDU {hdu.index} has no column {column!r}")
