"""Results pages: a results model's rows with filters, pages, a plot and the FITS download.

Pages are keyset-paginated on the primary key (``?after=<key>``, ``?before=<key>``), so a page
costs the same at row 10 and row 10^6. Filters are equality on the data-model keys and
ranges (``<column>_min`` / ``<column>_max``) on numeric columns. Plots are drawn on the
server with matplotlib (PNG; a histogram is counted by the database, a scatter reads an
even sample of at most :data:`MAX_PLOT_ROWS` rows); the download is ``astra create``'s summary FITS table.
"""

import io
import os
import tempfile

import numpy as np
import peewee
from flask import Blueprint, abort, after_this_request, render_template, request, send_file

from astra.database import BaseResult
from astra.database.connection import is_postgresql
from astra.database.migrations import ensure_table, import_model_modules, registered_models
from astra.database.models import DATA_MODEL_KEYS
from astra.web.display import cell, ordered_columns
from astra.models.pipeline import PipelineOutputMixin
from astra.products import create_summary

__all__ = ["blueprint", "ROWS_PER_PAGE", "MAX_PLOT_ROWS", "result_models", "numeric_columns"]

blueprint = Blueprint("results", __name__)

#: Rows on one results page.
ROWS_PER_PAGE = 50
#: Most rows a scatter plot reads, spread evenly over the table (more says nothing more).
MAX_PLOT_ROWS = 50_000
_NUMERIC = (peewee.IntegerField, peewee.FloatField, peewee.DoubleField, peewee.BigIntegerField)


