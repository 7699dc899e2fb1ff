"""The one base of every results table: :class:`Result`, its two key strategies, and one meaning
for the timing columns and the failure flag.

A method's results model extends one of the two key strategies and adds nullable, typed
columns, ``#> Category`` headers and named flags (the rules of
:class:`~astra.database.schema.ResultSchema`)::

    from astra.database import BaseResult                 # keyed by task identity (class style)
    from astra.models.pipeline import PipelineOutputMixin # keyed by spectrum + major.minor (@task)
    from astra.fields import BitField, FloatField, flag

    class EstimateSNRResult(BaseResult):
        #> Signal-to-noise
        snr = FloatField(null=True, help_text="Signal-to-noise ratio")
        flag_low_snr = flag(2**1, help_text="S/N below 3")

    class SNRResult(PipelineOutputMixin):
        #> Signal-to-noise
        snr = FloatField(null=True, help_text="Signal-to-noise ratio")
        result_flags = BitField(default=0)
        flag_low_snr = result_flags.flag(2**0, help_text="S/N is below 3")

**Key strategies.** :class:`BaseResult` keys a row by the task id of the single-spectrum task
that produced it (unique; the id already holds the Astra major.minor), and copies the task's
data-model keys into columns. :class:`PipelineOutputMixin` keys a row by the catalogue's
``spectrum_pk`` and ``v_astra_major_minor`` (a unique pair; primary key ``task_pk``). Either
way a re-run under the same major.minor updates the row (an upsert on :meth:`Result.key_columns`,
keeping ``created``) and a new major.minor writes a new one.

**Timing, one meaning for both** (SDSS Astra's Timer):

* ``t_overhead`` (s) -- the setup spent before the first spectrum (loading a model, a grid),
  shared equally among the spectra it was spent for: every row gets ``setup / spectra``
  (:func:`overhead_share`). A class's ``setup()`` is shared by the batch members it ran for; a
  ``@task`` generator's time until it first asks for a spectrum by the spectra of the call.
* ``t_elapsed`` (s) -- the time spent on this spectrum alone: its ``process()`` call, or the
  generator's time from asking for (or resuming after the previous result) to yielding it.
  A failed spectrum's may be ``None`` (always for a ``@task`` failure or a bad input).

So ``t_overhead + t_elapsed`` summed over a run's rows is the methods' own time.

**Failure, one meaning for both.** ``flag_failed`` (bit 0 of the model's system bit field:
``flags`` for :class:`BaseResult`, ``pipeline_flags`` for :class:`PipelineOutputMixin`) marks a
row that holds no result: the spectrum's input was missing or unreadable, or the method raised
on it. ``error`` says why (naming the file for a bad input). Whether a re-run retries it is the
engine's failure policy (:doc:`engine`).

**Old names still work.** ``t_setup`` and ``t_process`` (class style, before) read and write
``t_overhead`` and ``t_elapsed``; ``flag_runtime_exception`` (``@task`` style, before) is
``flag_failed`` (:class:`~astra.database.schema.Alias`: in queries too). A table made by an
earlier version is migrated the first time it is used (or by ``astra init``): its ``t_process``
column is renamed ``t_elapsed``, and ``t_setup`` (the whole batch's setup on every member's row)
becomes ``t_overhead`` divided among the rows that carry the same value (the rows one batch
wrote), so old and new rows mean the same (:mod:`astra.database.migrations`).
"""

import datetime
import json

import peewee

from astra import datamodels
from astra.database.connection import database
from astra.database.schema import (
    DATA_MODEL_KEYS,
    RESULT_MODELS,
    Alias,
    ModelDefinitionError,
    ResultSchema,
    coerce_key,
    plain_value,
    register_name,
    utcnow,
)
from astra.fields import (
    AutoField,
    BigIntegerField,
    BitField,
    DateTimeField,
    FloatField,
    IntegerField,
    TextField,
)
from astra.version import __version__, version_info

__all__ = [
    "Result",
    "BaseResult",
    "PipelineOutputMixin",
    "ResultSchema",
    "ModelDefinitionError",
    "DATA_MODEL_KEYS",
    "RESULT_MODELS",
    "register_name",
    "overhead_share",
    "timing_values",
    "major_minor",
    "file_mtime_seconds",
    "FAILED_HELP",
]

