"""The provenance columns of every result row, for both results bases: :class:`ProvenanceColumns`.

Per row only what differs per spectrum is kept, small: the input file's size and a checksum
of its bytes (its mtime is the row's ``spectrum_mtime`` for ``@task`` results); everything else
(parameters, code, host, run) lives once in ``astra_provenance`` and the row references it by
``provenance_pk``. Existing tables gain these nullable columns automatically
(:func:`astra.database.migrations.ensure_table`); rows written before have ``NULL``.
"""

import peewee

from astra.fields import BigIntegerField, IntegerField

__all__ = ["ProvenanceColumns", "PROVENANCE_COLUMNS"]

#: The names of the columns this mixin adds.
PROVENANCE_COLUMNS = ("provenance_pk", "input_size", "input_checksum")


class ProvenanceColumns(peewee.Model):
    """A peewee mixin: ``provenance_pk``, ``input_size`` and ``input_checksum``.

    ``BaseResult`` lists it in place of ``peewee.Model``, ``PipelineOutputMixin`` after its
    ``BaseModel``; its table options are peewee's defaults, and each base names its database
    itself, as both did before.
    """

    #> Provenance
    provenance_pk = IntegerField(null=True, help_text="How it was made (astra provenance)")
    input_size = BigIntegerField(null=True, unit="byte", help_text="Size of the input file when read")
    input_checksum = BigIntegerField(null=True, help_text="CRC-32 of the input file's bytes read")

    class Meta:
        database = None  # each results base names its own (this mixin must not import astra.database)
