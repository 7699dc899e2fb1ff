"""Summary FITS products: one binary table row per result in a results table.

:func:`create_summary` (what ``astra create`` runs) reads the rows with one query through the
database cursor (no model instances), builds one numpy array per column and writes

* HDU 0: a primary header naming the model, table, Astra version, row count and filters;
* HDU 1: a binary table whose ``TTYPEn`` comments are the fields' help text, ``TUNITn`` their
  units, a blank-keyword card with each ``#>`` category header just before the group's first
  ``TTYPEn``, and for each flag a ``FLAG<bit>`` card (``FLAG0 = 'flag_failed'``) with its meaning
  (flags of a second bit-field column are described in ``COMMENT`` cards).

Missing values: NaN for floats, ``TNULLn`` (the smallest integer) for integers, empty text for
text. Array columns (:class:`~astra.database.fields.ArrayField`) become variable-length arrays.
The file is written atomically and is not overwritten unless asked.
"""

import datetime
import json
import os

import numpy as np
import peewee
from astropy.io import fits

import astra
import astra.config
from astra.database.connection import get_database
from astra.database.fields import BitField
from astra.database.migrations import ensure_table
from astra.targets import atomic_path

__all__ = ["create_summary", "default_summary_path", "summary_columns"]

#: TNULL of 64-bit integer columns: the value that means "missing".
INT_NULL = np.iinfo(np.int64).min


def product_name(model):
    """The product's base name, ``astraAll<Name>`` (``Name`` without a ``Result`` suffix)."""
    name = model.__name__
    if name.endswith("Result") and len(name) > 6:
        name = name[:-6]
    return f"astraAll{name}"


def default_summary_path(model):
    """``<output_dir>/products/astraAll<Name>-<major>.<minor>.fits``.

    :param model: a results model.
    """
    major, minor = astra.version_info()
    return os.path.join(astra.config.get("output_dir"), "products", f"{product_name(model)}-{major}.{minor}.fits")


def _kind(field):
    if getattr(field, "is_array", False):
        return "array"
    if isinstance(field, BitField):
        return "int"
    if isinstance(field, peewee.BooleanField):
        return "bool"
    if isinstance(field, (peewee.FloatField, peewee.DecimalField)):
        return "float"
    if isinstance(field, peewee.IntegerField):
        return "int"
    if isinstance(field, (peewee.DateTimeField, peewee.DateField)):
        return "datetime"
    return "text"


def summary_columns(model):
    """The fields written to the summary table, in model order (``id`` left out)."""
    return [f for f in model._meta.sorted_fields if f.name != "id"]



def _none_mask(values):
    array = np.array(values, dtype=object)
    return array, np.equal(array, None)


def _column(field, values):
    kind = _kind(field)
    unit = getattr(field, "unit", None)
    name = field.column_name
    if kind == "float":
        array, missing = _none_mask(values)
        array[missing] = np.nan
        return fits.Column(name=name, format="D", unit=unit, array=array.astype(np.float64))
    if kind == "int":
        array, missing = _none_mask(values)
        array[missing] = INT_NULL
        null = INT_NULL if missing.any() else None
        return fits.Column(name=name, format="K", unit=unit, null=null, array=array.astype(np.int64))
    if kind == "bool":
        array, missing = _none_mask(values)
        array[missing] = False
        return fits.Column(name=name, format="L", unit=unit, array=array.astype(bool))
    if kind == "array":
        arrays = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            items = json.loads(value) if isinstance(value, str) else (value or [])
            arrays[i] = np.array([np.nan if v is None else v for v in items], dtype=np.float64)
        return fits.Column(name=name, format="PD()", unit=unit, array=arrays)
    if kind == "datetime":
        values = [v.isoformat(" ") if isinstance(v, datetime.datetime) else v for v in values]
    texts = ["" if v is None else str(v) for v in values]
    if not "".join(texts).isascii():  # FITS text is ASCII
        texts = [t.encode("ascii", "replace").decode("ascii") for t in texts]
    array = np.array(texts, dtype="S")
    width = max(1, array.dtype.itemsize)
    return fits.Column(name=name, format=f"{width}A", unit=unit, array=array)


