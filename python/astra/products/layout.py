"""The columns of the named products, and where each one's values come from in each table.

A named product's table has three groups of columns, in this order (each group begins with a
category card):

``Source``
    ``source_pk``, then the source's identifiers ``sdss_id``, ``catalogid``, ``sdss4_apogee_id``,
    ``sdss4_thing_id`` and its ``ra``, ``dec`` (:class:`~astra.models.source.Source`). Where the
    spectrum's own data-model keys hold an identifier (``sdss_id`` of an mwmStar file,
    ``catalogid`` of a specLite file) that key's value is used, else the source's.
``Spectrum``
    ``spectrum_pk``, ``spectrum_table`` (the catalogue table's model name), ``release``,
    ``data_model`` and every data-model key of the product's tables (a key that a table does
    not have is empty in its rows). A catalogue product (``mwmAllStar``, ``mwmAllVisit``) adds
    the rest of the tables' columns: the file (``path``, ``file_size``, ``file_mtime``,
    ``flag_bad_file``, ...) and the header values (``snr``, ``n_visits``, ...). A method
    product of the star level adds the spectrum's ``snr`` (``spectrum_snr`` when the results
    have an ``snr``), by which its row of a source is chosen; every star-level product adds
    ``n_star_spectra`` (how many of the source's star-level spectra it was chosen from, see
    :mod:`astra.products.named`).
the method's results
    (``astraAllStar<Method>``, ``astraAllVisit<Method>``) every column of the results model
    but ``source_pk`` and ``spectrum_pk``, which are the first groups' (the same values).

A later group never renames a column of an earlier one; a catalogue column whose name the
results model also has is written as ``source_<name>`` or ``spectrum_<name>`` (the spectrum's
own ``ra`` and ``dec`` in a catalogue product are ``spectrum_ra`` and ``spectrum_dec``).
"""

import dataclasses

import peewee

from astra.fields import TextField
from astra.models.source import SOURCE_IDENTIFIERS, Source
from astra.models.spectrum import SPECTRUM_MODELS, SpectrumMixin, import_catalogue
from astra.products.fits_table import column_kind

__all__ = ["ProductColumn", "level_tables", "product_columns", "role_index", "SPECTRUM_TABLE_FIELD", "N_STAR_SPECTRA_FIELD"]

#: The field describing the ``spectrum_table`` column.
SPECTRUM_TABLE_FIELD = TextField(null=True, help_text="Catalogue table of the spectrum")
SPECTRUM_TABLE_FIELD.name = SPECTRUM_TABLE_FIELD.column_name = "spectrum_table"

#: The field describing the ``n_star_spectra`` column of the star-level (one row per source) products.
N_STAR_SPECTRA_FIELD = peewee.IntegerField(
    null=True, help_text="Star spectra of the source it was chosen from"
)
N_STAR_SPECTRA_FIELD.name = N_STAR_SPECTRA_FIELD.column_name = "n_star_spectra"

#: Catalogue columns that are the product's first columns (not repeated in the file group).
_SPECTRUM_FIRST = ("spectrum_pk", "release", "data_model")


@dataclasses.dataclass
class ProductColumn:
    """One column of a named product.

    :param name: the column's name in the file.
    :param field: the peewee field that describes it (type, unit, help text).
    :param category: the category card before it (the first column of a group), or ``None``.
    :param source: where its values come from: a function of a catalogue table returning a
        peewee expression, ``None`` (the table has no such column: empty), or the string
        ``"table"`` (the table's model name) or ``"computed"`` (filled in after the rows are
        read: ``n_star_spectra``).
    :param role: ``"rank"`` for the spectrum's S/N that picks a source's row, ``"count"`` for
        ``n_star_spectra``, else ``None``.
    """

    name: str
    field: object
    category: object = None
    source: object = None
    role: object = None

    def expression(self, table):
        """The expression of this column in the rows of ``table``, ``"table"``, ``"computed"`` or ``None``."""
        if self.source in ("table", "computed"):
            return self.source
        return self.source(table) if self.source is not None else None


def role_index(columns, role):
    """The index of the column with ``role`` (``"rank"`` or ``"count"``) in ``columns``, or ``None``."""
    return next((i for i, c in enumerate(columns) if c.role == role), None)


