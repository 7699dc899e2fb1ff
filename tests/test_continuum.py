"""Continuum normalisation: the pure functions, and the task on real and synthetic files."""

import os

import numpy as np
import pytest

import astra
from astra.contrib.continuum import (
    DEFAULT_CONTINUUM_PIXELS,
    ContinuumNormalise,
    fit_continuum,
    load_continuum_pixels,
    normalise,
    read_normalised,
    sinusoid_design,
)
from astra.tools import synthetic
from astra.tools.spectrum import read_spectrum

from real_files import DR13, REAL_APSTAR

LABELS = {"teff": 4600.0, "logg": 2.3, "fe_h": -0.4}


def robust_std(x):
    """1.4826 x the median absolute deviation."""
    return 1.4826 * np.median(np.abs(x - np.median(x)))


def test_design_matrix_columns():
    x = np.linspace(15000, 16000, 11)
    design = sinusoid_design(x, order=2, length_scale=1400.0)
    assert design.shape == (11, 5)
    assert np.allclose(design[:, 0], 1)
    assert np.allclose(design[:, 1], np.sin(2 * np.pi * x / 1400.0))
    assert np.allclose(design[:, 4], np.cos(4 * np.pi * x / 1400.0))


def test_exact_sinusoid_is_recovered_per_region():
    wavelength = synthetic.apogee_wavelength()
    truth = 100 + 5 * np.sin(2 * np.pi * wavelength / 1400.0) + 3 * np.cos(4 * np.pi * wavelength / 1400.0)
    truth = truth + np.where(wavelength >= 16454, 20.0, 0.0)  # a jump between chips: fitted separately
    ivar = np.ones_like(truth)
    continuum, used = fit_continuum(wavelength, truth, ivar, order=2)
    on = ~np.isnan(continuum)
    assert on.sum() > 8000
    assert np.allclose(continuum[on], truth[on], rtol=1e-6)
    flux_n, ivar_n, _ = normalise(wavelength, truth, ivar, order=2)
    assert np.allclose(flux_n[on], 1.0) and np.allclose(ivar_n[on], truth[on] ** 2)


def test_bad_pixels_and_gaps_get_unit_flux_and_zero_ivar():
    wavelength = synthetic.apogee_wavelength()
    flux = np.full((2, wavelength.size), 50.0)
    ivar = np.full_like(flux, 0.04)
    ivar[:, :100] = 0  # before the first chip: no data
    bad = np.zeros(wavelength.size, dtype=bool)
    bad[4000:4010] = True
    flux[:, 4000:4010] = 1e5  # flagged cosmic: must not pull the fit
    flux_n, ivar_n, continuum = normalise(wavelength, flux, ivar, mask=bad)
    assert flux_n.shape == flux.shape
    assert np.all(ivar_n[:, :100] == 0) and np.all(flux_n[:, :100] == 1)
    assert np.all(ivar_n[:, 4000:4010] == 0)
    assert np.allclose(continuum[:, 200:3000], 50.0)


def test_clipping_ignores_absorption_lines():
    wavelength = synthetic.apogee_wavelength()
    rng = np.random.default_rng(1)
    flux = 200 * synthetic.model_flux(wavelength, LABELS) + rng.normal(0, 1.0, wavelength.size)
    ivar = np.ones_like(flux)
    continuum, used = fit_continuum(wavelength, flux, ivar)  # no continuum mask at all
    on = synthetic.apogee_chip_mask(wavelength) & np.isfinite(continuum)
    assert np.median(np.abs(continuum[on] / 200 - 1)) < 0.01
    assert used.sum() < 0.9 * on.sum()  # line pixels were rejected


def test_shipped_mask_loads():
    pixels = load_continuum_pixels()
    assert os.path.getsize(DEFAULT_CONTINUUM_PIXELS) < 100_000
    assert pixels.shape == (8575,) and pixels.dtype == bool
    wavelength = synthetic.apogee_wavelength()
    for lo, hi in synthetic.APOGEE_CHIPS:
        assert (pixels & (wavelength >= lo) & (wavelength <= hi)).sum() >= 50


def test_mask_from_text_file(tmp_path):
    path = tmp_path / "pixels.txt"
    np.savetxt(path, [10, 20, 30], fmt="%d")
    pixels = load_continuum_pixels(str(path))
    assert pixels.sum() == 3 and pixels[20]
    with pytest.raises(FileNotFoundError, match="continuum_pixels"):
        load_continuum_pixels(str(tmp_path / "nope.npy"))


def _check_synthetic_rows(output_path, truth_labels):
    spectrum = read_normalised(output_path)
    truth = synthetic.model_flux(spectrum.wavelength, truth_labels)
    for flux, ivar in zip(spectrum.flux, spectrum.ivar):
        good = ivar > 0
        chi = (flux[good] - truth[good]) * np.sqrt(ivar[good])
        assert abs(np.median(chi)) < 0.3  # unbiased to a fraction of the noise
        assert robust_std(chi) < 1.2  # residuals are the noise


def test_task_recovers_synthetic_apstar_and_apvisit(tmp_path, monkeypatch):
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    stars = synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=5, snr=100,
                                        labels=[LABELS] * 3)
    visits = synthetic.write_sample_tree(sas, 2, release="dr13", species="apVisit", seed=6, snr=80,
                                         labels=[LABELS] * 2)
    star_tasks = [ContinuumNormalise(release="dr13", **k) for k in stars]
    visit_tasks = [ContinuumNormalise(release="dr13", species="apVisit", **k) for k in visits]
    summary = astra.build(star_tasks + visit_tasks)
    assert summary.done == 5 and not summary.failed, summary
    assert summary.tasks == 2  # one batch per species
    for task in star_tasks:
        _check_synthetic_rows(task.output().path, LABELS)
    for task in visit_tasks:  # observed frame: the lines are Doppler shifted; check the continuum
        spectrum = read_normalised(task.output().path)
        good = spectrum.ivar[0] > 0
        assert abs(np.median(spectrum.flux[0][good]) - np.median(synthetic.model_flux(spectrum.wavelength[good], LABELS))) < 0.01


