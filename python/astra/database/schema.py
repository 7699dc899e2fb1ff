"""The rules and introspection every results model shares: :class:`ResultSchema`.

:mod:`astra.database.models` builds the one results base on it (and its two key strategies,
``BaseResult`` and ``PipelineOutputMixin``). Here are the rules checked when a results class is
created (:class:`ModelDefinitionError` otherwise), the registry of results models by name
(:data:`RESULT_MODELS`), and :class:`Alias`, the old name of a column or flag that still reads
and writes it.
"""

import datetime
import inspect
import logging
import re

import peewee

from astra import datamodels
from astra.fields import MAX_HELP_TEXT, BitField, Flag

__all__ = [
    "Alias",
    "ModelDefinitionError",
    "ResultSchema",
    "DATA_MODEL_KEYS",
    "RESULT_MODELS",
    "register_name",
    "coerce_key",
    "plain_value",
    "utcnow",
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
)

_CATEGORY = re.compile(r"^\s*#>\s*(.+?)\s*$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=")


class ModelDefinitionError(TypeError):
    """A results model breaks a rule (help text too long or missing, non-nullable column)."""


def utcnow():
    """Now in UTC, without a time zone (how results store times)."""
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


def coerce_key(model, key, value):
    """``value`` of the data-model key ``key`` as its column in ``model`` stores it (``None``, and a
    warning, when it cannot be).

    :param model: a results model.
    :param key: a column name, e.g. ``"mjd"``.
    :param value: the task's parameter value.
    """
    field = model._meta.fields[key]
    try:
        if isinstance(field, peewee.IntegerField):
            return int(value)
        return str(value)
    except (TypeError, ValueError):
        logger.warning("%s: %s=%r is not a valid %s; stored as NULL", model.__name__, key, value, field.field_type)
        return None


def plain_value(value):
    """numpy scalars to Python numbers; everything else unchanged.

    :param value: a result value.
    """
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


class Alias:
    """An old name of a column or flag: reads, writes and queries the one it names.

    ``t_process = Alias("t_elapsed")`` on a model makes ``result.t_process`` read and set
    ``result.t_elapsed``, and ``Model.t_process`` the column ``t_elapsed`` in a query. An alias
    is no column and no flag of its own: FITS products and ``flag_fields()`` list only the name
    it points to.

    :param name: the column or flag it stands for.
    """

    def __init__(self, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return getattr(owner, self.name)
        return getattr(instance, self.name)

    def __set__(self, instance, value):
        setattr(instance, self.name, value)


def _alias_of(cls, name):
    """The :class:`Alias` ``name`` is on ``cls`` (looked up like an attribute), or ``None``."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            return found if isinstance(found, Alias) else None
    return None


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
    def aliases(cls):
        """The model's old names of columns and flags.

        :returns: a dict of alias to the name it stands for, e.g. ``{"t_process": "t_elapsed"}``.
        """
        cached = cls.__dict__.get("_astra_aliases")
        if cached is None:
            cached = {name: _alias_of(cls, name).name for name in dir(cls) if _alias_of(cls, name) is not None}
            cls._astra_aliases = cached
        return dict(cached)

    @classmethod
    def validate_model(cls):
        """Called by peewee when the class is created: bind flags, check rules, register."""
        if cls.__dict__.get("__abstract_base__"):
            return  # the base of both key strategies: no columns of its own to check
        own = set(cls.__dict__)
        for name in dir(cls):
            if _alias_of(cls, name) is not None:
                continue
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
            found = {name: getattr(cls, name) for name in dir(cls)
                     if _alias_of(cls, name) is None and isinstance(getattr(cls, name, None), Flag)}
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
            allowed = (frozenset(n for n in cls.value_columns() if n not in system) | set(cls.flag_fields())
                       | {a for a, name in cls.aliases().items() if name not in system})
            cls._astra_allowed = allowed
        for name in values:
            if name not in allowed:
                root_fields = cls.schema_root()._meta.fields
                known = ", ".join(n for n in cls.value_columns() if n not in root_fields)
                raise TypeError(
                    f"{cls.__name__} has no result column or flag named {name!r} "
                    f"(columns: {known or 'none'}; flags: {', '.join(cls.flag_fields())})"
                )