def level_tables(level):
    """The catalogue tables of a level (``"star"`` or ``"visit"``), in definition order.

    :param level: a value of :attr:`~astra.models.spectrum.SpectrumMixin.spectrum_level`.
    """
    import_catalogue()
    return [model for model in SPECTRUM_MODELS if model.spectrum_level == level]


def _from_table(name):
    def source(table):
        return table._meta.fields.get(name)

    return source


def _identifier(name):
    def source(table):
        key = table._meta.fields.get(name) if name in table.key_names() else None
        return peewee.fn.COALESCE(key, getattr(Source, name)) if key is not None else getattr(Source, name)

    return source


def _merged_field(tables, name):
    """The field of ``name`` in the first table having it; text if the tables disagree on its type."""
    fields = [t._meta.fields[name] for t in tables if name in t._meta.fields]
    if len({column_kind(f) for f in fields}) > 1:
        proxy = TextField(null=True, help_text=fields[0].help_text)
        proxy.name = proxy.column_name = name
        return proxy
    return fields[0]


def _free(name, prefix, taken):
    """``name``, or ``<prefix>_<name>`` when ``name`` is taken."""
    return f"{prefix}_{name}" if name in taken else name


def product_columns(tables, results_model=None):
    """The columns of a product over ``tables`` (with ``results_model``'s, for a method product).

    :param tables: catalogue tables (:class:`~astra.models.spectrum.SpectrumMixin` subclasses).
    :param results_model: a :class:`~astra.models.pipeline.PipelineOutputMixin` model, or
        ``None`` for a catalogue product.
    :returns: a list of :class:`ProductColumn`; for a method product the results' columns have
        ``source`` ``None`` (they are read from the results table, not a catalogue table).
    """
    result_fields = []
    if results_model is not None:
        result_fields = [f for f in results_model._meta.sorted_fields if f.name not in ("source_pk", "spectrum_pk")]
    reserved = {f.column_name for f in result_fields}
    columns = []

    def add(name, field, source, prefix, category=None, role=None):
        taken = reserved | {c.name for c in columns}
        columns.append(ProductColumn(_free(name, prefix, taken), field, category, source, role))

    per_source = bool(tables) and all(t.spectrum_level == "star" for t in tables)

    add("source_pk", SpectrumMixin._meta.fields["source"], _from_table("source"), "source", "Source")
    for name in SOURCE_IDENTIFIERS:
        add(name, Source._meta.fields[name], _identifier(name), "source")
    for name in ("ra", "dec"):
        add(name, Source._meta.fields[name], lambda table, n=name: getattr(Source, n), "source")

    base = SpectrumMixin._meta.fields
    add("spectrum_pk", base["spectrum_pk"], _from_table("spectrum_pk"), "spectrum", "Spectrum")
    add("spectrum_table", SPECTRUM_TABLE_FIELD, "table", "spectrum")
    for name in _SPECTRUM_FIRST[1:]:
        add(name, base[name], _from_table(name), "spectrum")
    keys = {}
    for table in tables:
        keys.update(dict.fromkeys(n for n in table.key_names() if n not in SOURCE_IDENTIFIERS))
    for name in keys:
        add(name, _merged_field(tables, name), _from_table(name), "spectrum")
    if per_source and results_model is not None:
        add("snr", base["snr"], _from_table("snr"), "spectrum", role="rank")
    if per_source:
        add("n_star_spectra", N_STAR_SPECTRA_FIELD, "computed", "spectrum", role="count")
    if results_model is None:
        done = set(_SPECTRUM_FIRST) | set(keys) | {"source"} | set(SOURCE_IDENTIFIERS)
        rest = {}
        for table in tables:
            rest.update(dict.fromkeys(f.name for f in table._meta.sorted_fields if f.name not in done))
        for name in rest:
            role = "rank" if name == "snr" and per_source else None
            add(name, _merged_field(tables, name), _from_table(name), "spectrum", "File" if name == "path" else None,
                role)
        return columns
    headers = dict((first, text) for text, first in results_model.category_headers())
    for field in result_fields:
        columns.append(ProductColumn(field.column_name, field, headers.get(field.name), None))
    return columns
