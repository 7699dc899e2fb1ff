"""Writing the named products: :func:`create_product` (what ``astra create`` runs).

``astraAllStar<Method>`` holds a method's results on the star-level catalogue tables, **one row
per source**; ``astraAllVisit<Method>`` its results on the visit tables, one row per result
(a visit spectrum under one Astra major.minor). Both have the source's identifiers and the
spectrum's data-model keys joined on. ``mwmAllStar`` holds the catalogue's star-level spectra,
one row per source, and ``mwmAllVisit`` every visit spectrum (see :mod:`astra.products.names`
for the names and :mod:`astra.products.layout` for the columns). Any other name is a results
model's plain summary (:func:`~astra.products.summary.create_summary`).

**One HDU per instrument**, as the SDSS datamodel lists them (:mod:`astra.products.hdus`):
``astraAllStar<Method>`` and ``astraAllVisit<Method>`` have HDU 1 ``BOSS`` and HDU 2 ``APOGEE``;
``mwmAllStar`` and ``mwmAllVisit`` HDU 1 ``BOSS/APO``, 2 ``BOSS/LCO``, 3 ``APOGEE/APO``, 4
``APOGEE/LCO``. HDU 0 is a summary (no data). Each table HDU has the cards ``INSTRMNT``,
``OBSRVTRY`` (where split by observatory), ``PIPELINE`` (method products), ``V_ASTRA`` (the
full Astra version, as SDSS writes it), ``V_RESULT`` (the major.minor of the results),
``CREATED`` (UTC, SDSS's ``%y-%m-%d %H:%M:%S``) and ``NROWS``, its columns their units (``TUNITn``); an HDU without rows is written
with its columns. A source with BOSS and APOGEE spectra is in both HDUs.

**One row per source** (:data:`PER_SOURCE_RULE`), chosen within an HDU, never across them. A source can have several star-level
spectra (apStar files from two telescopes, an apStar and an aspcapStar, an mwmStar), and a
method a result on each. Of the rows the selection keeps (filters, ``where``, version), the
star-level product writes, for each source, the one whose spectrum has the highest ``snr``
(a missing S/N counts as the lowest), then the highest ``spectrum_pk`` (the most recently
ingested spectrum), then the highest ``task_pk`` (the latest result). The ``n_star_spectra``
column says how many star-level spectra the row was chosen from, the ``ROWS`` and ``CHOSEN``
cards say the rule. A spectrum linked to no source counts as a source of its own. With
``all_versions`` a source has one row per Astra major.minor.

Each catalogue table of the product is read with one query (the results joined to the table
and to the sources) through the database cursor, a chunk of rows at a time, into one typed
numpy array per column (:func:`~astra.products.fits_table.fetch_arrays`); the tables' arrays
are joined, one row per source is picked with one sort of the arrays (:func:`one_per_source`:
the tables differ in their columns, so the choice across them is made on the arrays, not in
SQL), put in ``spectrum_pk`` order and written by
:func:`~astra.products.fits_table.write_table`. Nothing is done per row but converting its
values, so the time per row does not grow with the number of rows, and the memory is that of
the arrays.

The primary header has ``ASTRA`` (the version that wrote the file), ``PIPELINE`` (the method's
name, method products), ``V_ASTRA`` (the full Astra version), ``V_RESULT`` (the
major.minor of the results), ``PRODUCT``, ``RELEASE`` (the release asked for, or the releases
of the rows), ``CREATED`` (UTC), ``NROWS``, ``ROWS`` (one per source, result or spectrum),
``MODIFIED`` (the latest ``modified`` time of a row it was chosen from: a result's for a method
product, a spectrum's for a catalogue product), for a star-level product ``CHOSEN`` (the rule)
and ``NCANDID`` (the rows it was chosen from), ``TABLES`` (the catalogue tables), for a method
product ``MODEL`` and ``TABLE`` (its results model and table), ``COMMENT`` cards naming each
HDU (``HDU 1: BOSS spectra``), and the filters as ``COMMENT`` cards.
"""

import contextlib
import os

import numpy as np
import peewee

from astra.database.connection import get_database
from astra.database.migrations import ensure_table
from astra.models.source import Source
from astra.products.fits_table import (
    CREATED_COMMENT, INT_NULL, TableHDU, fetch_arrays, missing_array, refuse_existing, typed_array, utc_timestamp,
    write_tables,
)
from astra.products.hdus import hdu_condition, product_hdus
from astra.products.layout import level_tables, product_columns, role_index
from astra.products.names import LEVELS, Product, PRODUCT_PREFIXES, product_path, resolve_product
from astra.products.summary import create_summary, model_display_name, version_condition
from astra.version import __version__, version_info

