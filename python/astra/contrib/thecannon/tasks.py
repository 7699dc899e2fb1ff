"""The Cannon as Luigi tasks: :class:`TrainTheCannon` and :class:`TestTheCannon`.

The training set is a table (CSV or FITS) with one row per training spectrum: a ``release``
column, the data-model keys of the ``species`` (e.g. for dr13 apStar: ``apred``, ``apstar``,
``telescope``, ``field``, ``obj``) and one column per label. :func:`write_training_set` writes
one. The SHA-256 of the table file is computed when the task is built and is a significant
parameter (``training_set_hash``), so editing the table trains (and writes) a new model.

Spectra are continuum-normalised by :class:`~astra.contrib.continuum.ContinuumNormalise`, with
the same settings for training and test spectra (the test task passes its continuum parameters
to the training task). The training task requires all its training spectra as one batch.
"""

import csv
import functools
import hashlib
import json
import os

import numpy as np

import astra
from astra.contrib.thecannon.model import CannonModel
from astra.contrib.continuum import SETTINGS, SPECIES, ContinuumNormalise, read_normalised
from astra.tasks import BaseTask
from astra.tasks.io import LocalTargetTask
from astra.tasks.io.base import SPECTRUM_ID_PARAMETERS, IntKeyParameter, SpectrumKeysMixin
from astra.tasks.removed import removed_task

__all__ = ["TrainTheCannon", "TestTheCannon", "TestTheCannonToDatabase", "read_training_set", "write_training_set",
           "file_hash"]

#: The continuum settings shared by the training task, the test task and ContinuumNormalise.
CONTINUUM_PARAMETERS = ("species", *SETTINGS)