def _query(model, filters, where, all_versions):
    query = model.select(*summary_columns(model)).order_by(model._meta.primary_key)
    if not all_versions:
        major, minor = astra.version_info()
        if "v_astra_major_minor" in model._meta.fields:  # a PipelineOutputMixin model
            query = query.where(model.v_astra_major_minor == f"{major}.{minor}")
        else:
            query = query.where((model.astra_version_major == major) & (model.astra_version_minor == minor))
    for key, value in (filters or {}).items():
        if key not in model._meta.fields:
            raise ValueError(f"{model.__name__} has no column {key!r} to filter on")
        field = model._meta.fields[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        query = query.where(field.in_([field.adapt(v) for v in values]))
    if where:
        query = query.where(peewee.SQL(f"({where})"))
    return query


def _header_cards(model, hdu, columns):
    header = hdu.header
    names = [f.column_name for f in columns]
    for index, field in enumerate(columns, start=1):
        if field.help_text:
            header.comments[f"TTYPE{index}"] = field.help_text
    flags = model.flag_fields()
    main = [f for f in flags.values() if f.field.name == "flags"]
    last = f"TFORM{len(columns)}"
    for name, flag_ in flags.items():
        if flag_.field.name == "flags" and flag_.bit < 100:
            header.insert(last, (f"FLAG{flag_.bit}", name, (flag_.help_text or "")[:47]), after=True)
            last = f"FLAG{flag_.bit}"
    for name, flag_ in flags.items():
        if flag_.field.name != "flags" or not main:
            header.add_comment(f"{flag_.field.name} bit {flag_.bit} ({flag_.value}): {name}: {flag_.help_text or ''}")
    categories = []
    for category, first in model.category_headers():
        if first in names:
            header.append(("", category), end=True)
            categories.append((category, names.index(first) + 1))
    return categories


def _place_category_cards(path, categories, extension=1):
    """Move each category card to just before its group's ``TTYPEn`` card.

    Astropy rewrites the column keywords in order when it writes a table, pushing any card
    between them to the end, so the cards are moved in the written file: a permutation of
    80-byte cards inside the header, which leaves its size and the data untouched.
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


def create_summary(model, path=None, overwrite=False, filters=None, where=None, all_versions=False, db=None):
    """Write the summary FITS table of ``model``'s results.

    :param model: a results model (a :class:`~astra.database.models.BaseResult` subclass).
    :param path: output path (default :func:`default_summary_path`).
    :param overwrite: replace an existing file.
    :param filters: column name to value (or list of values), e.g. ``{"release": "dr17"}``.
    :param where: an extra SQL condition on the table's columns, e.g. ``"snr > 10"``.
    :param all_versions: include results of every Astra major.minor (default: this one).
    :param db: the database (default: the bound one).
    :returns: ``(path, number of rows)``.
    :raises FileExistsError: if ``path`` exists and ``overwrite`` is false.
    """
    path = os.path.abspath(path or default_summary_path(model))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; use --overwrite (overwrite=True) to replace it")
    db = db if db is not None else get_database()
    ensure_table(model, db=db)
    columns = summary_columns(model)
    with model.bind_ctx(db, bind_refs=False, bind_backrefs=False):
        query = _query(model, filters, where, all_versions)
        sql, params = query.sql()
        cursor = db.execute_sql(sql, params)
        rows = cursor.fetchall()
    by_column = list(zip(*rows)) if rows else [()] * len(columns)
    table = fits.BinTableHDU.from_columns(
        [_column(field, list(values)) for field, values in zip(columns, by_column)], name=product_name(model).upper()
    )
    categories = _header_cards(model, table, columns)
    primary = fits.PrimaryHDU()
    major, minor = astra.version_info()
    primary.header["ASTRA"] = (astra.__version__, "Astra version that wrote this file")
    primary.header["V_ASTRA"] = (f"{major}.{minor}", "Astra major.minor of the results")
    primary.header["MODEL"] = (model.__name__, "Results model")
    primary.header["TABLE"] = (model._meta.table_name, "Results table")
    primary.header["NROWS"] = (len(rows), "Number of results")
    primary.header["CREATED"] = (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "UTC")
    if all_versions:
        primary.header.add_comment("Results of every Astra major.minor version")
    for key, value in (filters or {}).items():
        primary.header.add_comment(f"Filter: {key} = {value}")
    if where:
        primary.header.add_comment(f"Filter: {where}"[:72])
    with atomic_path(path) as temporary:
        fits.HDUList([primary, table]).writeto(temporary)
        _place_category_cards(temporary, categories)
    return path, len(rows)


