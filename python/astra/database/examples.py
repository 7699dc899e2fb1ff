"""An example results model: the signal-to-noise estimates of ``EstimateSNR`` (rocket).

It shows the conventions every results model follows: nullable typed columns with short help
text, ``#>`` category headers above each group, and named flags beside ``flag_failed``.
"""

from astra.database.fields import ArrayField, FloatField, IntegerField, flag
from astra.database.models import BaseResult

__all__ = ["EstimateSNRResult"]


class EstimateSNRResult(BaseResult):
    """Signal-to-noise ratio of a spectrum (``astra.contrib.rocket.EstimateSNR``)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    snr_visits = ArrayField(null=True, help_text="Per-visit S/N (apStar visit rows)")
    n_visits = IntegerField(null=True, help_text="Number of visits in the spectrum")
    n_pixels = IntegerField(null=True, help_text="Pixels used in the estimate")

    flag_low_snr = flag(2**1, help_text="S/N is below 3")
    flag_no_pixels = flag(2**2, help_text="No unmasked pixels")
