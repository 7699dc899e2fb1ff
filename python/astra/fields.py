"""Field types for results and catalogue models: peewee fields that also carry a unit, and named flags.

This is the one place they are defined and imported from (``astra.database.fields`` is this
same module under its old name). The names are those SDSS Astra's pipeline guide uses.

Every field accepts ``help_text`` (at most :data:`MAX_HELP_TEXT` characters: it becomes the
comment of the column in FITS summary products) and ``unit`` (written as ``TUNITn``); a
trailing ``[unit]`` in the help text is the unit when ``unit=`` is not given, as SDSS Astra
writes its models::

    from astra.fields import FloatField, ArrayField, BitField

    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    teff = FloatField(null=True, unit="K", help_text="Effective temperature")
    logg = FloatField(null=True, help_text="Surface gravity [dex]")     # unit "dex"
    snr_visits = ArrayField(null=True, help_text="Per-visit signal-to-noise ratios")

Flags are bits of a :class:`BitField` (one integer column), declared with
:meth:`BitField.flag` as in peewee, or with :func:`flag` to add a bit to the model's
``flags`` column::

    flag_low_snr = flag(2**1, help_text="S/N is too low")

Peewee's own ``AutoField``, ``ForeignKeyField``, ``CharField`` and ``SmallIntegerField`` are
re-exported for catalogue and results models that need them.
"""

import datetime
import functools
import json
import re

import peewee
from peewee import AutoField, CharField, ForeignKeyField, SmallIntegerField

__all__ = [
    "MAX_HELP_TEXT",
    "unit_from_help_text",
    "FloatField",
    "IntegerField",
    "BigIntegerField",
    "TextField",
    "BooleanField",
    "DateTimeField",
    "ArrayField",
    "BitField",
    "Flag",
    "flag",
    "SmallIntegerField",
    "CharField",
    "AutoField",
    "ForeignKeyField",
]

#: The longest ``help_text`` a results field may have (a FITS card's comment space).
MAX_HELP_TEXT = 47


#: A trailing ``[unit]`` of a help text (``"Effective temperature [K]"``).
_TRAILING_UNIT = re.compile(r"\[([^\[\]]+)\]\s*$")
#: An abundance ratio in brackets (``[Fe/H]``, ``[alpha/M]``): never a unit, even when astropy
#: could read it as one (``[V/H]`` would be volt per henry).
_ABUNDANCE = re.compile(r"^\s*(?:[A-Z][a-z]?|alpha|m|M)\s*/\s*(?:H|Fe|M|m|alpha)\s*$")


@functools.lru_cache(maxsize=1024)
def unit_from_help_text(help_text):
    """The unit a help text ends with, as SDSS Astra writes its models (``"... [K]"``), or ``None``.

    The text in the last brackets is a unit when astropy can read it as one (``K``, ``dex``,
    ``km/s``, ``deg``, ``mas``, ``1e-17 erg/s/cm2/Angstrom``) and it is not an abundance ratio
    (``[Fe/H]``, ``[alpha/M]``).

    :param help_text: a field's help text (or ``None``).
    :returns: the unit as written (``"km/s"``), or ``None``.
    """
    if not help_text:
        return None
    found = _TRAILING_UNIT.search(str(help_text))
    if found is None:
        return None
    text = found.group(1).strip()
    if not text or _ABUNDANCE.match(text):
        return None
    import warnings

    import astropy.units as u

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            u.Unit(text, parse_strict="raise")
        except (ValueError, TypeError):
            return None
    return text


class _UnitMixin:
    """Accepts ``unit=`` (physical unit of the values, e.g. ``"K"``).

    Without ``unit=``, a trailing ``[unit]`` of ``help_text`` is the unit
    (:func:`unit_from_help_text`): ``FloatField(help_text="Effective temperature [K]")`` has
    ``unit == "K"``, as SDSS Astra writes its models. ``unit=`` wins when both are given.
    """

    def __init__(self, *args, unit=None, **kwargs):
        self._unit = unit
        super().__init__(*args, **kwargs)

    @property
    def unit(self):
        """The physical unit of the values: ``unit=``, else the help text's ``[unit]``, else ``None``."""
        if self._unit is not None:
            return self._unit
        return unit_from_help_text(getattr(self, "help_text", None))

    @unit.setter
    def unit(self, value):
        self._unit = value


