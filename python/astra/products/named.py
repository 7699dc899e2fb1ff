"""Writing the named products: :func:`create_product` (what ``astra create <name>`` runs).

``astraAllStar<Method>`` / ``astraAllVisit<Method>`` hold a method's results on the star-level
or visit catalogue tables, one row per result, with the source's identifiers and the
spectrum's data-model keys joined on; ``mwmAllStar`` / ``mwmAllVisit`` hold the catalogue's
star-level or visit spectra themselves (see :mod:`astra.products.names` for the names and
:mod:`astra.products.layout` for the columns). Any other name is a results model's plain
summary (:func:`~astra.products.summary.create_summary`).

Each catalogue table of the product is read with one query (the results joined to the table
and to the sources) through the database cursor, a chunk of rows at a time, into one typed
numpy array per column (:func:`~astra.products.fits_table.fetch_arrays`); the tables' arrays
are joined, put in ``spectrum_pk`` order and written by
:func:`~astra.products.fits_table.write_table`. Nothing is done per row but converting its
values, so the time per row does not grow with the number of rows, and the memory is that of
the arrays.

The primary header has ``ASTRA`` (the version that wrote the file), ``V_ASTRA`` (the
major.minor of the results), ``PRODUCT``, ``RELEASE`` (the release asked for, or the releases
of the rows), ``CREATED`` (UTC), ``NROWS``, ``MODIFIED`` (the latest ``modified`` time of a row:
a result's for a method product, a spectrum's for a catalogue product), ``TABLES`` (the
catalogue tables), for a method product ``MODEL`` and ``TABLE`` (its results model and table),
and the filters as ``COMMENT`` cards.
"""

import contextlib
import os

import numpy as np
import peewee

import astra
from astra.database.connection import get_database
from astra.database.migrations import ensure_table
from astra.models.source import Source
from astra.products.fits_table import fetch_arrays, missing_array, refuse_existing, typed_array, utc_timestamp, write_table
from astra.products.layout import level_tables, product_columns
from astra.products.names import Product, product_path, resolve_product
from astra.products.summary import create_summary, model_display_name, version_condition

__all__ = ["create_product", "product_is_current", "other_level_hint"]


