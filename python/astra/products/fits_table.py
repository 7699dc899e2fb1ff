"""Writing one FITS binary table from column arrays: what every product shares.

A product is a primary HDU of header cards and one binary-table HDU. :func:`fetch_arrays` reads
a query's rows a chunk at a time and turns each chunk's columns into typed numpy arrays at once
(:func:`typed_array`), as the peewee field of each column says (its type, unit and help text),
so the cost per row does not depend on the number of rows and the memory is that of the arrays
(plus one chunk of rows):

* floats are 64-bit (``D``), missing values NaN;
* integers and bit fields are 64-bit (``K``), missing values the ``TNULLn`` value
  (:data:`INT_NULL`);
* booleans are ``L`` (missing: false); times are ISO text; text is ASCII (``nA``, missing: empty);
* array fields (:class:`~astra.fields.ArrayField`) are variable-length arrays (``PD()``).

Each ``TTYPEn`` carries the field's help text as its comment, each category a blank-keyword card
just before the ``TTYPEn`` of its group's first column, and each named flag a ``FLAG<bit>``
card (bits of a column named ``flags``) or a ``COMMENT`` card (bits of other bit fields).
:func:`write_table` writes the file atomically and refuses to replace one unless asked.
"""

import contextlib
import dataclasses
import datetime
import gzip
import json
import os
import shutil

import numpy as np
import peewee
from astropy.io import fits

from astra.fields import BitField
from astra.targets import atomic_path

__all__ = [
    "INT_NULL", "typed_array", "missing_array", "fetch_arrays", "fits_column", "describe_columns", "write_table",
    "refuse_existing", "utc_timestamp", "CREATED_FORMAT", "CREATED_COMMENT", "write_tables", "TableHDU",
]

#: TNULL of 64-bit integer columns: the value that means "missing".
INT_NULL = np.iinfo(np.int64).min


#: The format of the ``CREATED`` card, as SDSS's products write it (``23-11-16 00:00:06``; the SDSS
#: datamodel's ``mwmAllStar``, ``astraAllStar<Pipeline>`` and ``mwmStar`` pages).
CREATED_FORMAT = "%y-%m-%d %H:%M:%S"

#: The comment of the ``CREATED`` card, as SDSS writes it.
CREATED_COMMENT = f"File creation time (UTC {CREATED_FORMAT})"