#: The help text of ``flag_failed`` (the FITS ``FLAG0`` comment), the same in both key strategies.
FAILED_HELP = "No result: bad input, or the method raised"


def overhead_share(setup, spectra):
    """``t_overhead``: ``setup`` seconds shared equally among ``spectra`` spectra.

    :param setup: the seconds spent before the first spectrum, or ``None``.
    :param spectra: how many spectra that setup was spent for (at least one is assumed).
    """
    if setup is None:
        return None
    return setup / max(int(spectra or 1), 1)


def timing_values(timing):
    """``(t_overhead, t_elapsed)`` of a timing mapping.

    :param timing: ``{"overhead": s, "elapsed": s}``, or as a class-style batch measures it,
        ``{"setup": s, "process": s, "spectra": n}`` (the batch's whole setup, shared here among
        its ``n`` spectra; without ``spectra`` the setup is one spectrum's).
    """
    if not timing:
        return None, None
    if "overhead" in timing or "elapsed" in timing:
        return timing.get("overhead"), timing.get("elapsed")
    return overhead_share(timing.get("setup"), timing.get("spectra", 1)), timing.get("process")


def major_minor():
    """This Astra's ``"major.minor"`` (e.g. ``"0.3"``): a result is written once per value."""
    return "{}.{}".format(*version_info())


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


def _elapsed_column():
    return FloatField(null=True, unit="s", help_text="Time spent on this spectrum alone")


def _overhead_column():
    return FloatField(null=True, unit="s", help_text="Setup time shared among the spectra")


def _error_column():
    return TextField(null=True, help_text="Why there is no result (flag_failed)")


def _key_of(value):
    """A primary-key value from a key or a model instance (a foreign key read as an object)."""
    if isinstance(value, peewee.Model):
        return value.get_id()
    return value


class Result(ResultSchema, peewee.Model):
    """The base of both key strategies: old names, and what every results row can answer.

    Not a table: extend :class:`BaseResult` or :class:`PipelineOutputMixin`. Each declares the
    columns ``t_elapsed``, ``t_overhead``, ``error`` and the flag ``flag_failed``, with the one
    meaning described in :mod:`astra.database.models`.
    """

    __abstract_base__ = True
    #: ``"task"`` (keyed by task identity) or ``"spectrum"`` (by spectrum and major.minor).
    __key_strategy__ = None
    #: Columns of earlier versions: ``(old name, new name, conversion)``; the migration renames
    #: them, and ``"shared"`` divides a batch's whole setup among the rows that carry it.
    __renamed_columns__ = ()

    t_setup = Alias("t_overhead")
    t_process = Alias("t_elapsed")
    flag_runtime_exception = Alias("flag_failed")

    class Meta:
        database = database

    @classmethod
    def key_columns(cls):
        """The columns that identify one result (its upsert key), e.g. ``("task_id",)``."""
        return tuple(cls.__upsert_key__)


class BaseResult(Result):
    """Results keyed by task identity: identity, data-model keys, version, timing and flags."""

    __schema_root__ = True
    __key_strategy__ = "task"
    __renamed_columns__ = (("t_process", "t_elapsed", None), ("t_setup", "t_overhead", "shared"))

    #> Identity
    task_id = TextField(unique=True, help_text="Task identity of the spectrum's task")
    task_family = TextField(index=True, help_text="Task family (namespace.ClassName)")
    parameters = TextField(null=True, help_text="Significant task parameters (JSON)")
    astra_version_major = IntegerField(help_text="Astra major version")
    astra_version_minor = IntegerField(help_text="Astra minor version")
    astra_version = TextField(null=True, help_text="Astra version that wrote the result")
    created = DateTimeField(default=utcnow, help_text="When the result was first written (UTC)")
    modified = DateTimeField(default=utcnow, help_text="When the result was last written (UTC)")

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
    t_elapsed = _elapsed_column()
    t_overhead = _overhead_column()
    flags = BitField(help_text="Result flags (see FLAGn header cards)")
    flag_failed = flags.flag(2**0, help_text=FAILED_HELP)
    error = _error_column()

    @classmethod
    def row_for_task(cls, task, values=None, failed=False, error=None, timing=None):
        """The full row (column name to Python value) of ``task``'s result.

        :param task: a single-spectrum :class:`astra.tasks.BaseTask`.
        :param values: result values by column name; flag names (``flag_low_snr=True``) set bits.
        :param failed: set ``flag_failed`` and store ``error``.
        :param error: the error text of a failed spectrum.
        :param timing: see :func:`timing_values`.
        :raises TypeError: for a value whose name is neither a column nor a flag.
        """
        params = task.param_kwargs
        now = utcnow()
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
                row[key] = coerce_key(cls, key, params[key])
        flags = cls.flag_fields()
        if values:
            cls.check_values(values)
            for name, value in values.items():
                if name not in flags and name not in row:
                    name = cls.aliases()[name]  # an old name (checked above)
                if name in flags:
                    f = flags[name]
                    bits = row[f.field.name] or 0
                    row[f.field.name] = bits | f.value if value else bits & ~f.value
                else:
                    row[name] = plain_value(value)
        if failed:
            row["flags"] = (row["flags"] or 0) | BaseResult.flag_failed.value
            row["error"] = error
        if timing:
            row["t_overhead"], row["t_elapsed"] = timing_values(timing)
        return row


