"""The base results model that every analysis method's results table extends.

A method author writes one model with a nullable, typed column per result::

    from astra.database import BaseResult
    from astra.fields import ArrayField, FloatField, flag

    class EstimateSNRResult(BaseResult):
        \"\"\"Signal-to-noise estimates.\"\"\"

        #> Signal-to-noise
        snr = FloatField(null=True, help_text="Signal-to-noise ratio")
        snr_visits = ArrayField(null=True, help_text="Per-visit signal-to-noise ratios")

        flag_low_snr = flag(2**1, help_text="S/N below 3")

Rules, checked when the class is created (:class:`ModelDefinitionError` otherwise):

* ``help_text`` is required and at most 47 characters (it is the FITS column comment);
* method columns are nullable (``null=True``), so a failed spectrum still gets a row;
* a comment line ``#> Category`` directly above a group of fields names that group; the
  headers appear in FITS products (see :meth:`BaseResult.category_headers`).

Every result row is keyed by the task id of the single-spectrum task that produced it (unique),
which already contains the Astra major.minor version: a re-run updates the row, a new version
writes a new one.
"""

import datetime
import inspect
import json
import logging
import re

import peewee

from astra import datamodels
from astra.version import __version__, version_info
from astra.database.connection import database
from astra.provenance.columns import ProvenanceColumns
from astra.fields import (
    MAX_HELP_TEXT,
    BigIntegerField,
    BitField,
    DateTimeField,
    Flag,
    FloatField,
    IntegerField,
    TextField,
)

__all__ = [
    "BaseResult",
    "ModelDefinitionError",
    "DATA_MODEL_KEYS",
    "RESULT_MODELS",
    "register_name",
]

logger = logging.getLogger("astra")

#: SDSS data-model keys copied from a task's parameters into its result row: the identity keys
#: of every data model (:func:`astra.datamodels.result_keys`), SDSS-V keys included.
DATA_MODEL_KEYS = datamodels.result_keys()

#: Every concrete results model by lower-case name (class name, and without ``Result``).
RESULT_MODELS = {}

#: Columns written by the system, never updated from a task's values by name.
_IDENTITY_COLUMNS = ("id", "task_id", "created")

#: Columns only the system writes (a task's values may not set them).
_SYSTEM_COLUMNS = _IDENTITY_COLUMNS + (
    "task_family", "parameters", "astra_version_major", "astra_version_minor", "astra_version", "modified",
    "provenance_pk", "input_size", "input_checksum",
)

_CATEGORY = re.compile(r"^\s*#>\s*(.+?)\s*$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=")


class ModelDefinitionError(TypeError):
    """A results model breaks a rule (help text too long or missing, non-nullable column)."""


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def register_name(name, model):
    """Make ``model`` findable by ``name`` (case-insensitive) in :data:`RESULT_MODELS`.

    :param name: e.g. ``"estimatesnr"``.
    :param model: a :class:`BaseResult` subclass.
    """
    RESULT_MODELS[name.lower()] = model


def _check_help_text(cls, name, text, required):
    if text is None:
        if required:
            raise ModelDefinitionError(
                f"{cls.__name__}.{name}: give help_text (at most {MAX_HELP_TEXT} characters); "
                "it is the column's comment in FITS products"
            )
        return
    if len(text) > MAX_HELP_TEXT:
        raise ModelDefinitionError(
            f"{cls.__name__}.{name}: help_text has {len(text)} characters, more than the "
            f"{MAX_HELP_TEXT} a FITS column comment holds: {text!r}"
        )


def _coerce_key(model, key, value):
    field = model._meta.fields[key]
    try:
        if isinstance(field, peewee.IntegerField):
            return int(value)
        return str(value)
    except (TypeError, ValueError):
        logger.warning("%s: %s=%r is not a valid %s; stored as NULL", model.__name__, key, value, field.field_type)
        return None


