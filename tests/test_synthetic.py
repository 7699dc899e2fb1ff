"""astra.tools.synthetic: files that follow the SDSS data models and a learnable spectral model."""

import os

import numpy as np
import pytest
from astropy.io import fits
from scipy.optimize import least_squares

from astra.tools import synthetic
from astra.tools.spectrum import Spectrum1D, SpectrumReadError, read_spectrum
from astra.tools.synthetic import fitsbytes

LABELS = {"teff": 4800.0, "logg": 2.6, "fe_h": -0.2}


def _verify(path):
    """astropy reads the file back cleanly (header cards, padding, table layout)."""
    with fits.open(path) as hdul:
        hdul.verify("exception")
        for hdu in hdul:
            hdu.data  # noqa: B018 - forces reading every data unit
        return len(hdul)


def test_every_writer_produces_valid_fits(tmp_path):
    writers = {
        "apStar-r6-2M1.fits": (synthetic.write_apstar, {"n_visits": 2, "extras": True}, 10),
        "apVisit-r6-1-2-003.fits": (synthetic.write_apvisit, {"extras": True}, 12),
        "aspcapStar-r6-2M1.fits": (synthetic.write_aspcapstar, {}, 5),
        "spec-1-2-3.fits": (synthetic.write_boss_spec, {}, 4),
        "mwmStar-0.6.0-1.fits": (synthetic.write_mwmstar, {}, 5),
        "mwmVisit-0.6.0-1.fits": (synthetic.write_mwmvisit, {}, 5),
    }
    for name, (writer, kwargs, n_hdus) in writers.items():
        path = writer(tmp_path / name, seed=1, **kwargs)
        assert _verify(path) == n_hdus, name
    assert sorted(os.listdir(tmp_path)) == sorted(writers)  # no temporary files left


def test_card_formatting_round_trips():
    cards = [
        fitsbytes.card("FLOAT", 6e-06, "tiny"),
        fitsbytes.card("WHOLE", 100.0),
        fitsbytes.card("INT", -2147481600),
        fitsbytes.card("BOOL", False),
        fitsbytes.card("TEXT", "it's", "quote"),
        fitsbytes.card("HISTORY", "some history"),
    ]
    header = fits.Header.fromstring(fitsbytes.header_bytes(cards).decode())
    assert header["FLOAT"] == 6e-06 and isinstance(header["WHOLE"], float)
    assert header["INT"] == -2147481600 and header["BOOL"] is False
    assert header["TEXT"] == "it's" and header.comments["TEXT"] == "quote"
    with pytest.raises(ValueError, match="longer than 8"):
        fitsbytes.card("APOGEE_ID", "x")


def test_same_seed_same_file(tmp_path):
    a = synthetic.write_apstar(tmp_path / "a.fits", seed=5, n_visits=2)
    b = synthetic.write_apstar(tmp_path / "b.fits", seed=5, n_visits=2)
    with fits.open(a) as ha, fits.open(b) as hb:
        np.testing.assert_array_equal(ha[1].data, hb[1].data)
        assert ha[0].header["OBJID"] == hb[0].header["OBJID"]


def test_atomic_overwrite(tmp_path):
    path = tmp_path / "apStar-r6-2M1.fits"
    synthetic.write_apstar(path, seed=1)
    synthetic.write_apstar(path, seed=2, n_visits=3)
    assert Spectrum1D.read(str(path)).flux.shape == (5, 8575)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("snr", [20.0, 100.0])
def test_apstar_round_trip_noise_matches_snr(tmp_path, snr):
    path = synthetic.write_apstar(
        tmp_path / "apStar-r6-2M1.fits", snr=snr, labels=LABELS, seed=11, flux_scale=300.0
    )
    spectrum = Spectrum1D.read(str(path))
    wavelength = spectrum.spectral_axis.value
    on = synthetic.apogee_chip_mask(wavelength)
    continuum = synthetic.continuum_flux(wavelength, LABELS["teff"], 300.0)
    truth = continuum * synthetic.model_flux(wavelength, LABELS)
    good = on & ~spectrum.mask[0]
    pulls = (spectrum.flux.value[0] - truth)[good] * np.sqrt(spectrum.uncertainty.array[0][good])
    assert np.std(pulls) == pytest.approx(1.0, abs=0.05)
    measured = np.median(continuum[good] * np.sqrt(spectrum.uncertainty.array[0][good]))
    assert measured == pytest.approx(snr, rel=0.02)
    header = spectrum.meta["header"]
    assert header["SYN_SNR"] == snr and header["SYN_LOGG"] == LABELS["logg"]
    assert spectrum.meta["snr"][0] == pytest.approx(snr, rel=0.12)


