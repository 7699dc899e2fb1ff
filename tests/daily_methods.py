"""``@task`` methods for the tests of ``astra daily``: one that refuses some spectra."""

from typing import Iterable

from astra import task
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
from astra.models.pipeline import PipelineOutputMixin


class Fragile(PipelineOutputMixin):
    """Results of :func:`fragile`."""

    #> Value
    value = FloatField(null=True, help_text="Always 1")


@task
def fragile(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], every: int = 4) -> Iterable[Fragile]:
    """Raise on every spectrum whose ``spectrum_pk`` is a multiple of ``every``; else 1.

    :param spectra: apStar catalogue spectra.
    :param every: which spectra to refuse.
    """
    for spectrum in spectra:
        if spectrum.spectrum_pk % every == 0:
            raise ValueError(f"fragile refuses spectrum {spectrum.spectrum_pk}")
        yield Fragile.from_spectrum(spectrum, value=1.0)
