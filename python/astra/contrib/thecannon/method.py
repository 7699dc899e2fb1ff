"""The Cannon as a ``@task``: :func:`thecannon`, labels of catalogue apStar spectra.

::

    astra run thecannon ApogeeCoaddedSpectrumInApStar --model-path model.npz
    astra run thecannon ApogeeCoaddedSpectrumInApStar --training-set training.csv
    luigi --module astra.contrib.thecannon thecannon --spectrum-pk 7 --model-path model.npz --local-scheduler

or from Python::

    from astra.contrib.thecannon import thecannon
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    for result in thecannon(Star.select().limit(10), model_path="model.npz"):
        print(result.spectrum_pk, result.teff, result.logg, result.fe_h)

The model is loaded (or trained) once per call -- once per batch under Luigi -- before the
first spectrum is asked for, so it is the run's overhead (``t_overhead``), shared by its
spectra. Each spectrum is continuum-normalised in memory with the settings the model was
trained with (the model file records them), then fitted. Results are :class:`TheCannon` rows.
"""

import os
from typing import Iterable

from astra import task
from astra.contrib.thecannon.results import TheCannon, result_values
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar

__all__ = ["thecannon", "load_model"]


def _trained_model(training_set, label_names, polynomial_order, regularization):
    """The path of the model trained on ``training_set``, training it first if it is not there."""
    import luigi

    from astra.contrib.thecannon.tasks import TrainTheCannon

    trainer = TrainTheCannon(
        training_set=training_set, label_names=tuple(label_names), polynomial_order=polynomial_order,
        regularization=regularization,
    )
    if not trainer.complete():
        # In this process, with Luigi's local scheduler: the batch is already this process's
        # share of a run (astra srun), and its training spectra are not.
        luigi.build([trainer], local_scheduler=True, workers=1, log_level="WARNING")
        if not trainer.complete():
            raise RuntimeError(
                f"training The Cannon on {training_set} failed (see the log above); run "
                f"`luigi --module astra.contrib.thecannon TrainTheCannon --training-set {training_set} "
                "--local-scheduler` to see why"
            )
    return trainer.output().path


def load_model(model_path="", training_set="", label_names=("teff", "logg", "fe_h"), polynomial_order=2,
               regularization=0.0):
    """The Cannon model a run uses: the file ``model_path``, or the one trained on ``training_set``.

    :param model_path: an existing model (``.npz``, from :class:`TrainTheCannon` or
        :meth:`CannonModel.save <astra.contrib.thecannon.model.CannonModel.save>`).
    :param training_set: a training-set table; the model is trained (by :class:`TrainTheCannon`,
        with its default continuum settings) unless it already was.
    :param label_names: the labels to train on (with ``training_set``).
    :param polynomial_order: the model's polynomial order (with ``training_set``).
    :param regularization: the L2 penalty (with ``training_set``).
    :returns: ``(model, path)``.
    :raises ValueError: if neither or both are given, or the file is not a model; naming it.
    :raises FileNotFoundError: naming a model file that does not exist.
    """
    from astra.contrib.thecannon.model import CannonModel

    if bool(model_path) == bool(training_set):
        raise ValueError("thecannon: give model_path (a trained model) or training_set (to train one), not "
                         + ("both" if model_path else "neither"))
    if training_set:
        path = _trained_model(os.path.expanduser(training_set), label_names, polynomial_order, regularization)
    else:
        path = os.path.abspath(os.path.expanduser(model_path))
        if not os.path.exists(path):
            raise FileNotFoundError(f"thecannon: parameter 'model_path': {path} does not exist")
    try:
        model = CannonModel.load(path)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"thecannon: {path} is not a Cannon model: {error}") from None
    return model, path


def _normaliser(model):
    """Continuum normalisation with the settings the model's training spectra had."""
    from astra.contrib.continuum import Normaliser, SETTINGS

    recorded = model.metadata.get("continuum") or {}
    species = recorded.get("species", "apStar")
    return species, Normaliser(species, {name: recorded[name] for name in SETTINGS if name in recorded})


@task
def thecannon(
    spectra: Iterable[ApogeeCoaddedSpectrumInApStar],
    model_path: str = "",
    training_set: str = "",
    label_names: str = "teff,logg,fe_h",
    polynomial_order: int = 2,
    regularization: float = 0.0,
) -> Iterable[TheCannon]:
    """The labels of each spectrum by The Cannon: the model spectrum that fits it best.

    Give ``model_path`` (a trained model) or ``training_set`` (a table of training spectra and
    their labels, see :func:`~astra.contrib.thecannon.read_training_set`; the model is trained
    on first use and kept). The combined spectrum of each apStar file is fitted.

    :param spectra: catalogue apStar spectra.
    :param model_path: a trained model (``.npz``).
    :param training_set: a training-set table (CSV or FITS), instead of ``model_path``.
    :param label_names: the labels to train on, comma-separated (with ``training_set``).
    :param polynomial_order: polynomial order of the model in the labels (with ``training_set``).
    :param regularization: L2 penalty on the non-constant coefficients (with ``training_set``).
    """
    names = tuple(n.strip() for n in label_names.split(",") if n.strip())
    model, path = load_model(model_path, training_set, names, polynomial_order, regularization)
    species, normaliser = _normaliser(model)
    for spectrum in spectra:
        if spectrum.data_model != species:
            raise ValueError(f"{spectrum.path}: a {spectrum.data_model} spectrum; the model {path} is of {species} spectra")
        arrays = spectrum.read_arrays()
        row = spectrum.spectrum_row if arrays.flux.ndim == 2 else None
        flux, ivar, mask = (a if row is None else a[row] for a in (arrays.flux, arrays.ivar, arrays.mask))
        flux_n, ivar_n, _ = normaliser(arrays.wavelength, flux, ivar, mask)
        try:
            fit = model.fit(flux_n, ivar_n)
        except ValueError as error:  # e.g. another grid than the model's
            raise ValueError(f"{spectrum.path}: {error}") from None
        yield TheCannon.from_spectrum(spectrum, model_path=path, **result_values(fit))
