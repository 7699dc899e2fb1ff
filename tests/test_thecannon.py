"""The Cannon through Luigi: continuum task -> training task -> test task, on synthetic SAS trees."""

import json
import os

import numpy as np
import pytest

import astra
from astra.contrib.thecannon import CannonModel, TrainTheCannon, read_training_set, write_training_set
from astra.contrib.thecannon import TestTheCannon as CannonTest  # not collected by pytest
from astra.contrib.continuum import ContinuumNormalise
from astra.tools import synthetic

NAMES = ("teff", "logg", "fe_h")


def make_sample(tmp_path, monkeypatch, n_train, n_test, snr=100):
    """A synthetic SAS tree with training and test apStar files, and the training-set CSV."""
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    train = synthetic.write_sample_tree(sas, n_train, release="dr13", species="apStar", seed=11, snr=snr)
    test = synthetic.write_sample_tree(sas, n_test, release="dr13", species="apStar", seed=12, snr=snr)
    training_set = str(tmp_path / "training.csv")
    write_training_set(training_set, train, train.labels, NAMES, release="dr13")
    return train, test, training_set


def one_to_one_plot(path, truth, inferred):
    """Inferred against true labels, one panel per label (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NAMES), figsize=(12, 4))
    for index, (ax, name) in enumerate(zip(axes, NAMES)):
        x, y = truth[:, index], inferred[:, index]
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k:", lw=1)
        ax.scatter(x, y, s=10)
        rms = np.sqrt(np.mean((y - x) ** 2))
        ax.set_title(f"{name}: rms {rms:.3g}, bias {np.mean(y - x):.2g}")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"The Cannon {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@pytest.mark.slow
def test_end_to_end_recovers_held_out_labels(tmp_path, monkeypatch):
    train, test, training_set = make_sample(tmp_path, monkeypatch, 300, 50)
    tasks = [CannonTest(release="dr13", training_set=training_set, **keys) for keys in test]
    summary = astra.build(tasks)
    assert summary.done == 50 and not summary.failed, summary
    assert summary.tasks == 1  # one batch for the 50 test spectra

    results = [json.load(open(t.output().path)) for t in tasks]
    inferred = np.array([[r["labels"][n] for n in NAMES] for r in results])
    truth = np.array([[lab[n] for n in NAMES] for lab in test.labels])
    rms = np.sqrt(np.mean((inferred - truth) ** 2, axis=0))
    print(f"RMS teff {rms[0]:.1f} K, logg {rms[1]:.3f}, fe_h {rms[2]:.3f}")
    assert rms[0] < 100 and rms[1] < 0.2 and rms[2] < 0.1, rms
    for r in results:
        assert set(r) >= {"labels", "uncertainties", "chi2", "reduced_chi2", "flags", "n_pixels"}
        assert r["n_pixels"] > 7000 and 0.5 < r["reduced_chi2"] < 2

    plot = tmp_path / "one-to-one.png"
    one_to_one_plot(plot, truth, inferred)
    assert plot.exists() and plot.stat().st_size > 20_000

    # The model followed the training set and settings; it is a pickle-free .npz.
    trainer = TrainTheCannon(training_set=training_set)
    assert os.path.exists(trainer.output().path)
    model = CannonModel.load(trainer.output().path)
    assert model.metadata["training_set_hash"] == trainer.training_set_hash
    assert model.metadata["n_training"] == 300

    # Re-running does nothing; a given model file gives the same labels.
    assert astra.build(tasks).skipped == 50
    again = CannonTest(release="dr13", model_path=trainer.output().path, **test[0])
    assert astra.build([again]).done == 1
    first = json.load(open(again.output().path))
    assert first["labels"] == pytest.approx(results[0]["labels"])


def test_small_pipeline_and_identity(tmp_path, monkeypatch):
    train, test, training_set = make_sample(tmp_path, monkeypatch, 40, 3, snr=60)
    tasks = [CannonTest(release="dr13", training_set=training_set, **keys) for keys in test]
    summary = astra.build(tasks)
    assert summary.done == 3 and not summary.failed, summary
    trainer = tasks[0].requires()["model"]
    assert isinstance(trainer, TrainTheCannon)
    batches = trainer.requires()
    assert len(batches) == 1 and batches[0].get_batch_size() == 40  # one continuum batch
    assert isinstance(batches[0], ContinuumNormalise)

    # Significant settings move the model; editing the table changes its hash and path.
    regularised = TrainTheCannon(training_set=training_set, regularization=1.0)
    assert regularised.output().path != trainer.output().path
    other_continuum = TrainTheCannon(training_set=training_set, order=4)
    assert other_continuum.output().path != trainer.output().path
    with open(training_set, "a") as fp:
        fp.write("")  # same content: same task
    assert TrainTheCannon(training_set=training_set).task_id == trainer.task_id
    rows = open(training_set).read().splitlines()
    with open(training_set, "w") as fp:
        fp.write("\n".join(rows[:-1]) + "\n")
    edited = TrainTheCannon(training_set=training_set)
    assert edited.training_set_hash != trainer.training_set_hash
    assert edited.output().path != trainer.output().path
    # The stale task notices that its table changed.
    with pytest.raises(ValueError, match="changed since"):
        trainer.run()


def test_training_set_table(tmp_path):
    path = str(tmp_path / "t.csv")
    keys = [{"apred": "r6", "apstar": "stars", "telescope": "apo25m", "field": "009+09", "prefix": "ap",
             "obj": "2M17334253-1654573"}]
    write_training_set(path, keys, [{"teff": 4000.0, "logg": 1.5, "fe_h": 0.1}], release="dr13")
    read_keys, labels = read_training_set(path, NAMES)
    assert read_keys == [dict(keys[0], release="dr13")]  # "009+09" stays text
    assert labels.tolist() == [[4000.0, 1.5, 0.1]]
    with pytest.raises(ValueError, match="lacks column"):
        read_training_set(path, ("teff", "vmic"))
    from astropy.table import Table

    fits_path = str(tmp_path / "t.fits")
    Table(rows=[("dr13", "r6", "stars", "apo25m", "009+09", "2M17334253-1654573", 4000.0, 1.5, 0.1)],
          names=("release", "apred", "apstar", "telescope", "field", "obj", *NAMES)).write(fits_path)
    read_keys, labels = read_training_set(fits_path, NAMES)
    assert read_keys[0]["field"] == "009+09" and labels[0, 0] == 4000.0


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="training_set"):
        TrainTheCannon(training_set=str(tmp_path / "nope.csv"))
    task = CannonTest(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="x", obj="y")
    with pytest.raises(ValueError, match="training_set .* or model_path"):
        task.requires()
