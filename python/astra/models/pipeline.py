"""The base of a ``@task`` method's results table: :class:`PipelineOutputMixin`.

It is the spectrum-keyed strategy of the one results base, defined with the other in
:mod:`astra.database.models` (where the timing columns and the failure flag are explained) and
importable from here as SDSS Astra's pipeline guide shows::

    from astra.fields import BitField, FloatField
    from astra.models.pipeline import PipelineOutputMixin

    class SNRResult(PipelineOutputMixin):
        \"\"\"Signal-to-noise estimates.\"\"\"

        #> Signal-to-noise
        snr = FloatField(null=True, help_text="Signal-to-noise ratio")
        result_flags = BitField(default=0)
        flag_low_snr = result_flags.flag(2**0, help_text="S/N is below 3")

There is at most one row per spectrum and Astra major.minor version (a unique index on
``spectrum_pk`` and ``v_astra_major_minor``): running the method again under the same
major.minor updates the row in place, keeping its ``task_pk`` and ``created`` time.
"""

from astra.database.models import PipelineOutputMixin, file_mtime_seconds, major_minor

__all__ = ["PipelineOutputMixin", "major_minor", "file_mtime_seconds"]