def utc_timestamp():
    """The current UTC time as SDSS writes its products' ``CREATED`` card: ``YY-MM-DD HH:MM:SS``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(CREATED_FORMAT)


def column_kind(field):
    """How a field is written: ``float``, ``int``, ``bool``, ``datetime``, ``array`` or ``text``.

    :param field: a peewee field.
    """
    if getattr(field, "is_array", False):
        return "array"
    if isinstance(field, BitField):
        return "int"
    if isinstance(field, peewee.BooleanField):
        return "bool"
    if isinstance(field, (peewee.FloatField, peewee.DecimalField)):
        return "float"
    if isinstance(field, (peewee.IntegerField, peewee.ForeignKeyField)):
        return "int"
    if isinstance(field, (peewee.DateTimeField, peewee.DateField)):
        return "datetime"
    return "text"


def _none_mask(values):
    array = np.array(values, dtype=object)
    return array, np.equal(array, None)


def typed_array(field, values):
    """The numpy array a column of ``values`` is written from, typed as ``field`` says.

    Floats are ``float64`` (missing: NaN), integers ``int64`` (missing: :data:`INT_NULL`),
    booleans ``bool`` (missing: false), times and text ASCII bytes (missing: empty), arrays an
    object array of ``float64`` arrays.

    :param field: the peewee field describing the values.
    :param values: a sequence with one value per row (``None`` for missing).
    """
    kind = column_kind(field)
    if kind == "float":  # numpy reads None as NaN
        return np.array(values, dtype=np.float64)
    if kind in ("int", "bool"):
        array, missing = _none_mask(values)
        array[missing] = INT_NULL if kind == "int" else False
        return array.astype(np.int64 if kind == "int" else bool)
    if kind == "array":
        arrays = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            items = json.loads(value) if isinstance(value, str) else (value or [])
            arrays[i] = np.array([np.nan if v is None else v for v in items], dtype=np.float64)
        return arrays
    if kind == "datetime":
        values = [v.isoformat(" ") if isinstance(v, datetime.datetime) else v for v in values]
    texts = ["" if v is None else str(v) for v in values]
    if not "".join(texts).isascii():  # FITS text is ASCII
        texts = [t.encode("ascii", "replace").decode("ascii") for t in texts]
    return np.array(texts, dtype="S") if texts else np.zeros(0, dtype="S1")


def missing_array(field, count):
    """``count`` missing values of ``field``'s kind (what :func:`typed_array` makes of ``None``).

    :param field: the peewee field describing the column.
    :param count: the number of rows.
    """
    kind = column_kind(field)
    if kind == "array":
        arrays = np.empty(count, dtype=object)
        for i in range(count):
            arrays[i] = np.zeros(0, dtype=np.float64)
        return arrays
    fill = {"float": (np.nan, np.float64), "int": (INT_NULL, np.int64), "bool": (False, bool)}
    value, dtype = fill.get(kind, (b"", "S1"))
    return np.full(count, value, dtype=dtype)


def fetch_arrays(db, query, fields, chunk=5000):
    """Run ``query`` once; its result as one :func:`typed_array` per selected column.

    Rows are read ``chunk`` at a time and each chunk is turned into typed arrays at once, so the
    Python objects of only one chunk are alive at any time.

    :param db: the database.
    :param query: a peewee query.
    :param fields: the field describing each selected column, in order.
    :param chunk: rows read at a time.
    :returns: ``(number of rows, list of arrays)``.
    """
    sql, params = query.sql()
    cursor = db.execute_sql(sql, params)
    parts = [[] for _ in fields]
    count = 0
    while True:
        rows = cursor.fetchmany(chunk)
        if not rows:
            break
        count += len(rows)
        for part, field, values in zip(parts, fields, zip(*rows)):
            part.append(typed_array(field, values))
    return count, [np.concatenate(part) if part else typed_array(field, []) for part, field in zip(parts, fields)]


def fits_column(field, array, name=None):
    """One FITS column of ``array`` (a :func:`typed_array`), written as ``field`` says.

    :param field: the peewee field describing the values (type, ``unit``).
    :param array: the column's typed values (a list of values is typed first).
    :param name: the column's name (default the field's column name).
    :returns: an :class:`astropy.io.fits.Column`.
    """
    if not isinstance(array, np.ndarray):
        array = typed_array(field, array)
    kind = column_kind(field)
    unit = getattr(field, "unit", None)
    name = name or field.column_name
    if kind == "float":
        return fits.Column(name=name, format="D", unit=unit, array=array)
    if kind == "int":
        null = INT_NULL if (array == INT_NULL).any() else None
        return fits.Column(name=name, format="K", unit=unit, null=null, array=array)
    if kind == "bool":
        return fits.Column(name=name, format="L", unit=unit, array=array)
    if kind == "array":
        return fits.Column(name=name, format="PD()", unit=unit, array=array)
    width = max(1, array.dtype.itemsize)
    return fits.Column(name=name, format=f"{width}A", unit=unit, array=array.astype(f"S{width}"))


def describe_columns(hdu, fields, flags=None):
    """Add the help text of each column as its ``TTYPEn`` comment, and the flag cards.

    :param hdu: the binary-table HDU, columns in the order of ``fields``.
    :param fields: the peewee field of each column.
    :param flags: a results model's named flags (:meth:`~astra.database.models.ResultSchema.flag_fields`).
    """
    header = hdu.header
    for index, field in enumerate(fields, start=1):
        if field.help_text:
            header.comments[f"TTYPE{index}"] = field.help_text
    flags = flags or {}
    main = [f for f in flags.values() if f.field.name == "flags"]
    last = f"TFORM{len(fields)}"
    for name, flag_ in flags.items():
        if flag_.field.name == "flags" and flag_.bit < 100:
            header.insert(last, (f"FLAG{flag_.bit}", name, (flag_.help_text or "")[:47]), after=True)
            last = f"FLAG{flag_.bit}"
    for name, flag_ in flags.items():
        if flag_.field.name != "flags" or not main:
            header.add_comment(f"{flag_.field.name} bit {flag_.bit} ({flag_.value}): {name}: {flag_.help_text or ''}")


def _place_category_cards(path, categories, extension=1):
    """Put each category card just before its group's ``TTYPEn`` card.

    Astropy rewrites the column keywords in order when it writes a table, pushing any card
    between them to the end, so the cards are moved in the written file: a permutation of
    80-byte cards inside the header, which leaves its size and the data untouched.

    :param categories: ``(text, column number)`` pairs (numbers from 1).
    """
    if not categories:
        return
    with fits.open(path) as hdul:
        info = hdul.fileinfo(extension)
        start, stop = info["hdrLoc"], info["datLoc"]
    with open(path, "r+b") as fp:
        fp.seek(start)
        raw = fp.read(stop - start)
        cards = [raw[i : i + 80] for i in range(0, len(raw), 80)]
        blank = " " * 8
        moved = {}
        for text, index in categories:
            card = fits.Card("", text).image.encode("ascii")
            if card in cards and card.startswith(blank.encode()):
                cards.remove(card)
                moved[index] = card
        out = []
        for card in cards:
            match = card[:8].decode("ascii").strip()
            if match.startswith("TTYPE") and match[5:].isdigit() and int(match[5:]) in moved:
                out.append(moved.pop(int(match[5:])))
            out.append(card)
        out.extend(moved.values())
        fp.seek(start)
        fp.write(b"".join(out))


def _fitting_comment(keyword, value, comment):
    """``comment`` cut to what fits on the card beside ``value`` (astropy would warn and cut it)."""
    image = fits.Card(keyword, value).image.rstrip()
    if len(image) > 80:  # a long string continues on CONTINUE cards, which carry the comment
        return comment
    return comment[: max(0, 80 - len(image) - 3)]


def refuse_existing(path, overwrite):
    """Raise unless ``path`` is free or may be replaced.

    :param path: the product's path.
    :param overwrite: whether an existing file may be replaced.
    :raises FileExistsError: naming the file and how to replace it.
    """
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; use --overwrite (overwrite=True) to replace it")


def write_table(path, primary_cards, columns, extname, flags=None, categories=(), comments=(), overwrite=False):
    """Write a product: a primary HDU of cards and one binary table, atomically.

    :param path: the output path (missing directories are created); a name ending in ``.gz``
        is written gzip-compressed, as SDSS ships its ``.fits.gz`` products.
    :param primary_cards: ``(keyword, value, comment)`` cards of the primary header, in order.
    :param columns: ``(name, field, values)`` of each column, in order (``values`` a
        :func:`typed_array`, or a list of values).
    :param extname: the table HDU's ``EXTNAME``.
    :param flags: named flags to describe (see :func:`describe_columns`).
    :param categories: ``(text, column name)`` pairs: a category card before that column.
    :param comments: ``COMMENT`` cards of the primary header.
    :param overwrite: replace an existing file.
    :raises FileExistsError: if ``path`` exists and ``overwrite`` is false.
    :returns: the absolute path.
    """
    table = TableHDU(extname, columns, flags=flags, categories=categories)
    return write_tables(path, primary_cards, [table], comments=comments, overwrite=overwrite)


@dataclasses.dataclass
class TableHDU:
    """One binary-table HDU of a product, for :func:`write_tables`.

    :param extname: its ``EXTNAME``.
    :param columns: ``(name, field, values)`` of each column, in order.
    :param cards: ``(keyword, value, comment)`` cards of its header (``INSTRMNT``, ...).
    :param flags: named flags to describe (see :func:`describe_columns`).
    :param categories: ``(text, column name)`` pairs: a category card before that column.
    """

    extname: str
    columns: list
    cards: list = dataclasses.field(default_factory=list)
    flags: object = None
    categories: tuple = ()


def _table_hdu(spec):
    """The astropy HDU of a :class:`TableHDU`, and its category cards' ``(text, column number)``."""
    # character_as_bytes: the text columns are already ASCII bytes; without it astropy decodes
    # them to str and encodes them again on writing, which was most of the time of a product.
    table = fits.BinTableHDU.from_columns(
        [fits_column(f, v, name=n) for n, f, v in spec.columns], name=spec.extname, character_as_bytes=True
    )
    for keyword, value, comment in spec.cards:
        table.header[keyword] = (value, _fitting_comment(keyword, value, comment))
    describe_columns(table, [f for _, f, _ in spec.columns], spec.flags)
    names = [n for n, _, _ in spec.columns]
    placed = []
    for text, first in spec.categories:
        if first in names:
            table.header.append(("", text), end=True)
            placed.append((text, names.index(first) + 1))
    return table, placed