def _listed(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _filters(filters, release):
    out = {key: _listed(value) for key, value in (filters or {}).items() if _listed(value)}
    if release is not None:
        out["release"] = sorted(set(out.get("release", [])) | set(_listed(release)))
    return out


def _check_filters(product, filters, columns):
    names = [c.name for c in columns]
    for key in filters:
        if key not in names:
            raise ValueError(f"{product.name} has no column {key!r} to filter on (columns: {', '.join(names)})")


def _table_query(product, table, columns, filters, where, all_versions):
    """The query of ``table``'s rows of the product, and each column's place in it.

    :returns: ``(query, places)``, where a place is an index into the selected expressions,
        ``"table"``, or ``None`` (no such column in this table); ``(None, None)`` when a filter
        rules the whole table out.
    """
    model = product.model
    selected, places = [], []
    for column in columns:
        expression = column.expression(table) if column.source is not None else getattr(model, column.field.name)
        if expression is None or isinstance(expression, str):
            places.append(expression)
        else:
            places.append(len(selected))
            selected.append(expression)
    if model is not None:
        query = (
            model.select(*selected)
            .join(table, on=(table.spectrum_pk == model.spectrum_pk))
            .join(Source, peewee.JOIN.LEFT_OUTER, on=(table.source == Source.pk))
            .order_by(model.spectrum_pk, model.task_pk)
        )
        if not all_versions:
            query = query.where(version_condition(model))
        if where:
            query = query.where(model.task_pk.in_(model.select(model.task_pk).where(peewee.SQL(f"({where})"))))
    else:
        query = (
            table.select(*selected)
            .join(Source, peewee.JOIN.LEFT_OUTER, on=(table.source == Source.pk))
            .order_by(table.spectrum_pk)
        )
        if where:
            query = query.where(table.spectrum_pk.in_(table.select(table.spectrum_pk).where(peewee.SQL(f"({where})"))))
    by_name = {c.name: (c, p) for c, p in zip(columns, places)}
    for key, values in filters.items():
        column, place = by_name[key]
        if place is None:
            return None, None  # no row of this table has the value
        if place == "table":
            if table.__name__ not in values:
                return None, None
            continue
        query = query.where(selected[place].in_([column.field.adapt(v) for v in values]))
    return query, places


def _table_queries(product, tables, columns, filters, where, all_versions, db):
    """``(table, query, places)`` of each catalogue table with rows that may be in the product.

    Tables not in the database, and tables a filter rules out, are left out (all of them when
    the results table does not exist). The models are bound to ``db`` while the caller iterates.
    """
    models = [Source, *tables] + ([product.model] if product.model is not None else [])
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        if product.model is not None and not db.table_exists(product.model._meta.table_name):
            return
        for table in tables:
            if not db.table_exists(table._meta.table_name):
                continue
            query, places = _table_query(product, table, columns, filters, where, all_versions)
            if query is not None:
                yield table, query, places


def _rows(product, tables, columns, filters, where, all_versions, db):
    """Every row of the product, as one typed array per column, in ``spectrum_pk`` order."""
    parts = [[] for _ in columns]
    queries = _table_queries(product, tables, columns, filters, where, all_versions, db)
    with contextlib.closing(queries):  # unbinds the models at once, also after an error
        for table, query, places in queries:
            fields = [c.field for c, p in zip(columns, places) if isinstance(p, int)]
            try:
                count, fetched = fetch_arrays(db, query, fields)
            except peewee.DatabaseError as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ValueError(f"{table.__name__}: {first}") from None
            for part, column, place in zip(parts, columns, places):
                if place == "table":
                    part.append(np.full(count, table.__name__.encode("ascii")))
                elif place is None:
                    part.append(missing_array(column.field, count))
                else:
                    part.append(fetched[place])
    values = [np.concatenate(part) if part else typed_array(c.field, []) for part, c in zip(parts, columns)]
    keys = values[[c.name for c in columns].index("spectrum_pk")]
    if (np.diff(keys) < 0).any():  # several tables: merge (stable: versions keep their order)
        order = np.argsort(keys, kind="stable")
        values = [array[order] for array in values]
    return values


def _selection_comments(filters, where, all_versions):
    """The ``COMMENT`` cards that say which rows a product holds (as they are written)."""
    comments = ["Results of every Astra major.minor version"] if all_versions else []
    comments += [f"Filter: {key} = {', '.join(map(str, value))}" for key, value in filters.items()]
    if where:
        comments.append(f"Filter: {where}")
    return [text[:72] for text in comments]


def _latest(values):
    """The latest of the ``MAX(modified)`` values of the tables, as text (as a product writes it)."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    latest = max(present)
    return latest.isoformat(" ") if hasattr(latest, "isoformat") else str(latest)


def create_product(
    name, path=None, *, method=None, overwrite=False, release=None, filters=None, where=None, all_versions=False,
    db=None,
):
    """Write a named product (or a results model's plain summary) and return where.

    ::

        from astra.products import create_product

        path, n = create_product("astraAllStarRocketSNR", overwrite=True)
        path, n = create_product("mwmAllVisit", release="dr17")
        path, n = create_product("astraAllVisit", method="mymethods.mean_snr")

    :param name: ``astraAllStar<Method>``, ``astraAllVisit<Method>``, ``mwmAllStar``,
        ``mwmAllVisit``, or a results model's name or dotted path (see
        :func:`~astra.products.names.resolve_product`).
    :param path: the output file (default :func:`~astra.products.names.product_path`:
        ``<output_dir>/products/[<release>/]<name>-<major>.<minor>.fits``).
    :param method: the method of a bare ``astraAllStar``/``astraAllVisit``: a dotted path, a
        registered name, a ``@task`` or a results model.
    :param overwrite: replace an existing file (without it an existing file is refused before
        anything is read).
    :param release: keep the rows of this release (or list of releases); one release puts the
        default path in that release's directory.
    :param filters: product column name to a value or list of values, e.g.
        ``{"telescope": "apo25m"}``: a table without that column contributes no rows.
    :param where: an SQL condition on the results table's columns (a method product) or on each
        catalogue table's (a catalogue product), e.g. ``"snr > 10"``.
    :param all_versions: include results of every Astra major.minor (method products and
        summaries; default this one).
    :param db: the database (default the configured one).
    :returns: ``(absolute path, number of rows)``.
    :raises LookupError: for a name that names no product (with a "did you mean").
    :raises FileExistsError: if the file exists and ``overwrite`` is false.
    :raises ValueError: for a filter on a column the product does not have, or a ``where``
        the database refuses (naming the table).
    """
    product = name if isinstance(name, Product) else resolve_product(name, method)
    if product.kind == "summary":
        return create_summary(product.model, path, overwrite=overwrite, filters=_filters(filters, release),
                              where=where, all_versions=all_versions, db=db)
    product, filters, path = _prepare(product, path, method, release, filters, all_versions)
    releases = filters.get("release", [])
    refuse_existing(path, overwrite)
    db = db if db is not None else get_database()
    tables = level_tables(product.level)
    columns = product_columns(tables, product.model)
    _check_filters(product, filters, columns)
    if product.model is not None:
        ensure_table(product.model, db=db)
    values = _rows(product, tables, columns, filters, where, all_versions, db)
    names = [c.name for c in columns]
    count = len(values[0])
    major, minor = astra.version_info()
    row_releases = ",".join(releases) or ",".join(r.decode() for r in np.unique(values[names.index("release")]) if r)
    latest = max(values[names.index("modified")].tolist(), default=b"").decode()
    cards = [
        ("ASTRA", astra.__version__, "Astra version that wrote this file"),
        ("V_ASTRA", f"{major}.{minor}", "Astra major.minor of the results"),
        ("PRODUCT", product.name, "Product name"),
        ("RELEASE", row_releases, "SDSS data release(s) of the rows"),
        ("CREATED", utc_timestamp(), "When this file was written (UTC)"),
        ("NROWS", count, "Number of rows"),
        ("MODIFIED", latest, "Latest change of a row (UTC)"),
        ("TABLES", ",".join(t.__name__ for t in tables), "Catalogue tables"),
    ]
    if product.model is not None:
        cards += [
            ("MODEL", product.model.__name__, "Results model"),
            ("TABLE", product.model._meta.table_name, "Results table"),
        ]
    comments = _selection_comments(filters, where, all_versions)
    flags = product.model.flag_fields() if product.model is not None else None
    write_table(
        path, cards, [(c.name, c.field, v) for c, v in zip(columns, values)], product.name.upper(), flags=flags,
        categories=[(c.category, c.name) for c in columns if c.category], comments=comments, overwrite=overwrite,
    )
    return path, count


def _prepare(name, path, method, release, filters, all_versions):
    """The product, its filters and its path, as :func:`create_product` works them out."""
    product = name if isinstance(name, Product) else resolve_product(name, method)
    filters = _filters(filters, release)
    if all_versions and product.kind == "catalogue":
        raise ValueError(f"{product.name} holds the catalogue, which has no versions (all_versions is for results)")
    releases = filters.get("release", [])
    path = os.path.abspath(os.fspath(path or product_path(product, releases[0] if len(releases) == 1 else None)))
    return product, filters, path


def product_is_current(
    name, path=None, *, method=None, release=None, filters=None, where=None, all_versions=False, db=None,
):
    """Whether the product file at ``path`` already holds what :func:`create_product` would write.

    It is current when it was written by this Astra version for the same selection (filters,
    ``where``, versions) and its ``NROWS`` and ``MODIFIED`` cards equal the number of rows and the
    latest ``modified`` time the database has now (one aggregate query per catalogue table, no
    rows read). A new, changed or deleted result or spectrum makes it out of date. A step that
    runs daily (``astra daily``) can skip a product that is current. Plain summaries are never
    reported current (they have no ``MODIFIED`` card).

    :param name: as for :func:`create_product`; the other parameters too.
    :returns: ``False`` when the file is missing, unreadable or out of date.
    """
    from astropy.io import fits

    product, filters, path = _prepare(name, path, method, release, filters, all_versions)
    if product.kind == "summary" or not os.path.exists(path):
        return False
    try:
        header = fits.getheader(path, 0)
    except (OSError, ValueError):
        return False
    major, minor = astra.version_info()
    comments = [str(c) for c in header.get("COMMENT", [])]
    if (header.get("ASTRA"), header.get("PRODUCT"), header.get("V_ASTRA")) != (
        astra.__version__, product.name, f"{major}.{minor}"
    ) or comments != _selection_comments(filters, where, all_versions):
        return False
    count, latest = _count_and_latest(product, filters, where, all_versions, db)
    return header.get("NROWS") == count and header.get("MODIFIED") == latest


def _count_and_latest(product, filters, where, all_versions, db=None):
    """The number of rows a product would hold and their latest ``modified`` time (as text).

    One aggregate query per catalogue table; no rows are read.
    """
    db = db if db is not None else get_database()
    tables = level_tables(product.level)
    columns = product_columns(tables, product.model)
    _check_filters(product, filters, columns)
    count, latest = 0, []
    queries = _table_queries(product, tables, columns, filters, where, all_versions, db)
    with contextlib.closing(queries):
        for table, query, _ in queries:
            modified = (product.model or table).modified
            query = query.select(peewee.fn.COUNT(peewee.SQL("*")), peewee.fn.MAX(modified)).order_by()
            sql, params = query.sql()
            n, last = db.execute_sql(sql, params).fetchone()
            count += n
            latest.append(last)
    return count, _latest(latest)


def other_level_hint(name, *, method=None, release=None, filters=None, where=None, all_versions=False, db=None):
    """For an empty method product: a note naming the other level's product if it has rows.

    Seed 001 runs a method over visit spectra and then writes ``astraAllStar<Method>``; here
    that product holds the results on star-level spectra only, so it is empty, and this says
    where the results are.

    :param name: a method product's name (as for :func:`create_product`).
    :returns: e.g. ``"RocketSNR has 42 results on visit spectra: astra create astraAllVisitRocketSNR"``,
        or ``""`` when there is nothing to say.
    """
    from astra.products.names import LEVELS, PRODUCT_PREFIXES

    product = name if isinstance(name, Product) else resolve_product(name, method)
    if product.kind != "method":
        return ""
    other = next(level for level in LEVELS if level != product.level)
    prefix = next(p for p, level in PRODUCT_PREFIXES.items() if level == other)
    twin = Product(prefix + model_display_name(product.model), "method", other, product.model)
    try:
        count, _ = _count_and_latest(twin, _filters(filters, release), where, all_versions, db)
    except (ValueError, peewee.DatabaseError):  # a filter or condition the other level cannot take
        return ""
    if not count:
        return ""
    return f"{product.model.__name__} has {count} results on {other} spectra: astra create {twin.name}"
