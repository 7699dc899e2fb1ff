"""The Cannon's model on plain arrays: training, scatter, saving, label inference and flags."""

import json
import zipfile

import numpy as np
import pytest

from astra.contrib.thecannon.model import FLAGS, CannonModel, design_matrix, terms
from astra.tools import synthetic

NAMES = ("teff", "logg", "fe_h")


def label_array(labels):
    return np.array([[lab[n] for n in NAMES] for lab in labels])


def noisy_spectra(rng, n, snr, wavelength):
    labels = synthetic.draw_labels(rng, n)
    flux = synthetic.model_flux(wavelength, labels)
    return flux + rng.normal(0, 1 / snr, flux.shape), np.full(flux.shape, snr**2), label_array(labels)


def test_terms_and_design():
    assert terms(2) == [(), (0,), (1,), (0, 0), (0, 1), (1, 1)]
    assert len(terms(3)) == 10 and len(terms(3, order=1)) == 4
    design = design_matrix(np.array([[2.0, 3.0]]), terms(2))
    assert design.tolist() == [[1, 2, 3, 4, 6, 9]]
    with pytest.raises(ValueError):
        terms(2, order=3)


def test_exact_quadratic_coefficients_and_scatter_are_recovered():
    rng = np.random.default_rng(0)
    n, n_pixels = 400, 60
    labels = rng.normal([4800, 2.5, -0.3], [400, 0.8, 0.4], (n, 3))
    model = CannonModel(NAMES)
    x = (labels - labels.mean(0)) / labels.std(0)
    theta = rng.normal(0, 0.02, (n_pixels, 10))
    theta[:, 0] = 0.9
    scatter = np.where(np.arange(n_pixels) < 30, 0.0, 0.02)
    sigma = 0.005
    flux = design_matrix(x, model.terms) @ theta.T + rng.normal(0, 1, (n, n_pixels)) * np.sqrt(sigma**2 + scatter**2)
    model.train(flux, np.full(flux.shape, sigma**-2), labels)
    assert np.allclose(model.theta[:30], theta[:30], atol=1.5e-3)  # noise 0.005 / sqrt(400) per point
    assert np.allclose(model.theta[30:], theta[30:], atol=6e-3)  # noise 0.02 / sqrt(400) per point
    s = np.sqrt(model.s2)
    assert np.all(s[:30] < 0.004)
    assert np.allclose(s[30:], 0.02, rtol=0.15)


def test_labels_recovered_from_synthetic_arrays():
    rng = np.random.default_rng(1)
    wavelength = synthetic.apogee_wavelength()[::4]  # every 4th pixel: fast
    flux, ivar, labels = noisy_spectra(rng, 250, 100, wavelength)
    model = CannonModel(NAMES).train(flux, ivar, labels)
    test_flux, test_ivar, truth = noisy_spectra(rng, 30, 100, wavelength)
    fits = [model.fit(f, i) for f, i in zip(test_flux, test_ivar)]
    inferred = np.array([[r["labels"][n] for n in NAMES] for r in fits])
    rms = np.sqrt(np.mean((inferred - truth) ** 2, axis=0))
    assert rms[0] < 100 and rms[1] < 0.2 and rms[2] < 0.1, rms
    reduced = np.array([r["reduced_chi2"] for r in fits])
    assert 0.7 < np.median(reduced) < 1.5
    errors = np.array([[r["uncertainties"][n] for n in NAMES] for r in fits])
    assert np.all(errors > 0) and np.all(np.isfinite(errors))
    assert all(r["flags"] == 0 for r in fits)


def test_save_load_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(2)
    wavelength = synthetic.apogee_wavelength()[::20]
    flux, ivar, labels = noisy_spectra(rng, 60, 80, wavelength)
    ivar[:, :5] = 0  # pixels without data: not used
    model = CannonModel(NAMES, regularization=0.1).train(flux, ivar, labels)
    path = tmp_path / "model.npz"
    with open(path, "wb") as fp:
        model.save(fp, {"training_set_hash": "abc"})
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            f"{n}.npy" for n in ("theta", "s2", "offsets", "scales", "label_min", "label_max", "metadata")
        )
    loaded = CannonModel.load(str(path))
    assert loaded.label_names == NAMES and loaded.regularization == 0.1
    assert loaded.metadata["training_set_hash"] == "abc" and loaded.metadata["n_training"] == 60
    assert np.array_equal(loaded.theta, model.theta) and np.array_equal(loaded.s2, model.s2)
    assert np.all(np.isinf(loaded.s2[:5]))
    result = loaded.fit(flux[0], ivar[0])
    assert result["n_pixels"] == wavelength.size - 5
    assert json.dumps(result)  # JSON-serialisable
    bogus = tmp_path / "other.npz"
    np.savez(bogus, theta=np.zeros(3), metadata=np.array(json.dumps({"format": "x"})))
    with pytest.raises(ValueError, match="not an Astra Cannon model"):
        CannonModel.load(str(bogus))


def test_flags_and_errors():
    rng = np.random.default_rng(3)
    wavelength = synthetic.apogee_wavelength()[::10]
    flux, ivar, labels = noisy_spectra(rng, 80, 100, wavelength)
    model = CannonModel(NAMES).train(flux, ivar, labels)
    # A spectrum far hotter than anything in the training set.
    hot = model.predict([[9000.0, 2.5, -0.3]])[0]
    result = model.fit(hot, np.full(hot.size, 1e4))
    assert result["flags"] & FLAGS["OUTSIDE_TRAINING"] and "OUTSIDE_TRAINING" in result["flag_names"]
    # Pure noise around 1 fits badly.
    result = model.fit(1 + rng.normal(0, 0.2, hot.size), np.full(hot.size, 1e4))
    assert result["flags"] & FLAGS["HIGH_CHI2"]
    with pytest.raises(ValueError, match="pixels"):
        model.fit(flux[0][:10], ivar[0][:10])
    with pytest.raises(ValueError, match="same value"):
        CannonModel(NAMES).train(flux, ivar, np.column_stack([labels[:, :2], np.zeros(len(labels))]))
    with pytest.raises(ValueError, match="cannot fit"):
        CannonModel(NAMES).train(flux[:5], ivar[:5], labels[:5])