def _plain(value):
    """numpy scalars to Python numbers; everything else unchanged."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


class ResultSchema:
    """The rules and introspection every results model shares, whatever its system columns.

    Mixed into :class:`BaseResult` (results keyed by task id) and
    :class:`astra.models.pipeline.PipelineOutputMixin` (results keyed by spectrum and Astra
    major.minor). The class that declares the system columns sets ``__schema_root__ = True``;
    its own columns are exempt from the nullable rule, and models derived from it are
    registered in :data:`RESULT_MODELS`.
    """

    #: Columns written by the system, never updated from a task's values by name.
    __identity_columns__ = _IDENTITY_COLUMNS
    #: Columns only the system writes (a task's values may not set them).
    __system_columns__ = _SYSTEM_COLUMNS
    #: Columns that identify a row for an upsert (``ON CONFLICT (...)``).
    __upsert_key__ = ("task_id",)

    @classmethod
    def schema_root(cls):
        """The class that declares this model's system columns (``BaseResult`` or the mixin)."""
        for klass in cls.__mro__:
            if klass.__dict__.get("__schema_root__"):
                return klass
        raise ModelDefinitionError(f"{cls.__name__} derives from no results model base")

    @classmethod
    def never_updated(cls):
        """Columns an upsert never overwrites: the primary key, the upsert key and ``created``."""
        return (cls._meta.primary_key.name, *cls.__upsert_key__, "created")

    @classmethod
    def validate_model(cls):
        """Called by peewee when the class is created: bind flags, check rules, register."""
        own = set(cls.__dict__)
        for name in dir(cls):
            value = cls.__dict__.get(name, None) if name in own else getattr(cls, name, None)
            if isinstance(value, Flag):
                field_name = value.field.name if value.field is not None else "flags"
                field = cls._meta.fields.get(field_name)
                if not isinstance(field, BitField):
                    raise ModelDefinitionError(f"{cls.__name__}.{name}: no BitField named {field_name!r}")
                if value.field is not field:
                    setattr(cls, name, value.bound_to(field))
        root = cls.schema_root()
        is_base = root is cls
        base_fields = set() if is_base else set(root._meta.fields)
        primary = cls._meta.primary_key.name if cls._meta.primary_key else "id"
        for name, field in cls._meta.fields.items():
            # A flag column's meaning is in its flags' help text (SDSS Astra declares
            # ``result_flags = BitField(default=0)`` without one).
            _check_help_text(cls, name, field.help_text, required=name != primary and not isinstance(field, BitField))
            if is_base or name in base_fields or name == primary or isinstance(field, BitField):
                continue
            if not field.null:
                raise ModelDefinitionError(
                    f"{cls.__name__}.{name}: result columns must be nullable (null=True), "
                    "so that a spectrum that failed still gets a row"
                )
        bits = {}
        for name, flag_ in cls.flag_fields().items():
            _check_help_text(cls, name, flag_.help_text, required=False)
            key = (flag_.field.name, flag_.value)
            if key in bits:
                raise ModelDefinitionError(
                    f"{cls.__name__}.{name}: bit {flag_.bit} of {flag_.field.name} is already {bits[key]}"
                )
            bits[key] = name
        if cls.__dict__.get("__abstract__", False) or is_base:
            return
        register_name(cls.__name__, cls)
        if cls.__name__.lower().endswith("result") and len(cls.__name__) > 6:
            register_name(cls.__name__[:-6], cls)

    @classmethod
    def flag_fields(cls):
        """The model's named flags, in bit order per column.

        :returns: a dict of attribute name to :class:`~astra.fields.Flag`.
        """
        cached = cls.__dict__.get("_astra_flags")
        if cached is None:
            found = {name: getattr(cls, name) for name in dir(cls) if isinstance(getattr(cls, name, None), Flag)}
            order = {f.name: i for i, f in enumerate(cls._meta.sorted_fields)}
            cached = dict(sorted(found.items(), key=lambda kv: (order.get(kv[1].field.name, 0), kv[1].value)))
            cls._astra_flags = cached
        return dict(cached)

    @classmethod
    def category_headers(cls):
        """Category headers from ``#> Name`` comment lines in the model's source.

        A header line applies to the field assigned on the next assignment line below it.
        Classes whose source cannot be read (defined interactively) contribute none.

        :returns: a list of ``(header, first field name)`` in field order.
        """
        cached = cls.__dict__.get("_astra_category_headers")
        if cached is not None:
            return list(cached)
        at_field = {}
        for klass in reversed(cls.__mro__):
            if klass is ResultSchema or not (isinstance(klass, type) and issubclass(klass, ResultSchema)):
                continue
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            pending = None
            for line in source.splitlines():
                match = _CATEGORY.match(line)
                if match:
                    pending = match.group(1)
                    continue
                match = _ASSIGNMENT.match(line)
                if match and pending is not None:
                    name = match.group(1)
                    if name in cls._meta.fields:
                        at_field[name] = pending
                    pending = None
                elif line.strip() and not line.strip().startswith("#"):
                    pending = None
        headers = [(at_field[f.name], f.name) for f in cls._meta.sorted_fields if f.name in at_field]
        cls._astra_category_headers = tuple(headers)
        return headers

    # ------------------------------------------------------------------ rows

    @classmethod
    def value_columns(cls):
        """Names of the columns a task's values may set (everything but the identity ones)."""
        cached = cls.__dict__.get("_astra_value_columns")
        if cached is None:
            identity = (cls._meta.primary_key.name, *cls.__identity_columns__)
            cached = tuple(f.name for f in cls._meta.sorted_fields if f.name not in identity)
            cls._astra_value_columns = cached
        return list(cached)

    @classmethod
    def check_values(cls, values):
        """Check that every name in ``values`` is a result column or a flag of this model.

        :param values: a mapping of names to values.
        :raises TypeError: naming the first unknown name and the valid ones.
        """
        allowed = cls.__dict__.get("_astra_allowed")
        if allowed is None:
            system = cls.__system_columns__
            allowed = frozenset(n for n in cls.value_columns() if n not in system) | set(cls.flag_fields())
            cls._astra_allowed = allowed
        for name in values:
            if name not in allowed:
                root_fields = cls.schema_root()._meta.fields
                known = ", ".join(n for n in cls.value_columns() if n not in root_fields)
                raise TypeError(
                    f"{cls.__name__} has no result column or flag named {name!r} "
                    f"(columns: {known or 'none'}; flags: {', '.join(cls.flag_fields())})"
                )