def test_apvisit_round_trip(tmp_path):
    path = synthetic.write_apvisit(
        tmp_path / "apVisit-r6-1-2-003.fits", snr=60, labels=LABELS, seed=3, v_rad=0.0,
        flux_scale=200.0, survey="apogee",
    )
    spectrum = Spectrum1D.read(str(path))
    wavelength = spectrum.spectral_axis.value
    continuum = synthetic.continuum_flux(wavelength, LABELS["teff"], 200.0)
    truth = continuum * synthetic.model_flux(wavelength, LABELS)
    good = ~spectrum.mask
    pulls = (spectrum.flux.value - truth)[good] * np.sqrt(spectrum.uncertainty.array[good])
    assert np.std(pulls) == pytest.approx(1.0, abs=0.05)
    assert spectrum.meta["header"]["SURVEY"] == "apogee"


def test_apvisit_doppler_shift(tmp_path):
    wavelength = synthetic.apogee_wavelength()
    rest = synthetic.model_flux(wavelength, LABELS)
    shifted = synthetic.model_flux(wavelength, LABELS, v_rad=100.0)
    lag = np.argmax(np.correlate(1 - shifted, 1 - rest, mode="full")) - (wavelength.size - 1)
    assert lag == round(np.log10(1 + 100 / 299792.458) / 6e-6)


def test_boss_round_trip(tmp_path):
    path = synthetic.write_boss_spec(tmp_path / "spec-1-2-3.fits", snr=25, labels=LABELS, seed=4)
    spectrum = Spectrum1D.read(str(path))
    with fits.open(path) as hdul:
        model = hdul[1].data["model"]
        assert hdul[0].header["TELESCOP"] == "SDSS 2.5-M"
    good = ~spectrum.mask
    pulls = (spectrum.flux.value - model)[good] * np.sqrt(spectrum.uncertainty.array[good])
    assert np.std(pulls) == pytest.approx(1.0, abs=0.06)


def test_model_flux_shape_and_label_sensitivity():
    wavelength = synthetic.apogee_wavelength()
    flux = synthetic.model_flux(wavelength, LABELS)
    assert flux.shape == wavelength.shape
    assert np.all((flux > 0) & (flux <= 1))
    assert np.mean(flux > 0.999) > 0.3  # there is continuum between the lines
    assert flux.min() < 0.7  # and there are strong lines

    def gradient(name, step):
        up, down = dict(LABELS), dict(LABELS)
        up[name] += step
        down[name] -= step
        return synthetic.model_flux(wavelength, up) - synthetic.model_flux(wavelength, down)

    grads = {"teff": gradient("teff", 100), "logg": gradient("logg", 0.2), "fe_h": gradient("fe_h", 0.1)}
    top = {k: set(np.argsort(-np.abs(g))[:200]) for k, g in grads.items()}
    # Different lines respond to different labels.
    assert len(top["teff"] & top["fe_h"]) < 60 and len(top["teff"] & top["logg"]) < 60
    # Responses are non-linear: the second difference is not zero.
    hot, cool = dict(LABELS, teff=5400.0), dict(LABELS, teff=4200.0)
    curvature = synthetic.model_flux(wavelength, hot) + synthetic.model_flux(wavelength, cool) \
        - 2 * synthetic.model_flux(wavelength, dict(LABELS, teff=4800.0))
    assert np.abs(curvature).max() > 0.01
    many = synthetic.model_flux(wavelength, [LABELS, hot])
    assert many.shape == (2, wavelength.size)
    np.testing.assert_allclose(many[0], flux)


def test_continuum_is_smooth_and_varies_across_chips():
    wavelength = synthetic.apogee_wavelength()
    continuum = synthetic.continuum_flux(wavelength, 4750, scale=1.0)
    assert continuum[np.searchsorted(wavelength, 16000.0)] == pytest.approx(1.0, rel=1e-3)
    assert 0.05 < continuum.max() / continuum.min() - 1 < 0.5
    assert np.abs(np.diff(continuum, 2)).max() < 1e-6  # smooth
    blue, red = synthetic.APOGEE_CHIPS[0], synthetic.APOGEE_CHIPS[2]
    mean = [continuum[(wavelength > lo) & (wavelength < hi)].mean() for lo, hi in (blue, red)]
    assert abs(mean[0] - mean[1]) > 0.03


