"""The results model of The Cannon: one row of labels per spectrum (``astra create thecannon``)."""

from astra.database.fields import ArrayField, FloatField, IntegerField, TextField, flag
from astra.database.models import BaseResult

__all__ = ["TheCannonResult"]


class TheCannonResult(BaseResult):
    """Labels inferred by The Cannon (``astra.contrib.thecannon.TestTheCannonToDatabase``)."""

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

    flag_not_converged = flag(2**1, help_text="Least squares did not converge")
    flag_outside_training = flag(2**2, help_text="A label is outside the training set")
    flag_few_pixels = flag(2**3, help_text="Fewer than 100 usable pixels")
    flag_high_chi2 = flag(2**4, help_text="Reduced chi-squared above 3")
