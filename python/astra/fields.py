"""Field types for results models, under the names SDSS Astra's pipeline guide uses.

``from astra.fields import FloatField, TextField, BitField`` gives the same typed, nullable
peewee fields as :mod:`astra.database.fields` (this module re-exports them; there is one
definition of each): every field takes ``help_text`` (at most 47 characters, the FITS column
comment) and ``unit``; :meth:`BitField.flag` declares a named bit::

    from astra.fields import BitField, FloatField

    teff = FloatField(null=True, help_text="Effective temperature [K]")
    result_flags = BitField(default=0)
    flag_low_snr = result_flags.flag(2**0, help_text="S/N is too low")

Peewee's own ``AutoField``, ``ForeignKeyField``, ``CharField`` and ``SmallIntegerField`` are
re-exported for catalogue and results models that need them.
"""

from peewee import AutoField, CharField, ForeignKeyField, SmallIntegerField

from astra.database.fields import (
    MAX_HELP_TEXT,
    ArrayField,
    BigIntegerField,
    BitField,
    BooleanField,
    DateTimeField,
    Flag,
    FloatField,
    IntegerField,
    TextField,
    flag,
)

__all__ = [
    "MAX_HELP_TEXT",
    "FloatField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "TextField",
    "CharField",
    "BooleanField",
    "DateTimeField",
    "ArrayField",
    "BitField",
    "Flag",
    "flag",
    "AutoField",
    "ForeignKeyField",
]
