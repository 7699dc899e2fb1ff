"""The results model of The Cannon: :class:`TheCannon`, one row of labels per catalogue spectrum.

Written by the ``@task`` :func:`astra.contrib.thecannon.thecannon` (``astra run thecannon
ApogeeCoaddedSpectrumInApStar --model-path model.npz``); ``astra create thecannon`` makes the
summary product. The flags are the bits of :data:`astra.contrib.thecannon.model.FLAGS`, named.
"""

from astra.contrib.thecannon.model import FLAGS
from astra.fields import ArrayField, BitField, FloatField, IntegerField, TextField
from astra.models.pipeline import PipelineOutputMixin

__all__ = ["TheCannon", "result_values"]


class TheCannon(PipelineOutputMixin):
    """Labels inferred by The Cannon (``astra.contrib.thecannon.thecannon``)."""

    #> Stellar labels
    teff = FloatField(null=True, unit="K", help_text="Effective temperature")
    e_teff = FloatField(null=True, unit="K", help_text="Uncertainty in effective temperature")
    logg = FloatField(null=True, unit="dex", help_text="Surface gravity (log10 cgs)")
    e_logg = FloatField(null=True, unit="dex", help_text="Uncertainty in surface gravity")
    fe_h = FloatField(null=True, unit="dex", help_text="Metallicity [Fe/H]")
    e_fe_h = FloatField(null=True, unit="dex", help_text="Uncertainty in [Fe/H]")
    label_names = TextField(null=True, help_text="Names of all labels, comma-separated")
    labels = ArrayField(null=True, help_text="Values of all labels, in label_names order")
    e_labels = ArrayField(null=True, help_text="Uncertainties of all labels")

    #> Fit quality
    chi2 = FloatField(null=True, help_text="Chi-squared of the best fit")
    reduced_chi2 = FloatField(null=True, help_text="Reduced chi-squared of the best fit")
    n_pixels = IntegerField(null=True, help_text="Pixels used in the fit")
    model_path = TextField(null=True, help_text="The Cannon model file (.npz)")

    result_flags = BitField(default=0, help_text="The Cannon's flags")
    flag_not_converged = result_flags.flag(FLAGS["NOT_CONVERGED"], help_text="Least squares did not converge")
    flag_outside_training = result_flags.flag(FLAGS["OUTSIDE_TRAINING"], help_text="A label is outside the training set")
    flag_few_pixels = result_flags.flag(FLAGS["FEW_PIXELS"], help_text="Fewer than 100 usable pixels")
    flag_high_chi2 = result_flags.flag(FLAGS["HIGH_CHI2"], help_text="Reduced chi-squared above 3")


#: The flag of :class:`TheCannon` for each bit of :data:`~astra.contrib.thecannon.model.FLAGS`.
_FLAG_NAMES = {
    "NOT_CONVERGED": "flag_not_converged",
    "OUTSIDE_TRAINING": "flag_outside_training",
    "FEW_PIXELS": "flag_few_pixels",
    "HIGH_CHI2": "flag_high_chi2",
}


def result_values(fit):
    """The column values of one fit: what :class:`TheCannon` stores of :meth:`CannonModel.fit`.

    :param fit: the dict returned by :meth:`~astra.contrib.thecannon.model.CannonModel.fit`.
    :returns: a dict of column and flag values for :meth:`TheCannon.from_spectrum`.
    """
    labels, errors = fit["labels"], fit["uncertainties"]
    names = list(labels)
    values = {
        **{name: labels[name] for name in ("teff", "logg", "fe_h") if name in labels},
        **{f"e_{name}": errors[name] for name in ("teff", "logg", "fe_h") if name in errors},
        "label_names": ",".join(names),
        "labels": [labels[n] for n in names],
        "e_labels": [errors[n] for n in names],
        "chi2": fit["chi2"],
        "reduced_chi2": fit["reduced_chi2"],
        "n_pixels": fit["n_pixels"],
    }
    for bit, flag in _FLAG_NAMES.items():
        values[flag] = bool(fit["flags"] & FLAGS[bit])
    return values