class BaseResult(ResultSchema, ProvenanceColumns):
    """Columns shared by all results: identity, data-model keys, version, timing and flags."""

    #> Identity
    task_id = TextField(unique=True, help_text="Task identity of the spectrum's task")
    task_family = TextField(index=True, help_text="Task family (namespace.ClassName)")
    parameters = TextField(null=True, help_text="Significant task parameters (JSON)")
    astra_version_major = IntegerField(help_text="Astra major version")
    astra_version_minor = IntegerField(help_text="Astra minor version")
    astra_version = TextField(null=True, help_text="Astra version that wrote the result")
    created = DateTimeField(default=_utcnow, help_text="When the result was first written (UTC)")
    modified = DateTimeField(default=_utcnow, help_text="When the result was last written (UTC)")

    #> Data model keys
    release = TextField(null=True, help_text="SDSS data release")
    telescope = TextField(null=True, help_text="Telescope")
    field = TextField(null=True, help_text="Field name")
    obj = TextField(null=True, help_text="Object identifier")
    plate = TextField(null=True, help_text="Plate")
    mjd = IntegerField(null=True, help_text="Modified Julian date of observation")
    fiber = IntegerField(null=True, help_text="Fiber number")
    apred = TextField(null=True, help_text="APOGEE reduction version")
    apstar = TextField(null=True, help_text="APOGEE apStar version")
    prefix = TextField(null=True, help_text="apStar file prefix")
    run2d = TextField(null=True, help_text="BOSS reduction version")
    plateid = IntegerField(null=True, help_text="BOSS plate identifier")
    fiberid = IntegerField(null=True, help_text="BOSS fiber identifier")
    healpix = IntegerField(null=True, help_text="HEALPix pixel")
    sdss_id = BigIntegerField(null=True, help_text="SDSS-V identifier")
    fieldid = TextField(null=True, help_text="SDSS-V BOSS field identifier")
    catalogid = BigIntegerField(null=True, help_text="SDSS-V catalog identifier")
    cat_id = BigIntegerField(null=True, help_text="SDSS-V catalog identifier (ipl1, ipl2)")
    component = TextField(null=True, help_text="Multiple-system component")
    v_astra = TextField(null=True, help_text="Astra version of an mwm file")
    aspcap = TextField(null=True, help_text="ASPCAP version")
    results = TextField(null=True, help_text="ASPCAP results version")
    location = TextField(null=True, help_text="APOGEE location identifier")

    #> Timing and flags
    t_setup = FloatField(null=True, unit="s", help_text="Batch setup time before first member")
    t_process = FloatField(null=True, unit="s", help_text="Time spent processing this spectrum")
    flags = BitField(help_text="Result flags (see FLAGn header cards)")
    flag_failed = flags.flag(2**0, help_text="Processing raised an exception")
    error = TextField(null=True, help_text="Error of a failed spectrum")

    __schema_root__ = True

    class Meta:
        database = database

    @classmethod
    def row_for_task(cls, task, values=None, failed=False, error=None, timing=None):
        """The full row (column name to Python value) of ``task``'s result.

        :param task: a single-spectrum :class:`astra.tasks.BaseTask`.
        :param values: result values by column name; flag names (``flag_low_snr=True``) set bits.
        :param failed: set ``flag_failed`` and store ``error``.
        :param error: the error text of a failed spectrum.
        :param timing: ``{"setup": s, "process": s}``.
        :raises TypeError: for a value whose name is neither a column nor a flag.
        """
        params = task.param_kwargs
        now = _utcnow()
        row = dict.fromkeys(cls.value_columns())
        for name, field in cls._meta.fields.items():
            if isinstance(field, BitField):
                row[name] = 0
        row.update(
            task_id=task.task_id,
            task_family=task.get_task_family(),
            parameters=json.dumps(task.identity_params(), sort_keys=True, separators=(",", ":")),
            astra_version_major=params.get("astra_version_major", version_info()[0]),
            astra_version_minor=params.get("astra_version_minor", version_info()[1]),
            astra_version=__version__,
            created=now,
            modified=now,
        )
        for key in DATA_MODEL_KEYS:
            if params.get(key) is not None:
                row[key] = _coerce_key(cls, key, params[key])
        flags = cls.flag_fields()
        if values:
            cls.check_values(values)
            for name, value in values.items():
                if name in flags:
                    f = flags[name]
                    bits = row[f.field.name] or 0
                    row[f.field.name] = bits | f.value if value else bits & ~f.value
                else:
                    row[name] = _plain(value)
        if failed:
            row["flags"] = (row["flags"] or 0) | BaseResult.flag_failed.value
            row["error"] = error
        if timing:
            row["t_setup"] = timing.get("setup")
            row["t_process"] = timing.get("process")
        return row


def _check_key_columns():
    """Every data-model key has its column in :class:`BaseResult`, of the declared type."""
    types = {"text": TextField, "int": IntegerField, "bigint": BigIntegerField}
    for name in DATA_MODEL_KEYS:
        field = BaseResult._meta.fields.get(name)
        key = datamodels.KEYS.get(name)
        expected = types[key.column] if key is not None else TextField
        if not isinstance(field, expected):
            raise ModelDefinitionError(
                f"BaseResult has no {expected.__name__} column for the data-model key {name!r}: add "
                f"'{name} = {expected.__name__}(null=True, help_text=...)' under '#> Data model keys'"
            )


_check_key_columns()
