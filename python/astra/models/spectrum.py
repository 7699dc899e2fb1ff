"""What every catalogue spectrum table has: keys, the file, header values, and reading itself.

Each data model has one table (:mod:`astra.models.apogee`, :mod:`astra.models.boss`,
:mod:`astra.models.mwm`) whose rows are made by ``astra migrate``. They all extend
:class:`SpectrumMixin`, which gives

* ``spectrum_pk`` -- the primary key, unique across *all* spectrum tables (handed out by the
  :class:`Spectrum` table, which also records which table holds each key), so a result row's
  ``spectrum_pk`` names one spectrum whatever its data model;
* ``source_pk`` -- the :class:`~astra.models.source.Source` (``row.source`` is the object);
* ``release``, ``data_model`` and one column per data-model key, taken from the data model's
  file task (an integer key is an integer column);
* ``path``, ``file_size``, ``file_mtime`` -- what ``astra migrate`` compares to find changes;
* ``flag_bad_file`` and ``bad_file_reason`` -- a file that could not be read still has a row;
* header values useful for selecting (``snr``, ``ra``, ``dec`` and per-model ones);
* :meth:`~SpectrumMixin.read`, :meth:`~SpectrumMixin.read_arrays`, and ``wavelength``,
  ``flux``, ``ivar``, ``pixel_flags``: the row's own spectrum, loaded on first use.

::

    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    for row in Star.select().where(Star.snr > 50, ~Star.flag_bad_file).limit(10):
        print(row.obj, row.snr, row.flux[:5])
"""

import datetime
import importlib
import math

import numpy as np
import peewee

from astra import datamodels
from astra.database.connection import write_transaction
from astra.database.migrations import ensure_table
from astra.fields import BigIntegerField, BooleanField, DateTimeField, FloatField, IntegerField, TextField
from astra.models.base import BaseModel
from astra.models.bulk import allocate_pks
from astra.models.source import Source

__all__ = ["Spectrum", "SpectrumMixin", "SPECTRUM_MODELS", "spectrum_model", "model_for_data_model", "import_catalogue", "utcnow"]

#: Every concrete spectrum table, in the order their classes were defined.
SPECTRUM_MODELS = []