@functools.lru_cache(maxsize=64)
def _hash(path, size, mtime):
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hash(path):
    """The SHA-256 (hex) of a file's content (cached by path, size and modification time).

    :param path: the file.
    """
    stat = os.stat(path)
    return _hash(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def _cell(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value.strip() if isinstance(value, str) else value


def read_training_set(path, label_names, species="apStar"):
    """Read a training-set table: the data-model keys and labels of each training spectrum.

    :param path: a ``.csv`` file (read as text, so keys like ``"009+09"`` stay intact) or a
        FITS table.
    :param label_names: the label columns.
    :param species: the data-model species whose keys the table holds.
    :returns: ``(keys, labels)``: a list of dicts (``release`` and typed data-model keys) and a
        float array ``(n_rows, n_labels)``.
    :raises ValueError: naming the file and the missing columns or bad values.
    """
    if path.lower().endswith(".csv"):
        with open(path, newline="") as fp:
            rows = [{k.strip(): _cell(v) for k, v in row.items()} for row in csv.DictReader(fp)]
        columns = set(rows[0]) if rows else set()
    else:
        from astropy.table import Table

        table = Table.read(path)
        columns = set(table.colnames)
        rows = [{name: _cell(row[name]) for name in table.colnames} for row in table]
    if not rows:
        raise ValueError(f"training set {path} has no rows")
    missing = [c for c in ("release", *label_names) if c not in columns]
    if missing:
        raise ValueError(f"training set {path} lacks column(s) {', '.join(missing)}")
    task_class = SPECIES[species]
    params = dict(task_class.get_params())
    key_names = [k for k in task_class.data_model_keys() if k in columns]
    keys, labels = [], []
    for number, row in enumerate(rows, 1):
        entry = {"release": row["release"]}
        for name in key_names:
            value = row[name]
            if value in ("", None):
                continue
            if isinstance(params[name], IntKeyParameter):
                try:
                    entry[name] = int(value)
                except (TypeError, ValueError):
                    raise ValueError(f"training set {path}, row {number}: {name} {value!r} is not an integer") from None
            else:
                entry[name] = str(value)
        keys.append(entry)
        try:
            labels.append([float(row[name]) for name in label_names])
        except (TypeError, ValueError):
            raise ValueError(f"training set {path}, row {number}: labels {[row[n] for n in label_names]} are not numbers") from None
    return keys, np.array(labels, dtype=float)


def write_training_set(path, keys, labels, label_names=("teff", "logg", "fe_h"), release=None):
    """Write a training-set CSV file (atomically).

    :param path: destination ``.csv``.
    :param keys: one dict of data-model keys per spectrum (e.g. a
        :class:`~astra.tools.synthetic.SampleTree`); may include ``release``.
    :param labels: one dict of labels per spectrum.
    :param label_names: the label columns to write.
    :param release: the release of rows whose keys have none (e.g. ``SampleTree.release``).
    """
    from astra.targets import atomic_open

    names = ["release"] + sorted({k for row in keys for k in row if k != "release"}) + list(label_names)
    with atomic_open(path, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=names)
        writer.writeheader()
        for row, lab in zip(keys, labels):
            writer.writerow({"release": row.get("release", release), **row, **{n: lab[n] for n in label_names}})


def _continuum_parameters(cls):
    """Give ``cls`` ContinuumNormalise's continuum settings (the same parameter objects)."""
    for name in CONTINUUM_PARAMETERS:
        setattr(cls, name, getattr(ContinuumNormalise, name))
    return cls


class _TrainingSetTask(BaseTask):
    """Parameters naming a training set and the model trained on it."""

    # Defaults are "" rather than None: Luigi's batch merging round-trips values through text,
    # where None would come back as the string "None" (another identity).
    training_set = astra.Parameter(default="", description="training-set table (CSV or FITS): release, keys, labels")
    training_set_hash = astra.Parameter(default="", description="SHA-256 of the training set (computed when omitted)")
    label_names = astra.TupleParameter(default=("teff", "logg", "fe_h"), description="label columns to model")
    polynomial_order = astra.IntParameter(default=2, description="polynomial order of the model in the labels")
    regularization = astra.FloatParameter(default=0.0, description="L2 penalty on the non-constant coefficients")
    row = astra.IntParameter(default=0, description="row of a multi-row (apStar) file to use; 0: combined")

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Resolve parameters and fill ``training_set_hash`` from the table's content."""
        values = super().get_param_values(params, args, kwargs)
        by_name = dict(values)
        path = by_name.get("training_set")
        if path and not by_name.get("training_set_hash"):
            path = os.path.expanduser(path)
            if not os.path.exists(path):
                raise FileNotFoundError(f"{cls.get_task_family()}: parameter 'training_set': {path} does not exist")
            by_name["training_set_hash"] = file_hash(path)
        return [(name, by_name[name]) for name, _ in values]


@_continuum_parameters
class TrainTheCannon(_TrainingSetTask):
    """Train The Cannon on continuum-normalised spectra and a table of their labels.

    Output: ``<hash>-thecannon-model.npz`` (see :meth:`CannonModel.save
    <astra.contrib.thecannon.model.CannonModel.save>`).
    """

    def _training_rows(self):
        cached = self.__dict__.get("_rows")
        if cached is None:
            if not self.training_set:
                raise ValueError("TrainTheCannon: parameter 'training_set' is required")
            cached = read_training_set(os.path.expanduser(self.training_set), self.label_names, self.species)
            self._rows = cached
        return cached

    def requires(self):
        """One ContinuumNormalise batch per release in the training set (usually one)."""
        keys, _ = self._training_rows()
        settings = {name: getattr(self, name) for name in CONTINUUM_PARAMETERS}
        batches = []
        for release in dict.fromkeys(k["release"] for k in keys):
            rows = [k for k in keys if k["release"] == release]
            names = sorted({n for row in rows for n in row if n != "release"})
            columns = {n: tuple(row.get(n) for row in rows) for n in names}
            batches.append(ContinuumNormalise(release=release, **settings, **columns))
        return batches

    def output(self):
        """The trained model (``.npz``)."""
        return self.local_target("thecannon-model.npz")

    def run(self):
        """Read the normalised training spectra, train, save the model atomically."""
        from astra.targets import atomic_path

        path = os.path.expanduser(self.training_set)
        if file_hash(path) != self.training_set_hash:
            raise ValueError(f"TrainTheCannon: {path} changed since the task was built (hash differs); rebuild the task")
        keys, labels = self._training_rows()
        targets = [t for batch in self.input() for t in (batch if isinstance(batch, list) else [batch])]
        order = _member_order(self.requires(), keys)
        flux, ivar = [], []
        wavelength = None
        for target in (targets[i] for i in order):
            spectrum = read_normalised(target.path)
            if wavelength is None:
                wavelength = spectrum.wavelength
            elif spectrum.wavelength.shape != wavelength.shape or not np.allclose(spectrum.wavelength, wavelength):
                raise ValueError(f"{target.path}: wavelength grid differs from the other training spectra")
            flux.append(spectrum.flux[min(self.row, len(spectrum.flux) - 1)])
            ivar.append(spectrum.ivar[min(self.row, len(spectrum.ivar) - 1)])
        model = CannonModel(self.label_names, self.polynomial_order, self.regularization)
        model.train(np.array(flux), np.array(ivar), labels)
        metadata = {
            "training_set": os.path.abspath(path),
            "training_set_hash": self.training_set_hash,
            "task_id": self.task_id,
            "continuum": {name: getattr(self, name) for name in CONTINUUM_PARAMETERS},
            "n_pixels": int(wavelength.size),
            "wavelength_range": [float(wavelength[0]), float(wavelength[-1])],
        }
        with atomic_path(self.output().path) as tmp:
            with open(tmp, "wb") as fp:
                model.save(fp, metadata)


def _member_order(batches, keys):
    """Indices into the flattened batch outputs in training-table order (batches group by release)."""
    positions = {}
    offset = 0
    for batch in batches:
        for index in range(batch.get_batch_size()):
            positions.setdefault(batch.release, []).append(offset + index)
        offset += batch.get_batch_size()
    counters = {release: 0 for release in positions}
    order = []
    for row in keys:
        order.append(positions[row["release"]][counters[row["release"]]])
        counters[row["release"]] += 1
    return order


@astra.inherits(ContinuumNormalise)
class TestTheCannon(SpectrumKeysMixin, _TrainingSetTask):
    """Infer labels of continuum-normalised spectra with a trained Cannon model.

    Give the spectra's data-model keys (tuples for a batch), ``release`` and either the
    training set (``training_set``, ``label_names``, ...; the model is then trained first) or
    ``model_path`` (an existing model file). The model is loaded once per batch.

    Output per spectrum: ``<hash>-thecannon.json`` with ``labels``, ``uncertainties``,
    ``chi2``, ``reduced_chi2``, ``n_pixels``, ``flags`` and ``flag_names``. For results in the
    results database, run the ``@task`` :func:`astra.contrib.thecannon.thecannon` over the
    catalogue instead (it loads the same model files).
    """

    __test__ = False  # not a pytest test class
    task_id_parameters = SPECTRUM_ID_PARAMETERS

    model_path = astra.Parameter(default="", description="an existing model (.npz) instead of training one")

    def requires(self):
        """The model (training task or existing file) and the normalised spectra (one batch)."""
        if self.model_path:
            model = LocalTargetTask(path=self.model_path)
        elif self.training_set:
            model = TrainTheCannon(**self.get_common_param_kwargs(TrainTheCannon))
        else:
            raise ValueError("TestTheCannon: give training_set (to train a model) or model_path")
        return {"model": model, "spectra": ContinuumNormalise(**self.get_common_param_kwargs(ContinuumNormalise))}

    def output(self):
        """The labels of one spectrum (JSON)."""
        return self.local_target("thecannon.json")

    def setup(self):
        """Load the model once for the whole batch."""
        path = self.input()["model"].path
        model = CannonModel.load(path)
        if tuple(model.label_names) != tuple(self.label_names) and not self.model_path:
            raise ValueError(f"{path}: model labels {model.label_names} differ from {self.label_names}")
        return model, path

    def fit(self, task, context):
        """Fit the labels of one spectrum.

        :param task: a single-spectrum member.
        :param context: what :meth:`setup` returned.
        :returns: the result dict of :meth:`CannonModel.fit` with the spectrum's identity.
        """
        model, model_path = context
        spectra = task.requires()["spectra"]  # handed down from the batch: no task building
        path = spectra.output().path
        spectrum = read_normalised(path)
        row = min(self.row, len(spectrum.flux) - 1)
        result = model.fit(spectrum.flux[row], spectrum.ivar[row])
        key_names = ["release", *SPECIES[self.species].data_model_keys()]
        result.update(
            task_id=task.task_id,
            model=model_path,
            spectrum=path,
            row=row,
            keys={k: spectra.param_kwargs[k] for k in key_names if spectra.param_kwargs.get(k) is not None},
        )
        return result

    def process(self, task, context):
        """Fit the labels of one spectrum and write the result atomically."""
        result = self.fit(task, context)
        with task.output().open("w") as fp:
            json.dump(result, fp, indent=1)


TestTheCannonToDatabase = removed_task(
    "TestTheCannonToDatabase",
    "a method is written once and the results_output setting says where its results go; run the "
    "@task astra.contrib.thecannon.thecannon over the catalogue (astra run thecannon "
    "ApogeeCoaddedSpectrumInApStar --model-path model.npz, or --training-set training.csv), "
    "which writes TheCannon rows to the results database; TestTheCannon still writes one JSON file per spectrum",
    module=__name__,
)