class PipelineOutputMixin(Result):
    """Results keyed by spectrum and Astra major.minor: identifiers, version, timing and flags.

    ``spectrum_mtime`` records the modification time of the spectrum's file (the catalogue's
    ``file_mtime``) the result was computed from: when the catalogue later records a newer
    one, the result is out of date and ``astra run`` analyses the spectrum again. Comparing the
    two file times, not a file time with the clock of the machine that wrote the result, keeps
    this right when a file server's clock and a compute node's differ. Table names are the
    snake-case class names (``MedianSNR`` -> ``median_snr``).
    """

    __schema_root__ = True
    __key_strategy__ = "spectrum"
    __identity_columns__ = ("created",)
    __system_columns__ = ("task_pk", "v_astra", "v_astra_major_minor", "created", "modified")
    __upsert_key__ = ("spectrum_pk", "v_astra_major_minor")

    #> Identifiers
    task_pk = AutoField(help_text="Primary key of the result")
    source_pk = BigIntegerField(null=True, index=True, help_text="Source of the spectrum (catalogue)")
    spectrum_pk = BigIntegerField(index=True, help_text="Spectrum analysed (catalogue)")
    spectrum_mtime = FloatField(null=True, unit="s", help_text="The spectrum file's mtime when analysed")

    #> Astra
    v_astra = TextField(default=__version__, help_text="Astra version that wrote the result")
    v_astra_major_minor = TextField(default=major_minor, help_text="Astra major.minor (one result each)")
    created = DateTimeField(default=utcnow, help_text="When the result was first written (UTC)")
    modified = DateTimeField(default=utcnow, index=True, help_text="When the result was last written (UTC)")
    t_elapsed = _elapsed_column()
    t_overhead = _overhead_column()
    tag = TextField(null=True, default="", index=True, help_text="A label given to the run")

    #> Processing
    pipeline_flags = BitField(default=0, help_text="Processing flags set by Astra")
    flag_failed = pipeline_flags.flag(2**0, help_text=FAILED_HELP)
    error = _error_column()

    class Meta:
        legacy_table_names = False
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
        """Check that every name in ``values`` is a column or a flag of this model (or an old name).

        :param values: a mapping of names to values.
        :raises TypeError: naming the first unknown name and the known ones.
        """
        known = cls.__dict__.get("_astra_known_names")
        if known is None:
            known = frozenset(cls._meta.fields) | set(cls.flag_fields()) | set(cls.aliases())
            cls._astra_known_names = known
        for name in values:
            if name not in known:
                own = [n for n in cls._meta.fields if n not in PipelineOutputMixin._meta.fields]
                raise TypeError(
                    f"{cls.__name__} has no column or flag named {name!r} "
                    f"(columns: {', '.join(own) or 'none'}; flags: {', '.join(cls.flag_fields())})"
                )

    @classmethod
    def validate_model(cls):
        """The rules of :class:`~astra.database.schema.ResultSchema`, and ``task_pk`` the key."""
        super().validate_model()
        if cls._meta.primary_key is not cls._meta.fields.get("task_pk"):
            raise ModelDefinitionError(f"{cls.__name__}: the primary key of a pipeline's results is task_pk")

    def __repr__(self):
        return f"<{type(self).__name__} spectrum_pk={self.spectrum_pk} task_pk={self.task_pk}>"


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
