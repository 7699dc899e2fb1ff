"""Rocket's results models.

* :class:`RocketSNR` -- the rows of the ``@task`` method :func:`astra.contrib.rocket.snr`
  (one per catalogue spectrum and Astra major.minor);
* :class:`EstimateSNRResult` -- the rows of the class-style task over data-model keys
  (keyed by task id; it was ``astra.database.examples.EstimateSNRResult``).

Both follow the conventions of every results model: nullable typed columns with short help
text, ``#>`` category headers above each group, and named flags.
"""

from astra.fields import ArrayField, FloatField, IntegerField, flag
from astra.database.models import BaseResult
from astra.fields import BitField
from astra.models.pipeline import PipelineOutputMixin

__all__ = ["RocketSNR", "RocketSNRArrays", "EstimateSNRResult"]


class RocketSNR(PipelineOutputMixin):
    """Signal-to-noise ratio of a catalogue spectrum (``astra.contrib.rocket.snr``)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    snr_visits = ArrayField(null=True, help_text="Per-visit S/N (apStar visit rows)")
    n_visits = IntegerField(null=True, help_text="Number of visits in the spectrum")
    n_pixels = IntegerField(null=True, help_text="Pixels used in the estimate")

    result_flags = BitField(default=0, help_text="Rocket's flags")
    flag_low_snr = result_flags.flag(2**0, help_text="S/N is below 3")
    flag_no_pixels = result_flags.flag(2**1, help_text="Too few good pixels for an S/N")


class EstimateSNRResult(BaseResult):
    """Signal-to-noise ratio of a spectrum (``astra.contrib.rocket.EstimateSNR``)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    snr_visits = ArrayField(null=True, help_text="Per-visit S/N (apStar visit rows)")
    n_visits = IntegerField(null=True, help_text="Number of visits in the spectrum")
    n_pixels = IntegerField(null=True, help_text="Pixels used in the estimate")

    flag_low_snr = flag(2**1, help_text="S/N is below 3")
    flag_no_pixels = flag(2**2, help_text="No unmasked pixels")


class RocketSNRArrays(RocketSNR):
    """Signal-to-noise ratio of a catalogue spectrum by the vectorised method
    ``astra.contrib.rocket.snr_arrays`` (the row's own spectrum; ``snr_visits`` is not set)."""