def write_tables(path, primary_cards, tables, comments=(), overwrite=False):
    """Write a product of several table HDUs (one per instrument, as SDSS's are), atomically.

    :param path: the output path (a name ending in ``.gz`` is written gzip-compressed).
    :param primary_cards: ``(keyword, value, comment)`` cards of the primary header, in order.
    :param tables: a :class:`TableHDU` for each table, in HDU order (an empty one keeps its columns).
    :param comments: ``COMMENT`` cards of the primary header.
    :param overwrite: replace an existing file.
    :raises FileExistsError: if ``path`` exists and ``overwrite`` is false.
    :returns: the absolute path.
    """
    path = os.path.abspath(str(path))
    refuse_existing(path, overwrite)
    hdus, placements = [], []
    for spec in tables:
        table, placed = _table_hdu(spec)
        hdus.append(table)
        placements.append(placed)
    primary = fits.PrimaryHDU()
    for keyword, value, comment in primary_cards:
        primary.header[keyword] = (value, _fitting_comment(keyword, value, comment))
    for text in comments:
        primary.header.add_comment(text[:72])

    def write(target):
        fits.HDUList([primary, *hdus]).writeto(target)
        for extension, placed in enumerate(placements, start=1):
            _place_category_cards(target, placed, extension)

    with atomic_path(path) as temporary:
        if not path.endswith(".gz"):
            write(temporary)
            return path
        plain = f"{temporary}-plain"  # carries the temporary marker too: cleaned up like it
        try:
            write(plain)
            with open(plain, "rb") as source, gzip.open(temporary, "wb", compresslevel=6) as target:
                shutil.copyfileobj(source, target, 1 << 20)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(plain)
    return path
