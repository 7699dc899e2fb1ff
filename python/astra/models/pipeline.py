"""The columns every pipeline's results table has: :class:`PipelineOutputMixin`.

A method's results model extends the mixin and adds its own nullable columns, ``#>`` category
headers and flags, exactly as SDSS Astra's pipeline guide shows::

    from astra.fields import BitField, FloatField
    from astra.models.pipeline import PipelineOutputMixin

    class SNRResult(PipelineOutputMixin):
        \"\"\"Signal-to-noise estimates.\"\"\"

        #> Signal-to-noise
        snr = FloatField(null=True, help_text="Signal-to-noise ratio")
        result_flags = BitField(default=0)
        flag_low_snr = result_flags.flag(2**0, help_text="S/N is below 3")

``spectrum_mtime`` records the modification time of the spectrum's file (the catalogue's
``file_mtime``) that the result was computed from: when the catalogue later records a newer
one, the result is out of date and ``astra run`` analyses the spectrum again. Comparing the
two file times, not a file time with the clock of the machine that wrote the result, keeps
this right when a file server's clock and a compute node's differ.

There is at most one row per spectrum and Astra major.minor version (a unique index on
``spectrum_pk`` and ``v_astra_major_minor``): running the method again under the same
major.minor updates the row in place, keeping its ``task_pk`` and ``created`` time. The rules of
:class:`astra.database.models.ResultSchema` apply: ``help_text`` of at most 47 characters,
nullable method columns, named flags of a :class:`~astra.fields.BitField`.
"""

import datetime

import peewee

from astra.database.models import ModelDefinitionError, ResultSchema
from astra.fields import AutoField, BigIntegerField, BitField, DateTimeField, FloatField, TextField
from astra.models.base import BaseModel
from astra.provenance.columns import ProvenanceColumns
from astra.version import __version__, version_info

__all__ = ["PipelineOutputMixin", "major_minor", "file_mtime_seconds"]


def major_minor():
    """This Astra's ``"major.minor"`` (e.g. ``"0.3"``): a result is written once per value."""
    return "{}.{}".format(*version_info())


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def file_mtime_seconds(spectrum):
    """The catalogue's ``file_mtime`` of ``spectrum`` in seconds since 1970, or ``None``.

    :param spectrum: a catalogue row (``file_mtime`` a number of seconds or a UTC timestamp).
    """
    value = getattr(spectrum, "file_mtime", None)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return None if value is None else float(value)


def _key_of(value):
    """A primary-key value from a key or a model instance (a foreign key read as an object)."""
    if isinstance(value, peewee.Model):
        return value.get_id()
    return value


class PipelineOutputMixin(ResultSchema, BaseModel, ProvenanceColumns):
    """Identifiers, version, timing and processing flags shared by every pipeline's results."""

    __schema_root__ = True
    __identity_columns__ = ("created",)
    __system_columns__ = ("task_pk", "v_astra", "v_astra_major_minor", "created", "modified", "provenance_pk",
                          "input_size", "input_checksum")
    __upsert_key__ = ("spectrum_pk", "v_astra_major_minor")

    #> Identifiers
    task_pk = AutoField(help_text="Primary key of the result")
    source_pk = BigIntegerField(null=True, index=True, help_text="Source of the spectrum (catalogue)")
    spectrum_pk = BigIntegerField(index=True, help_text="Spectrum analysed (catalogue)")
    spectrum_mtime = FloatField(null=True, unit="s", help_text="The spectrum file's mtime when analysed")

    #> Astra
    v_astra = TextField(default=__version__, help_text="Astra version that wrote the result")
    v_astra_major_minor = TextField(default=major_minor, help_text="Astra major.minor (one result each)")
    created = DateTimeField(default=_utcnow, help_text="When the result was first written (UTC)")
    modified = DateTimeField(default=_utcnow, index=True, help_text="When the result was last written (UTC)")
    t_elapsed = FloatField(null=True, unit="s", help_text="Time spent on this spectrum")
    t_overhead = FloatField(null=True, unit="s", help_text="Share of the task's overhead time")
    tag = TextField(null=True, default="", index=True, help_text="A label given to the run")

    #> Processing
    pipeline_flags = BitField(default=0, help_text="Processing flags set by Astra")
    flag_runtime_exception = pipeline_flags.flag(2**0, help_text="The method raised on this spectrum")
    error = TextField(null=True, help_text="Why the spectrum could not be processed")

    class Meta:
        indexes = ((("spectrum_pk", "v_astra_major_minor"), True),)

    @classmethod
    def from_spectrum(cls, spectrum, **values):
        """A new result for ``spectrum``, with its ``source_pk`` and ``spectrum_pk`` copied.

        :param spectrum: a catalogue spectrum (any object with ``spectrum_pk`` and, optionally,
            ``source_pk``).
        :param values: column values and flags, e.g. ``teff=5000, flag_low_snr=True``.
        :raises TypeError: for a name that is neither a column nor a flag of this model.
        :returns: an unsaved instance.
        """
        cls.check_names(values)
        values.setdefault("spectrum_pk", _key_of(getattr(spectrum, "spectrum_pk")))
        values.setdefault("source_pk", _key_of(getattr(spectrum, "source_pk", None)))
        values.setdefault("spectrum_mtime", file_mtime_seconds(spectrum))
        return cls(**values)

    @classmethod
    def check_names(cls, values):
        """Check that every name in ``values`` is a column or a flag of this model.

        :param values: a mapping of names to values.
        :raises TypeError: naming the first unknown name and the known ones.
        """
        known = cls.__dict__.get("_astra_known_names")
        if known is None:
            known = cls._astra_known_names = frozenset(cls._meta.fields) | set(cls.flag_fields())
        for name in values:
            if name not in known:
                own = [n for n in cls._meta.fields if n not in PipelineOutputMixin._meta.fields]
                raise TypeError(
                    f"{cls.__name__} has no column or flag named {name!r} "
                    f"(columns: {', '.join(own) or 'none'}; flags: {', '.join(cls.flag_fields())})"
                )

    @classmethod
    def validate_model(cls):
        """The rules of :class:`~astra.database.models.ResultSchema`, and no reserved names."""
        super().validate_model()
        if cls._meta.primary_key is not cls._meta.fields.get("task_pk"):
            raise ModelDefinitionError(f"{cls.__name__}: the primary key of a pipeline's results is task_pk")

    def __repr__(self):
        return f"<{type(self).__name__} spectrum_pk={self.spectrum_pk} task_pk={self.task_pk}>"