class FloatField(_UnitMixin, peewee.DoubleField):
    """A double-precision float column."""


class IntegerField(_UnitMixin, peewee.IntegerField):
    """A 32-bit integer column."""


class BigIntegerField(_UnitMixin, peewee.BigIntegerField):
    """A 64-bit integer column."""


class TextField(_UnitMixin, peewee.TextField):
    """A text column."""


class BooleanField(_UnitMixin, peewee.BooleanField):
    """A boolean column."""


class DateTimeField(_UnitMixin, peewee.DateTimeField):
    """A timestamp (UTC, without time zone), stored as ISO text on SQLite."""

    def db_value(self, value):
        """Convert a :class:`datetime.datetime` to its ISO text (no driver adapters needed)."""
        if isinstance(value, datetime.datetime):
            return value.isoformat(" ")
        return super().db_value(value)


class ArrayField(_UnitMixin, peewee.TextField):
    """A one-dimensional array of numbers, stored as JSON text (same on SQLite and PostgreSQL).

    Reads back as a list of floats (``None`` for missing values); in FITS products it is a
    variable-length array column.
    """

    is_array = True

    def db_value(self, value):
        """Encode a sequence (list, tuple, numpy array) as JSON text."""
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if hasattr(value, "tolist"):
            value = value.tolist()
        return json.dumps([None if v != v else v for v in value])  # NaN -> null

    def python_value(self, value):
        """Decode JSON text to a list."""
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)


class Flag(peewee.ColumnBase):
    """One named bit of a :class:`BitField`.

    On an instance it reads and sets a boolean (``result.flag_failed = True``); on the model it
    is a query expression (``Model.select().where(Model.flag_failed)``).

    :param value: the bit's value, a power of two.
    :param help_text: what the flag means (at most :data:`MAX_HELP_TEXT` characters).
    :param field: the :class:`BitField` holding the bit; ``None`` for the model's ``flags``.
    """

    def __init__(self, value, help_text=None, field=None):
        if value <= 0 or value & (value - 1):
            raise ValueError(f"a flag's value must be a power of two, not {value}")
        self.value = value
        self.help_text = help_text
        self.field = field
        super().__init__()

    @property
    def bit(self):
        """The bit's position (0 for the value 1)."""
        return self.value.bit_length() - 1

    def bound_to(self, field):
        """A copy of this flag on ``field`` (used when a model inherits or declares it).

        :param field: a :class:`BitField` of the model.
        """
        return Flag(self.value, self.help_text, field)

    def clear(self):
        """An expression clearing this bit (for ``Model.update(flags=...)``)."""
        return self.field.bin_and(~self.value)

    def set(self):
        """An expression setting this bit (for ``Model.update(flags=...)``)."""
        return self.field.bin_or(self.value)

    def __get__(self, instance, instance_type=None):
        if instance is None:
            return self
        return bool((getattr(instance, self.field.name) or 0) & self.value)

    def __set__(self, instance, is_set):
        if is_set not in (True, False):
            raise ValueError("a flag is set to True or False")
        value = getattr(instance, self.field.name) or 0
        value = value | self.value if is_set else value & ~self.value
        setattr(instance, self.field.name, value)

    def __sql__(self, ctx):
        return ctx.sql(self.field.bin_and(self.value) != 0)


class BitField(_UnitMixin, peewee.BitField):
    """An integer column of named flags (default 0); declare flags with :meth:`flag`."""

    def flag(self, value=None, help_text=None):
        """Declare a named bit of this column.

        :param value: the bit's value (a power of two); default the next free bit.
        :param help_text: what the flag means.
        :returns: a :class:`Flag` to assign to a class attribute named ``flag_<something>``.
        """
        if value is None:
            value = getattr(self, "_astra_next", 1)
        self._astra_next = value << 1
        return Flag(value, help_text, self)


def flag(value, help_text=None):
    """Declare a flag stored in the model's ``flags`` column (beside ``flag_failed``).

    :param value: the bit's value (a power of two; ``2**0`` is ``flag_failed``).
    :param help_text: what the flag means.
    """
    return Flag(value, help_text, None)