def utcnow():
    """The current UTC time without time zone (how the catalogue stores times)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Spectrum(BaseModel):
    """Hands out ``spectrum_pk`` values: one row per spectrum of any table.

    ``Spectrum.get_by_id(pk).resolve()`` finds the row in its own table.
    """

    pk = BigIntegerField(primary_key=True, help_text="Primary key (the spectrum_pk)")
    spectrum_type = TextField(help_text="The spectrum table's model name")

    def resolve(self):
        """The spectrum row this key belongs to, from its own table."""
        model = spectrum_model(self.spectrum_type)
        return model.get_by_id(self.pk)


#: Keys that name a version or an instrument: a handful of values each, so an index on one
#: would not narrow a query and would only slow ingestion. Every other key is indexed.
UNINDEXED_KEYS = frozenset({"apred", "apstar", "prefix", "telescope", "run2d", "v_astra", "aspcap", "results", "component"})


def _key_field(name, parameter):
    text = (parameter.description or "data-model key").split(",")[0].split("(")[0].strip()
    kind = BigIntegerField if parameter.key_type is int else TextField
    return kind(null=True, index=name not in UNINDEXED_KEYS, help_text=text[:47])


def key_parameters(file_task):
    """The data-model key parameters of a file task, by name, in declaration order.

    :param file_task: an :class:`~astra.tasks.io.base.SDSSDataModelTask` subclass (its key
        parameters have a ``key_type``, ``str`` or ``int``).
    """
    return {n: p for n, p in file_task.get_params() if getattr(p, "key_type", None) is not None}


class SpectrumMixin(BaseModel):
    """The columns and behaviour shared by every catalogue spectrum table (abstract).

    A subclass names the data models it holds in ``data_model_names``; a column is added for
    every key of their file tasks (:attr:`astra.datamodels.DataModel.file_task`; an integer
    key is an integer column). Class attributes a subclass may set:

    :cvar data_model_names: the data models (:mod:`astra.datamodels` names) whose files the
        table holds.
    :cvar header_keywords: column -> FITS keywords of the primary header (first present wins).
    :cvar table_keywords: column -> ``(EXTNAME, table column)``: where the value is read
        (first row of that binary table) when the header has none of its keywords.
    :cvar source_keywords: other primary-header keywords :meth:`source_identifier` reads.
    :cvar spectrum_row: the row of a 2-D flux that is this table's own spectrum.
    :cvar READER_VERSION: the version of the reader that makes the rows (``reader_version``).
    :cvar spectrum_level: ``"star"`` for a source's combined (coadded) spectra, ``"visit"`` for
        single-epoch spectra: which named products (``mwmAllStar``/``astraAllStar<Method>`` or
        ``mwmAllVisit``/``astraAllVisit<Method>``, :mod:`astra.products`) hold the table's rows.
    """

    data_model_names = ()
    spectrum_level = None
    #: The version of the reader that makes this table's rows (``astra migrate``). It goes up
    #: when a fix changes what a row holds (2: BOSS positions are ``PLUG_RA``/``PLUG_DEC``,
    #: DR17 single-visit apStar files are read); the next migration reads again every file
    #: whose row a lower (or no) version made, and corrects the row in place.
    READER_VERSION = 2
    header_keywords = {"snr": ("SNR",), "ra": ("RA",), "dec": ("DEC",)}
    table_keywords = {}
    source_keywords = ("SDSS_ID",)
    spectrum_row = 0

    #> Identity
    spectrum_pk = BigIntegerField(primary_key=True, help_text="Unique across all spectrum tables")
    source = peewee.ForeignKeyField(
        Source, null=True, index=True, column_name="source_pk", field="pk", help_text="The star", lazy_load=True
    )
    release = TextField(help_text="SDSS data release")
    data_model = TextField(help_text="Data model (sdss-access species)")

    #> File
    path = TextField(unique=True, help_text="Full path of the file")
    file_size = BigIntegerField(help_text="File size when ingested [byte]")
    file_mtime = FloatField(help_text="File modification time when ingested [s]")
    flag_bad_file = BooleanField(default=False, help_text="The file could not be read")
    bad_file_reason = TextField(null=True, help_text="Why the file could not be read")
    ingested = DateTimeField(default=utcnow, help_text="When the row was first written (UTC)")
    modified = DateTimeField(default=utcnow, help_text="When the row was last written (UTC)")
    reader_version = IntegerField(null=True, help_text="Version of the reader that made the row")

    #> Header values
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    ra = FloatField(null=True, unit="deg", help_text="Right ascension")
    dec = FloatField(null=True, unit="deg", help_text="Declination")

    @classmethod
    def validate_model(cls):
        """Called by peewee when a class is made: add the key columns and register the table."""
        own = cls.__dict__.get("data_model_names", ())
        for task in cls.file_tasks() if own else ():
            for name, parameter in key_parameters(task).items():
                if name not in cls._meta.fields:
                    cls._meta.add_field(name, _key_field(name, parameter))
        if own and cls not in SPECTRUM_MODELS:
            SPECTRUM_MODELS.append(cls)

    @classmethod
    def data_models(cls):
        """The names of the data models (sdss-access species) this table holds."""
        return tuple(cls.data_model_names)

    @classmethod
    def file_tasks(cls):
        """The data-model file tasks of the data models this table holds."""
        return tuple(datamodels.get(name).file_task for name in cls.data_model_names)

    @classmethod
    def key_names(cls):
        """The names of the data-model key columns, in order."""
        names = cls.__dict__.get("_astra_key_names")
        if names is None:
            found = {}
            for task in cls.file_tasks():
                found.update(dict.fromkeys(key_parameters(task)))
            names = tuple(found)
            setattr(cls, "_astra_key_names", names)
        return names

    @classmethod
    def source_identifier(cls, keys, header):
        """The :class:`~astra.models.source.Source` identifier of a spectrum, or ``None``.

        :param keys: the file's data-model keys (typed values).
        :param header: the file's primary header (a mapping).
        :returns: ``(column, value)`` with ``column`` one of
            :data:`~astra.models.source.SOURCE_IDENTIFIERS`.
        """
        sdss_id = keys.get("sdss_id") or _integer(header.get("SDSS_ID"))
        return ("sdss_id", int(sdss_id)) if sdss_id else None

    @classmethod
    def header_values(cls, header):
        """The header columns' values from a primary header (``None`` where absent or odd).

        :param header: a mapping of keyword to value.
        :returns: a dict of column name to value.
        """
        plan = cls.__dict__.get("_astra_header_plan")
        if plan is None:
            plan = tuple((column, keywords, _converter(cls._meta.fields[column]))
                         for column, keywords in cls.header_keywords.items())
            setattr(cls, "_astra_header_plan", plan)
        values = {}
        get = header.get
        for column, keywords, convert in plan:
            value = None
            for keyword in keywords:
                value = get(keyword)
                if value is not None:
                    value = convert(value)
                    if value is not None:
                        break
            values[column] = value
        return values

    @classmethod
    def column_value(cls, column, value):
        """``value`` (from a header or table) as ``column``'s Python type, or ``None``.

        :param column: a column name.
        :param value: a number, text or logical.
        """
        return None if value is None else _converter(cls._meta.fields[column])(value)

    @classmethod
    def wanted_keywords(cls):
        """Every primary-header keyword the table reads (header columns and source)."""
        keywords = cls.__dict__.get("_astra_wanted_keywords")
        if keywords is None:
            keywords = dict.fromkeys(k for keys in cls.header_keywords.values() for k in keys)
            keywords.update(dict.fromkeys(cls.source_keywords))
            keywords = tuple(keywords)
            setattr(cls, "_astra_wanted_keywords", keywords)
        return keywords

    @classmethod
    def file_values(cls, hdus):
        """Values read from the structure of the file's HDUs (none by default).

        :param hdus: one :class:`~astra.tools.spectrum.lean_fits.SkimmedHDU` per HDU (or its like
            for a file read with astropy).
        :returns: a dict of column name to value.
        """
        return {}

    # -------------------------------------------------------------- tables

    @classmethod
    def ensure_tables(cls, db=None):
        """Create this table, and the ``source`` and ``spectrum`` tables, if they do not exist.

        Done once per process and database; :meth:`select` and :meth:`save` call it, so a
        table is created on first use.

        :param db: the database (default: the bound one).
        """
        for model in (Source, Spectrum, cls):
            ensure_table(model, db=db)

    @classmethod
    def select(cls, *fields):
        """A peewee ``SELECT`` on this table (created first if it does not exist yet)."""
        if cls in SPECTRUM_MODELS:
            cls.ensure_tables()
        return super().select(*fields)

    # -------------------------------------------------------------- writing

    def save(self, *args, **kwargs):
        """Save the row; a new row without ``spectrum_pk`` gets one from :class:`Spectrum`."""
        if self.spectrum_pk is not None:
            self.modified = utcnow()
            return super().save(*args, **kwargs)
        type(self).ensure_tables()
        with write_transaction():
            self.spectrum_pk = allocate_pks(Spectrum, 1)[0]
            Spectrum.insert(pk=self.spectrum_pk, spectrum_type=type(self).__name__).execute()
            kwargs["force_insert"] = True
            return super().save(*args, **kwargs)

    # -------------------------------------------------------------- reading

    def data_model_object(self):
        """The :mod:`astra.datamodels` object of this row's data model."""
        return datamodels.get(self.data_model)

    def read(self, **kwargs):
        """Read the whole file as a :class:`specutils.Spectrum` (every row the file holds).

        :param kwargs: passed to the data model's loader.
        :raises astra.tools.spectrum.SpectrumReadError: naming the file when it cannot be read.
        """
        return self.data_model_object().read_spectrum(self.path, **kwargs)

    def read_arrays(self, **kwargs):
        """Read the file as plain arrays (:data:`~astra.tools.spectrum.SpectrumArrays`), fast.

        :param kwargs: passed to the data model's loader.
        :raises astra.tools.spectrum.SpectrumReadError: naming the file when it cannot be read.
        """
        return self.data_model_object().read_arrays(self.path, **kwargs)

    def _own(self):
        arrays = getattr(self, "_astra_arrays", None)
        if arrays is None or arrays[0] != self.path:
            data = self.read_arrays()
            bitmask = data.meta.get("bitmask")
            if bitmask is None:
                bitmask = np.zeros(np.shape(data.flux), dtype=np.int64)
            own = [np.asarray(data.wavelength)]
            for array in (data.flux, data.ivar, bitmask):
                array = np.asarray(array)
                own.append(array[self.spectrum_row] if array.ndim == 2 else array)
            arrays = self._astra_arrays = (self.path, *own)
        return arrays

    @property
    def wavelength(self):
        """Vacuum wavelengths in Angstrom (1-D), read on first use."""
        return self._own()[1]

    @property
    def flux(self):
        """The row's own flux (1-D; for an apStar row the combined spectrum), read on first use."""
        return self._own()[2]

    @property
    def ivar(self):
        """Inverse variances of :attr:`flux` (0 where there is no data), read on first use."""
        return self._own()[3]

    @property
    def pixel_flags(self):
        """The data model's pixel bitmask for :attr:`flux` (integers), read on first use."""
        return self._own()[4]

    def __str__(self):
        return f"{type(self).__name__}(spectrum_pk={self.spectrum_pk}, path={self.path!r})"

    __repr__ = __str__