def test_multi_visit_apstar_every_row_normalised(tmp_path, monkeypatch):
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    keys = synthetic.write_sample_tree(sas, 1, release="dr13", species="apStar", seed=7, snr=150, n_visits=3,
                                       labels=[LABELS])
    task = ContinuumNormalise(release="dr13", **keys[0])
    assert astra.build([task]).done == 1
    spectrum = read_normalised(task.output().path)
    assert spectrum.flux.shape == (5, 8575)
    truth = synthetic.model_flux(spectrum.wavelength, LABELS)
    for flux, ivar in zip(spectrum.flux, spectrum.ivar):
        good = ivar > 0
        assert abs(np.median(flux[good] - truth[good])) < 0.005


def test_task_normalises_synthetic_boss(tmp_path, monkeypatch):
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    labels = {"teff": 5500.0, "logg": 4.2, "fe_h": -0.3}
    keys = synthetic.write_sample_tree(sas, 2, release="dr13", species="spec", seed=8, snr=60, labels=[labels] * 2)
    tasks = [ContinuumNormalise(release="dr13", species="spec", **k) for k in keys]
    assert astra.build(tasks).done == 2
    for task in tasks:
        spectrum = read_normalised(task.output().path)
        truth = synthetic.model_flux(spectrum.wavelength, labels)
        good = spectrum.ivar[0] > 0
        residual = spectrum.flux[0][good] - truth[good]
        assert abs(np.median(residual)) < 0.01
        assert robust_std(residual * np.sqrt(spectrum.ivar[0][good])) < 1.3


def test_output_identity_follows_settings(tmp_path):
    a = ContinuumNormalise(**DR13, field="120-45", obj="2M00452143+1634446")
    b = ContinuumNormalise(**DR13, field="120-45", obj="2M00452143+1634446", order=4)
    assert a.output().path != b.output().path
    with pytest.raises(ValueError, match="ContinuumNormalise: unknown data model .apStuff."):
        ContinuumNormalise(**DR13, species="apStuff", field="x", obj="y").requires()


def test_unreadable_file_fails_alone(tmp_path, monkeypatch):
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    keys = synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=9, corrupt=1)
    summary = astra.build([ContinuumNormalise(release="dr13", **k) for k in keys])
    assert summary.done == 2 and len(summary.failed) == 1


# ---------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_real_apstar_files(real_sas, monkeypatch):
    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    task = ContinuumNormalise(field=tuple(REAL_APSTAR), obj=tuple(REAL_APSTAR.values()), **DR13)
    summary = astra.build([task])
    assert summary.done == 4 and not summary.failed, summary
    pixels = load_continuum_pixels()
    for member in task.get_batch_tasks():
        source = read_spectrum(member.input().path, kind="apStar")
        spectrum = read_normalised(member.output().path)
        assert spectrum.flux.shape == source.flux.shape  # every row
        snr = source.meta["snr"][0]
        for flux, ivar in zip(spectrum.flux, spectrum.ivar):
            on = pixels & (ivar > 0)
            assert on.sum() > 200
            tolerance = 0.02 if snr > 50 else 0.05
            assert abs(np.median(flux[on]) - 1) < tolerance, (member.obj, snr)
        # Absorption shows as flux below 1 overall (more pixels below the continuum than above).
        good = spectrum.ivar[0] > 0
        if snr > 50:
            assert np.percentile(spectrum.flux[0][good], 10) < 0.97


@pytest.mark.realdata
def test_real_apvisit_and_boss(real_sas, monkeypatch):
    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    visit = ContinuumNormalise(species="apVisit", release="dr13", apred="r6", telescope="apo25m", plate=6561,
                               mjd=56587, fiber=131)
    visit16 = ContinuumNormalise(species="apVisit", release="dr16", apred="r12", telescope="apo25m", field="N188",
                                 plate=5095, mjd=55844, fiber=128)
    boss = ContinuumNormalise(species="spec", release="dr13", run2d="v5_10_0", plateid=3586, mjd=55181, fiberid=500)
    summary = astra.build([visit, visit16, boss])
    assert summary.done == 3 and not summary.failed, summary
    for task in (visit, visit16, boss):
        source = read_spectrum(task.input().path, kind=task.species)
        spectrum = read_normalised(task.output().path)
        options = task.fit_options()
        _, used = fit_continuum(source.spectral_axis.value, source.flux.value, source.uncertainty.array,
                                mask=source.mask, **options)
        on = used & (spectrum.ivar[0] > 0)
        assert on.sum() > 1000
        assert abs(np.median(spectrum.flux[0][on]) - 1) < 0.02, task
        assert 0.9 < np.median(spectrum.flux[0][spectrum.ivar[0] > 0]) < 1.05


def test_the_old_module_path_still_imports_and_says_where_it_moved():
    import importlib
    import sys

    import astra.contrib.continuum

    sys.modules.pop("astra.tasks.continuum", None)
    with pytest.warns(DeprecationWarning, match="moved to astra.contrib.continuum"):
        old = importlib.import_module("astra.tasks.continuum")
    assert old.ContinuumNormalise is astra.contrib.continuum.ContinuumNormalise
    assert old.normalise is astra.contrib.continuum.normalise