__all__ = ["create_product", "product_is_current", "other_level_hint", "one_per_source", "PER_SOURCE_RULE"]

#: How a star-level product picks a source's row (the ``CHOSEN`` card).
PER_SOURCE_RULE = "highest spectrum snr, then highest spectrum_pk, then task_pk"


def _per_source(product):
    """Whether ``product`` has one row per source (the star level)."""
    return product.level == "star"


def _group_key(source, spectrum_pk):
    """A source's key; a spectrum with no source is a source of its own (``-spectrum_pk``)."""
    return np.where(source == INT_NULL, -spectrum_pk, source)


def one_per_source(values, columns, all_versions=False):
    """The rows of a star-level product: one per source (per version, with ``all_versions``).

    Each source's row is the one :data:`PER_SOURCE_RULE` picks; its ``n_star_spectra`` is set
    to the number of distinct spectra the source's rows came from. One sort of the arrays.

    :param values: one array per column of ``columns`` (every candidate row).
    :param columns: the product's :class:`~astra.products.layout.ProductColumn` list.
    :param all_versions: keep one row per source and ``v_astra_major_minor``.
    :returns: the chosen rows' arrays (in ``spectrum_pk`` order).
    """
    names = [c.name for c in columns]
    spectrum_pk = values[names.index("spectrum_pk")]
    key = _group_key(values[names.index("source_pk")], spectrum_pk)
    snr = values[role_index(columns, "rank")].astype(np.float64)
    snr = np.where(np.isnan(snr), -np.inf, snr)
    sort_keys = [-spectrum_pk, -snr, key]  # np.lexsort: the last key sorts first
    if "task_pk" in names:
        sort_keys.insert(0, -values[names.index("task_pk")])
    version = np.zeros(len(key), dtype=np.int64)
    if all_versions and "v_astra_major_minor" in names:
        version = np.unique(values[names.index("v_astra_major_minor")], return_inverse=True)[1].reshape(-1)
        sort_keys.append(version)
    order = np.lexsort(sort_keys)
    key, version, spectrum_pk = key[order], version[order], spectrum_pk[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (key[1:] != key[:-1]) | (version[1:] != version[:-1])
    new_spectrum = first.copy()
    new_spectrum[1:] |= spectrum_pk[1:] != spectrum_pk[:-1]  # a spectrum's rows are next to each other
    starts = np.flatnonzero(first)
    counts = np.add.reduceat(new_spectrum.astype(np.int64), starts) if len(starts) else np.zeros(0, np.int64)
    chosen = order[starts]
    out = [array[chosen] for array in values]
    out[role_index(columns, "count")] = counts
    by_spectrum = np.argsort(out[names.index("spectrum_pk")], kind="stable")
    return [array[by_spectrum] for array in out]


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
        if columns[names.index(key)].source == "computed":
            raise ValueError(f"{product.name}: {key} is counted after the rows are chosen, so it cannot be filtered on")


def _table_query(product, table, columns, filters, where, all_versions, condition=True):
    """The query of ``table``'s rows of the product (those ``condition`` keeps), and each column's place in it.

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
    if condition is not True:
        query = query.where(condition)
    by_name = {c.name: (c, p) for c, p in zip(columns, places)}
    for key, values in filters.items():
        if key not in by_name:
            return None, None  # a column of another HDU: none of this one's rows has the value
        column, place = by_name[key]
        if place is None:
            return None, None  # no row of this table has the value
        if place == "table":
            if table.__name__ not in values:
                return None, None
            continue
        query = query.where(selected[place].in_([column.field.adapt(v) for v in values]))
    return query, places


def _table_queries(product, tables, columns, filters, where, all_versions, db, hdu=None):
    """``(table, query, places)`` of each catalogue table with rows that may be in the product's ``hdu``.

    Tables not in the database, tables of another instrument than the HDU's, and tables a filter
    rules out, are left out (all of them when the results table does not exist). The models are
    bound to ``db`` while the caller iterates.
    """
    models = [Source, *tables] + ([product.model] if product.model is not None else [])
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        if product.model is not None and not db.table_exists(product.model._meta.table_name):
            return
        for table in tables:
            condition = hdu_condition(table, hdu) if hdu is not None else True
            if condition is None or not db.table_exists(table._meta.table_name):
                continue
            query, places = _table_query(product, table, columns, filters, where, all_versions, condition)
            if query is not None:
                yield table, query, places


def _rows(product, tables, columns, filters, where, all_versions, db, hdu=None):
    """Every row of the product's ``hdu``, as one typed array per column, in ``spectrum_pk`` order."""
    parts = [[] for _ in columns]
    queries = _table_queries(product, tables, columns, filters, where, all_versions, db, hdu)
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
                elif place is None or place == "computed":
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
    parts = _hdu_parts(product)
    _check_filters(product, filters, [c for _, _, columns in parts for c in columns])
    if product.model is not None:
        ensure_table(product.model, db=db)
    created = utc_timestamp()
    major, minor = version_info()
    per = "source" if _per_source(product) else ("result" if product.model is not None else "spectrum")
    flags = product.model.flag_fields() if product.model is not None else None
    tables, count, candidates, latest, row_releases = [], 0, 0, [], set()
    for hdu, hdu_tables, columns in parts:
        values = _rows(product, hdu_tables, columns, filters, where, all_versions, db, hdu)
        names = [c.name for c in columns]
        candidates += len(values[0])
        latest.append(max(values[names.index("modified")].tolist(), default=b"").decode())  # of every candidate
        if _per_source(product):
            values = one_per_source(values, columns, all_versions)
        count += len(values[0])
        row_releases |= {r.decode() for r in np.unique(values[names.index("release")]) if r}
        cards = [("INSTRMNT", hdu.instrument, "Instrument")]
        if hdu.observatory:
            cards.append(("OBSRVTRY", hdu.observatory, "Observatory"))
        if product.model is not None:
            cards.append(("PIPELINE", model_display_name(product.model), "Pipeline name"))
        cards += [
            ("V_ASTRA", __version__, "Astra version"),
            ("V_RESULT", f"{major}.{minor}", "Astra major.minor of the results"),
            ("CREATED", created, CREATED_COMMENT),
            ("NROWS", len(values[0]), "Number of rows"),
        ]
        tables.append(TableHDU(
            hdu.extname, [(c.name, c.field, v) for c, v in zip(columns, values)], cards, flags,
            [(c.category, c.name) for c in columns if c.category],
        ))
    cards = [("ASTRA", __version__, "Astra version that wrote this file")]
    if product.model is not None:
        cards.append(("PIPELINE", model_display_name(product.model), "Pipeline name"))
    cards += [
        ("V_ASTRA", __version__, "Astra version"),
        ("V_RESULT", f"{major}.{minor}", "Astra major.minor of the results"),
        ("PRODUCT", product.name, "Product name"),
        ("RELEASE", ",".join(releases) or ",".join(sorted(row_releases)), "SDSS data release(s) of the rows"),
        ("CREATED", created, CREATED_COMMENT),
        ("NROWS", count, "Number of rows (all HDUs)"),
        ("ROWS", f"one per {per}" + (" and version" if all_versions and per == "source" else ""), "What a row is"),
    ]
    if _per_source(product):
        cards += [
            ("CHOSEN", (PER_SOURCE_RULE if product.model is not None else PER_SOURCE_RULE.rsplit(",", 1)[0])
             + " within an HDU", "How a source's row is chosen"),
            ("NCANDID", candidates, "Rows the sources' rows were chosen from"),
        ]
    cards += [
        ("MODIFIED", max(latest, default=""), "Latest change of a row (UTC)"),
        ("TABLES", ",".join(t.__name__ for t in level_tables(product.level)), "Catalogue tables"),
    ]
    if product.model is not None:
        cards += [
            ("MODEL", product.model.__name__, "Results model"),
            ("TABLE", product.model._meta.table_name, "Results table"),
        ]
    comments = _hdu_comments(product) + _selection_comments(filters, where, all_versions)
    write_tables(path, cards, tables, comments=comments, overwrite=overwrite)
    return path, count


def _hdu_parts(product):
    """``(hdu, its catalogue tables, its columns)`` for each table HDU of a product, in HDU order.

    An HDU that no catalogue table can fill has the columns of the product level's tables.
    """
    tables = level_tables(product.level)
    parts = []
    for hdu in product_hdus(product):
        mine = [t for t in tables if hdu_condition(t, hdu) is not None]
        parts.append((hdu, mine, product_columns(mine or tables, product.model)))
    return parts


def _hdu_comments(product):
    """The primary header's ``COMMENT`` cards listing the HDUs, as SDSS's products have them."""
    return ["HDU 0: Summary information only"] + [
        f"HDU {index}: {hdu.description}" for index, hdu in enumerate(product_hdus(product), start=1)
    ]


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
    major, minor = version_info()
    comments = [str(c) for c in header.get("COMMENT", []) if not str(c).startswith("HDU ")]
    if (header.get("ASTRA"), header.get("PRODUCT"), header.get("V_ASTRA"), header.get("V_RESULT")) != (
        __version__, product.name, __version__, f"{major}.{minor}"
    ) or comments != _selection_comments(filters, where, all_versions):
        return False
    count, candidates, latest = _count_and_latest(product, filters, where, all_versions, db)
    if _per_source(product) and header.get("NCANDID") != candidates:
        return False
    return header.get("NROWS") == count and header.get("MODIFIED") == latest


def _count_and_latest(product, filters, where, all_versions, db=None):
    """The rows a product would hold, the rows they are chosen from, and their latest ``modified``.

    One aggregate query per HDU over its catalogue tables (``UNION ALL`` of the tables'
    selections, grouped by source for a star-level product: plain SQL that SQLite and PostgreSQL
    both run); no rows are read.

    :returns: ``(rows, candidate rows, latest modified time as text)``; the first two are equal
        for a visit-level product.
    """
    db = db if db is not None else get_database()
    hdu_parts = _hdu_parts(product)
    _check_filters(product, filters, [c for _, _, columns in hdu_parts for c in columns])
    count = candidates = 0
    latest = []
    for hdu, tables, columns in hdu_parts:
        n, m, last = _count_hdu(product, hdu, tables, columns, filters, where, all_versions, db)
        count, candidates = count + n, candidates + m
        latest.append(last)
    return count, candidates, _latest(latest)


def _count_hdu(product, hdu, tables, columns, filters, where, all_versions, db):
    """:func:`_count_and_latest` of one HDU: ``(rows, candidate rows, latest modified)``."""
    parts = []
    queries = _table_queries(product, tables, columns, filters, where, all_versions, db, hdu)
    with contextlib.closing(queries):
        for table, query, _ in queries:
            modified = (product.model or table).modified
            selected = [modified.alias("m")]
            if _per_source(product):
                selected.append(peewee.fn.COALESCE(table.source, table.spectrum_pk * -1).alias("k"))
                if all_versions and product.model is not None:
                    selected.append(product.model.v_astra_major_minor.alias("v"))
            parts.append(query.select(*selected).order_by())
        if not parts:
            return 0, 0, None
        union = parts[0]
        for part in parts[1:]:
            union = union + part  # UNION ALL
        sql, params = union.sql()
    if _per_source(product):
        group = "k, v" if all_versions and product.model is not None else "k"
        sql = f"SELECT COUNT(*) AS n, MAX(m) AS m FROM ({sql}) AS u GROUP BY {group}"
        aggregate = f"SELECT COUNT(*), SUM(n), MAX(m) FROM ({sql}) AS g"
    else:
        aggregate = f"SELECT COUNT(*), COUNT(*), MAX(m) FROM ({sql}) AS u"
    count, candidates, last = db.execute_sql(aggregate, params).fetchone()
    return count, int(candidates or 0), last


def other_level_hint(name, *, method=None, release=None, filters=None, where=None, all_versions=False, db=None):
    """For an empty method product: a note naming the other level's product if it has rows.

    Seed 001 runs a method over visit spectra and then writes ``astraAllStar<Method>``; here
    that product holds the results on star-level spectra only, so it is empty, and this says
    where the results are.

    :param name: a method product's name (as for :func:`create_product`).
    :returns: e.g. ``"RocketSNR has 42 results on visit spectra: astra create astraAllVisitRocketSNR"``,
        or ``""`` when there is nothing to say.
    """
    product = name if isinstance(name, Product) else resolve_product(name, method)
    if product.kind != "method":
        return ""
    other = next(level for level in LEVELS if level != product.level)
    prefix = next(p for p, level in PRODUCT_PREFIXES.items() if level == other)
    twin = Product(prefix + model_display_name(product.model), "method", other, product.model)
    try:
        _, count, _ = _count_and_latest(twin, _filters(filters, release), where, all_versions, db)
    except (ValueError, peewee.DatabaseError):  # a filter or condition the other level cannot take
        return ""
    if not count:
        return ""
    return f"{product.model.__name__} has {count} results on {other} spectra: astra create {twin.name}"