def test_cannon_recovers_labels_at_snr_100():
    """A per-pixel quadratic model (The Cannon) trained on 400 spectra recovers held-out labels."""
    rng = np.random.default_rng(1)
    wavelength = synthetic.apogee_wavelength()
    on = synthetic.apogee_chip_mask(wavelength)

    def as_array(labels):
        return np.array([[d["teff"], d["logg"], d["fe_h"]] for d in labels])

    train, test = as_array(synthetic.draw_labels(rng, 400)), as_array(synthetic.draw_labels(rng, 60))
    flux_train = synthetic.model_flux(wavelength, train)[:, on]
    flux_test = synthetic.model_flux(wavelength, test)[:, on]
    flux_train += rng.standard_normal(flux_train.shape) / 100.0
    flux_test += rng.standard_normal(flux_test.shape) / 100.0

    mu, sd = train.mean(0), train.std(0)

    def design(labels):
        t, g, f = ((np.atleast_2d(labels) - mu) / sd).T
        return np.stack([np.ones_like(t), t, g, f, t * t, g * g, f * f, t * g, t * f, g * f], 1)

    theta, *_ = np.linalg.lstsq(design(train), flux_train, rcond=None)
    estimates = np.array(
        [least_squares(lambda p, f=f: (design(p) @ theta)[0] - f, x0=mu).x for f in flux_test]
    )
    error = np.abs(estimates - test)
    limits = np.array([100.0, 0.2, 0.1])
    assert np.all(np.sqrt((error**2).mean(0)) < limits / 2)
    assert np.all(np.percentile(error, 95, axis=0) < limits)


def test_draw_labels_within_ranges():
    labels = synthetic.draw_labels(np.random.default_rng(0), 500)
    for name, (lo, hi) in synthetic.LABEL_RANGES.items():
        values = np.array([d[name] for d in labels])
        assert lo <= values.min() and values.max() <= hi
        assert values.std() > 0


def test_write_sample_tree_dr13_apstar(tmp_path):
    from astra.datamodels.paths import full_path

    keys = synthetic.write_sample_tree(tmp_path, 12, release="dr13", species="apStar", seed=3,
                                       corrupt=3, n_visits=2)
    assert len(keys) == 12 and len(keys.paths) == 12 and len(keys.labels) == 12
    assert sorted(keys.corrupt.values()) == ["empty", "not-fits", "truncated"]
    for i, (k, path, labels) in enumerate(zip(keys, keys.paths, keys.labels)):
        assert set(k) == {"apred", "apstar", "telescope", "prefix", "field", "obj"}
        assert (k["apred"], k["apstar"], k["telescope"], k["prefix"]) == ("r6", "stars", "apo25m", "ap")
        assert k["obj"].startswith("2M") and len(k["obj"]) == 18
        assert path == full_path("dr13", "apStar", sas_base_dir=str(tmp_path), **k)
        assert os.path.basename(path) == f"apStar-r6-{k['obj']}.fits"
        if i in keys.corrupt:
            with pytest.raises(SpectrumReadError) as info:
                Spectrum1D.read(path)
            assert path in str(info.value)
        else:
            spectrum = Spectrum1D.read(path)
            assert spectrum.flux.shape == (4, 8575)
            assert spectrum.meta["header"]["SYN_TEFF"] == labels["teff"]
            assert spectrum.meta["header"]["FIELD"] == k["field"]


@pytest.mark.parametrize(
    "release,species,expected",
    [
        ("dr13", "apVisit", {"apred", "telescope", "plate", "mjd", "fiber"}),
        ("dr16", "apVisit", {"apred", "telescope", "field", "plate", "mjd", "fiber", "prefix"}),
        ("dr13", "spec", {"run2d", "plateid", "mjd", "fiberid"}),
        ("dr16", "aspcapStar", {"apred", "aspcap", "telescope", "field", "obj"}),
        ("dr19", "mwmStar", {"v_astra", "sdss_id"}),
        ("dr19", "mwmVisit", {"v_astra", "sdss_id"}),
    ],
)
def test_write_sample_tree_other_species(tmp_path, release, species, expected):
    keys = synthetic.write_sample_tree(tmp_path, 3, release=release, species=species, seed=1)
    for k, path in zip(keys, keys.paths):
        assert set(k) == expected
        assert path.startswith(str(tmp_path) + os.sep + release)
        assert read_spectrum(path).flux.size > 0
    if species == "spec":
        assert keys[0]["run2d"] == "v5_10_0"


def test_synthetic_key_ranges_come_from_the_data_model(monkeypatch):
    from astra import datamodels
    from astra.tools.synthetic.tree import _template_keys, sample_keys

    def draws(species, release, n=200):
        rng = np.random.default_rng(11)
        return [sample_keys(rng, release, species, _template_keys(release, species)) for _ in range(n)]

    assert datamodels.get("spec").synthetic_keys == {"mjd": (55100, 58900)}
    spec = [k["mjd"] for k in draws("spec", "dr13")]
    assert min(spec) < 55700 and max(spec) < 58900  # BOSS MJDs start before APOGEE's
    visits = [k["mjd"] for k in draws("apVisit", "dr16")]
    assert min(visits) >= 55700
    # One entry in the registry is all it takes: the tree writer has no species branch.
    monkeypatch.setattr(datamodels.get("apVisit"), "synthetic_keys", {"mjd": (50000, 50001)})
    assert {k["mjd"] for k in draws("apVisit", "dr16", 5)} == {50000}
