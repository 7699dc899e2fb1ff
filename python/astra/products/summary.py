"""Summary FITS products: one binary table row per result in a results table.

:func:`create_summary` (what ``astra create`` runs) reads the rows with one query through the
database cursor (no model instances), builds one numpy array per column and writes

* HDU 0: a primary header naming the model, table, Astra version, row count and filters;
* HDU 1: a binary table whose ``TTYPEn`` comments are the fields' help text, ``TUNITn`` their
  units, a blank-keyword card with each ``#>`` category header just before the group's first
  ``TTYPEn``, and for each flag a ``FLAG<bit>`` card (``FLAG0 = 'flag_failed'``) with its meaning
  (flags of a second bit-field column are described in ``COMMENT`` cards).

Missing values: NaN for floats, ``TNULLn`` (the smallest integer) for integers, empty text for
text. Array columns (:class:`~astra.fields.ArrayField`) become variable-length arrays.
The file is written atomically and is not overwritten unless asked.
"""

import os

import peewee

import astra.config
from astra.database.connection import get_database
from astra.database.migrations import ensure_table
from astra.products.fits_table import (CREATED_COMMENT, INT_NULL, TableHDU, fetch_arrays, refuse_existing, utc_timestamp,
                                       write_tables)
from astra.provenance.table import provenance_hdu_columns, referenced_records
from astra.version import __version__, version_info

__all__ = ["create_summary", "default_summary_path", "summary_columns", "product_name", "INT_NULL"]


def product_name(model):
    """The product's base name, ``astraAll<Name>`` (``Name`` without a ``Result`` suffix)."""
    return f"astraAll{model_display_name(model)}"


def model_display_name(model):
    """A results model's name in product names: the class name without a ``Result`` suffix."""
    name = model.__name__
    if name.endswith("Result") and len(name) > 6:
        name = name[:-6]
    return name


def default_summary_path(model):
    """``<output_dir>/products/astraAll<Name>-<major>.<minor>.fits``.

    :param model: a results model.
    """
    major, minor = version_info()
    return os.path.join(astra.config.get("output_dir"), "products", f"{product_name(model)}-{major}.{minor}.fits")


def summary_columns(model):
    """The fields written to the summary table, in model order (``id`` left out)."""
    return [f for f in model._meta.sorted_fields if f.name != "id"]


def version_condition(model):
    """The condition "this row was written by this Astra major.minor" on a results model.

    :param model: a :class:`~astra.models.pipeline.PipelineOutputMixin` or
        :class:`~astra.database.models.BaseResult` model.
    """
    major, minor = version_info()
    if "v_astra_major_minor" in model._meta.fields:  # a PipelineOutputMixin model
        return model.v_astra_major_minor == f"{major}.{minor}"
    return (model.astra_version_major == major) & (model.astra_version_minor == minor)


def _query(model, filters, where, all_versions):
    query = model.select(*summary_columns(model)).order_by(model._meta.primary_key)
    if not all_versions:
        query = query.where(version_condition(model))
    for key, value in (filters or {}).items():
        if key not in model._meta.fields:
            raise ValueError(f"{model.__name__} has no column {key!r} to filter on")
        field = model._meta.fields[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        query = query.where(field.in_([field.adapt(v) for v in values]))
    if where:
        query = query.where(peewee.SQL(f"({where})"))
    return query


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
    refuse_existing(path, overwrite)
    db = db if db is not None else get_database()
    ensure_table(model, db=db)
    columns = summary_columns(model)
    with model.bind_ctx(db, bind_refs=False, bind_backrefs=False):
        count, values = fetch_arrays(db, _query(model, filters, where, all_versions), columns)
    major, minor = version_info()
    cards = [
        ("ASTRA", __version__, "Astra version that wrote this file"),
        ("V_ASTRA", __version__, "Astra version"),
        ("V_RESULT", f"{major}.{minor}", "Astra major.minor of the results"),
        ("MODEL", model.__name__, "Results model"),
        ("TABLE", model._meta.table_name, "Results table"),
        ("NROWS", count, "Number of results"),
        ("CREATED", utc_timestamp(), CREATED_COMMENT),
    ]
    comments = ["Results of every Astra major.minor version"] if all_versions else []
    comments += [f"Filter: {key} = {value}" for key, value in (filters or {}).items()]
    if where:
        comments.append(f"Filter: {where}")
    tables = [TableHDU(product_name(model).upper(), [(f.column_name, f, v) for f, v in zip(columns, values)],
                       flags=model.flag_fields(), categories=model.category_headers())]
    names = [f.name for f in columns]
    records = referenced_records(values[names.index("provenance_pk")], db=db) if "provenance_pk" in names else {}
    if records:  # how each row was made: one row per distinct record, in an HDU after the table
        tables.append(TableHDU("PROVENANCE", provenance_hdu_columns(records)))
    write_tables(path, cards, tables, comments=comments, overwrite=overwrite)
    return path, count