def result_models():
    """The results models by table name: the registered :class:`~astra.database.BaseResult`
    models and every ``@task`` results model (:class:`~astra.models.pipeline.PipelineOutputMixin`)
    of the imported ``result_modules``."""
    import_model_modules()
    models = {m._meta.table_name: m for m in registered_models()}
    pending = list(PipelineOutputMixin.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if not model.__dict__.get("__schema_root__"):
            models.setdefault(model._meta.table_name, model)
    return models


def numeric_columns(model):
    """Names of ``model``'s numeric columns (what can be plotted or given a range)."""
    return [f.name for f in model._meta.sorted_fields
            if isinstance(f, _NUMERIC) and not isinstance(f, (peewee.AutoField, peewee.BitField))]


def _model_or_404(name):
    models = result_models()
    if name not in models:
        abort(404, description=f"no results model {name!r}; known: {', '.join(sorted(models)) or 'none'}")

    model = models[name]
    if issubclass(model, BaseResult):
        ensure_table(model)
    else:
        model.create_table(safe=True)  # a @task's results table: written by its first run
    return model


def _key_columns(model):
    extra = [k for k in ("task_family", "spectrum_pk", "source_pk", "tag") if k in model._meta.fields]
    return [k for k in DATA_MODEL_KEYS if k in model._meta.fields] + extra


def _number(name):
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        abort(400, description=f"{name}: {text!r} is not a number")


def _filters(model):
    """``(peewee conditions, {key: value} for astra create, the filter values for the form)``."""
    conditions, keys, shown = [], {}, {}
    for name in _key_columns(model):
        value = request.args.get(name, "").strip()
        if value:
            field = model._meta.fields[name]
            if isinstance(field, peewee.IntegerField):
                try:
                    value = int(value)
                except ValueError:
                    abort(400, description=f"{name}: {value!r} is not a whole number")
            conditions.append(field == value)
            keys[name] = [value]
            shown[name] = value
    for name in numeric_columns(model):
        field = model._meta.fields[name]
        low, high = _number(f"{name}_min"), _number(f"{name}_max")
        if low is not None:
            conditions.append(field >= low)
            shown[f"{name}_min"] = low
        if high is not None:
            conditions.append(field <= high)
            shown[f"{name}_max"] = high
    return conditions, keys, shown


def _where(query, conditions):
    for condition in conditions:
        query = query.where(condition)
    return query


def _sql_range(model, conditions):
    """The ``WHERE`` text of ``conditions`` for ``astra create``'s ``where`` (numbers only)."""
    parts = []
    for name in numeric_columns(model):
        low, high = _number(f"{name}_min"), _number(f"{name}_max")
        if low is not None:
            parts.append(f'"{name}" >= {low!r}')
        if high is not None:
            parts.append(f'"{name}" <= {high!r}')
    return " AND ".join(parts) or None


@blueprint.route("/results")
def index():
    """The registered results models."""
    return render_template("results_index.html", models=sorted(result_models().items()))


@blueprint.route("/results/<name>")
def table(name):
    """One results model's rows: filters, keyset pages, and links to a plot and the FITS table."""
    model = _model_or_404(name)
    conditions, _, shown = _filters(model)
    after = request.args.get("after", type=int)
    before = request.args.get("before", type=int)
    pk = model._meta.primary_key
    query = _where(model.select(), conditions)
    if before is not None:
        rows = list(query.where(pk < before).order_by(pk.desc()).limit(ROWS_PER_PAGE))[::-1]
    else:
        if after is not None:
            query = query.where(pk > after)
        rows = list(query.order_by(pk).limit(ROWS_PER_PAGE))
    columns = ordered_columns(model, _key_columns(model))
    first, last = (rows[0]._pk, rows[-1]._pk) if rows else (None, None)
    has_next = bool(rows) and _where(model.select(pk), conditions).where(pk > last).limit(1).exists()
    has_prev = bool(rows) and _where(model.select(pk), conditions).where(pk < first).limit(1).exists()
    cells = [[cell(c, getattr(row, c)) for c in columns] for row in rows]
    units = {c: getattr(model._meta.fields[c], "unit", None) for c in columns}
    return render_template(
        "results.html", name=name, model=model, columns=columns, units=units, cells=cells, shown=shown,
        keys=_key_columns(model), numeric=numeric_columns(model), first=first, last=last,
        has_next=has_next, has_prev=has_prev, x=request.args.get("x", ""), y=request.args.get("y", ""),
        query_string=_filter_query(shown), ranges_open=any(k.endswith(("_min", "_max")) for k in shown),
    )


def _filter_query(shown):
    from urllib.parse import urlencode

    return urlencode(shown)


@blueprint.route("/results/<name>/plot.png")
def plot(name):
    """A histogram of ``?x=<column>``, or a scatter of ``?y=`` against it, of the filtered rows."""
    model = _model_or_404(name)
    numeric = numeric_columns(model)
    x, y = request.args.get("x", ""), request.args.get("y", "")
    for axis, column in (("x", x), ("y", y)):
        if column and column not in numeric:
            abort(400, description=f"{axis}: {column!r} is not a numeric column of {name} "
                                   f"(numeric: {', '.join(numeric)})")
    if not x:
        abort(400, description=f"give x=<column> (numeric: {', '.join(numeric)})")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        abort(501, description="plots need matplotlib: pip install 'sdss-astra-luigi[web]'")
    conditions, _, _ = _filters(model)
    fields = [model._meta.fields[x]] + ([model._meta.fields[y]] if y else [])
    conditions = conditions + [field.is_null(False) for field in fields]
    figure = Figure(figsize=(6.4, 4.4), dpi=90)
    axes = figure.subplots()
    if y:
        values, total = _sample(model, fields, conditions)
        few = len(values) <= 20  # a few points are drawn large enough to see
        axes.scatter(values[:, 0], values[:, 1], s=36 if few else 4, alpha=0.9 if few else 0.6,
                     linewidths=0.5 if few else 0, edgecolors="black" if few else "none")
        if len(values) == 1:  # one point: a range around it, not matplotlib's zero-width axis
            axes.margins(0.5)
        axes.set_ylabel(_label(model, y))
        shown = f"{len(values)} of {total} rows" if len(values) < total else f"{total} rows"
        title = f"{name}: {y} against {x} ({shown})"
    else:
        bins = min(max(request.args.get("bins", 40, type=int), 1), 500)
        edges, counts = _histogram(model, fields[0], conditions, bins)
        axes.stairs(counts, edges, fill=True)
        axes.set_ylabel("rows")
        title = f"{name}: {x} ({int(counts.sum())} rows)"
    axes.set_xlabel(_label(model, x))
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return send_file(buffer, mimetype="image/png", max_age=0)


def _label(model, column):
    """``column [unit]`` for an axis, or the column's name when it has no unit."""
    unit = getattr(model._meta.fields.get(column), "unit", None)
    return f"{column} [{unit}]" if unit else column


def _histogram(model, field, conditions, bins):
    """Bin counts of ``field`` counted by the database (one pass; no row reaches Python).

    :returns: ``(bin edges, counts)`` as numpy arrays.
    """
    finite = conditions + [field.between(-1e308, 1e308)]  # NaN and infinities are left out
    low, high = _where(model.select(peewee.fn.MIN(field), peewee.fn.MAX(field)), finite).tuples().get()
    if low is None:
        return np.array([0.0, 1.0]), np.zeros(1)
    width = (high - low) / bins or 1.0
    scaled = (field - low) / width
    # Values are >= low, so truncation is the floor; PostgreSQL's CAST rounds, FLOOR does not.
    index = peewee.fn.FLOOR(scaled) if is_postgresql() else scaled.cast("INTEGER")
    counts = np.zeros(bins)
    query = _where(model.select(index.alias("b"), peewee.fn.COUNT(model._meta.primary_key)), finite).group_by(
        peewee.SQL("1"))
    for position, count in query.tuples():
        counts[min(int(position), bins - 1)] += count  # the maximum falls in the last bin
    return low + width * np.arange(bins + 1), counts


def _sample(model, fields, conditions):
    """At most :data:`MAX_PLOT_ROWS` rows of ``fields``, evenly spread over the ids.

    :returns: ``(values array (n, len(fields)), number of rows that match)``.
    """
    total = _where(model.select(), conditions).count()
    query = _where(model.select(*fields), conditions)
    step = -(-total // MAX_PLOT_ROWS)
    if step > 1:
        query = query.where((model._meta.primary_key % step) == 0)
    values = np.array(list(query.limit(MAX_PLOT_ROWS).tuples()), dtype=float).reshape(-1, len(fields))
    return values[np.all(np.isfinite(values), axis=1)], total


@blueprint.route("/results/<name>/download")
def download(name):
    """The filtered rows as ``astra create``'s summary FITS table."""
    model = _model_or_404(name)
    conditions, keys, _ = _filters(model)
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".fits")
    os.close(fd)

    @after_this_request
    def _remove(response):
        try:
            os.unlink(path)
        except OSError:
            pass
        return response

    try:
        _, count = create_summary(model, path, overwrite=True, filters=keys, where=_sql_range(model, conditions),
                                  all_versions=bool(request.args.get("all_versions")))
    except (ValueError, peewee.DatabaseError) as error:
        abort(400, description=f"cannot create the {model.__name__} product: {error}")
    with open(path, "rb") as fp:
        data = io.BytesIO(fp.read())
    return send_file(data, mimetype="application/fits", as_attachment=True, download_name=f"{name}.fits")