def _integer(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _float(value):
    if type(value) is float or isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def _text(value):
    return None if isinstance(value, bool) else str(value).strip()


def _converter(field):
    """The function that turns a header value into ``field``'s Python type (``None`` if it cannot)."""
    if isinstance(field, peewee.FloatField):
        return _float
    if isinstance(field, peewee.IntegerField):
        return _integer
    if isinstance(field, peewee.TextField):
        return _text
    if isinstance(field, peewee.BooleanField):
        return lambda value: value
    return lambda value: None if isinstance(value, bool) else value


def spectrum_model(name):
    """A spectrum table's model by class name (``"BossVisitSpectrum"``) or dotted path.

    :param name: the class name, or ``module.Class``.
    :raises LookupError: naming the known spectrum models.
    """
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            model = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as error:
            raise LookupError(f"cannot find spectrum model {name!r}: {error}") from None
        if isinstance(model, type) and issubclass(model, SpectrumMixin) and model in SPECTRUM_MODELS:
            return model
        raise LookupError(f"{name!r} is not a spectrum table (a SpectrumMixin subclass)")
    import_catalogue()
    for model in SPECTRUM_MODELS:
        if model.__name__.lower() == name.lower():
            return model
    known = ", ".join(m.__name__ for m in SPECTRUM_MODELS)
    raise LookupError(f"no spectrum table named {name!r} (known: {known})")


#: The modules of the built-in catalogue tables. Each table registers itself in
#: :data:`SPECTRUM_MODELS` when its class is made; :func:`import_catalogue` imports these (by
#: name, as a plugin system loads its entry points: they build on this module, not under it).
CATALOGUE_MODULES = ("astra.models.apogee", "astra.models.boss", "astra.models.mwm")


def import_catalogue():
    """Import the modules of the catalogue tables, so that :data:`SPECTRUM_MODELS` is complete."""
    for module in CATALOGUE_MODULES:
        importlib.import_module(module)


def model_for_data_model(name):
    """The spectrum table that holds files of the data model ``name`` (e.g. ``"apStar"``).

    :param name: a data-model (sdss-access species) name.
    :raises LookupError: when no table holds it.
    """
    import_catalogue()
    for model in SPECTRUM_MODELS:
        if name in model.data_models():
            return model
    known = ", ".join(n for m in SPECTRUM_MODELS for n in m.data_models())
    raise LookupError(f"no catalogue table holds {name!r} files (data models with a table: {known})")
