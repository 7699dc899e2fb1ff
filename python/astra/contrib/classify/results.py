"""The results models of :mod:`astra.contrib.classify`.

* :class:`HotCool` -- the rows of the classifier :func:`~astra.contrib.classify.hot_cool`;
* :class:`ContinuumTeff` -- the rows of the downstream method
  :func:`~astra.contrib.classify.continuum_teff`, which runs only on the spectra classed "hot".
"""

from astra.fields import BigIntegerField, BitField, FloatField, IntegerField, TextField
from astra.models.pipeline import PipelineOutputMixin

__all__ = ["HotCool", "ContinuumTeff"]


class HotCool(PipelineOutputMixin):
    """A hot/cool class from the slope of the continuum (``astra.contrib.classify``)."""

    #> Classification
    classification = TextField(null=True, help_text="hot or cool")
    ratio = FloatField(null=True, help_text="Blue-to-red median flux ratio")
    n_pixels = IntegerField(null=True, help_text="Pixels used in the ratio")

    result_flags = BitField(default=0, help_text="The classifier's flags")
    flag_no_pixels = result_flags.flag(2**0, help_text="Too few good pixels in a window")


class ContinuumTeff(PipelineOutputMixin):
    """Effective temperature of a hot star from its continuum (``astra.contrib.classify``)."""

    #> Continuum temperature
    teff = FloatField(null=True, unit="K", help_text="Temperature of the best continuum")
    chi2 = FloatField(null=True, help_text="Sum of squared residuals of the fit")
    n_bins = IntegerField(null=True, help_text="Wavelength bins fitted")
    hot_cool_pk = BigIntegerField(null=True, help_text="task_pk of the HotCool result used")

    result_flags = BitField(default=0, help_text="The fit's flags")
    flag_at_grid_edge = result_flags.flag(2**0, help_text="Best temperature at the grid's edge")
    flag_no_pixels = result_flags.flag(2**1, help_text="Too few good pixels to fit")
