"""astra.tools.spectrum loaders on synthetic files of every data model."""

import shutil
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import InverseVariance

from astra.tools import synthetic
from astra.tools.spectrum import (
    FORMATS,
    Spectrum1D,
    SpectrumList,
    identify_kind,
    load_mwm_list,
    load_mwm_spectrum,
    read_spectrum,
)

LABELS = {"teff": 4600.0, "logg": 2.2, "fe_h": -0.4}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    out = {
        "apStar1": synthetic.write_apstar(d / "apStar-r6-2M00000001+0000001.fits", seed=1),
        "apStar3": synthetic.write_apstar(
            d / "apStar-r6-2M00000003+0000003.fits", n_visits=3, snr=90, labels=LABELS, seed=3
        ),
        "apVisit": synthetic.write_apvisit(d / "apVisit-r6-6561-56587-131.fits", seed=4),
        "aspcapStar": synthetic.write_aspcapstar(
            d / "aspcapStar-r6-2M00000005+0000005.fits", seed=5
        ),
        "spec": synthetic.write_boss_spec(d / "spec-3586-55181-0500.fits", seed=6),
        "mwmStar": synthetic.write_mwmstar(d / "mwmStar-0.6.0-42.fits", sdss_id=42, seed=7),
        "mwmVisit": synthetic.write_mwmvisit(
            d / "mwmVisit-0.6.0-42.fits", sdss_id=42, seed=8, n_visits=3,
            hdus=("BOSS/APO", "APOGEE/APO", "APOGEE/LCO"),
        ),
    }
    return {k: str(v) for k, v in out.items()}


def _kind(name):
    return name.rstrip("13")


@pytest.mark.parametrize(
    "name", ["apStar1", "apStar3", "apVisit", "aspcapStar", "spec", "mwmStar", "mwmVisit"]
)
def test_identified_and_read_without_warnings(files, name, tmp_path):
    path = files[name]
    assert identify_kind(path) == _kind(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectrum = Spectrum1D.read(path)
        spectra = SpectrumList.read(path)
    assert isinstance(spectrum.uncertainty, InverseVariance)
    assert np.all(spectrum.uncertainty.array >= 0)
    assert np.all(np.diff(spectrum.spectral_axis.value) > 0)
    assert spectrum.mask.shape == spectrum.flux.shape
    assert len(spectra) >= 1
    # Files with names outside the data model are recognised by their HDU layout.
    renamed = tmp_path / "renamed.fits"
    shutil.copy(path, renamed)
    assert identify_kind(str(renamed)) == _kind(name)
    again = Spectrum1D.read(str(renamed))
    np.testing.assert_array_equal(again.flux.value, spectrum.flux.value)


def test_apstar_single_visit_is_one_row(files):
    spectrum = Spectrum1D.read(files["apStar1"])
    assert spectrum.flux.shape == (1, 8575)
    with fits.open(files["apStar1"]) as hdul:
        assert hdul[1].data.shape == (8575,)
        assert len(hdul) == 10
    assert spectrum.meta["snr"].shape == (1,)
    assert spectrum.meta["nvisits"] == 1


def test_apstar_multi_visit_rows(files):
    spectrum = Spectrum1D.read(files["apStar3"])
    assert spectrum.flux.shape == (5, 8575)
    header = spectrum.meta["header"]
    assert header["NVISITS"] == 3
    assert header["SYN_TEFF"] == LABELS["teff"]
    snr = spectrum.meta["snr"]
    assert snr[0] == pytest.approx(header["SNR"])
    # Combined S/N (continuum 90, lines lower the median) and visits about 90 / sqrt(3).
    assert 75 < snr[0] < 92
    assert np.all((snr[2:] > 0.8 * 90 / np.sqrt(3)) & (snr[2:] < 1.05 * 90 / np.sqrt(3)))
    bitmask = spectrum.meta["bitmask"]
    gaps = ~synthetic.apogee_chip_mask(spectrum.spectral_axis.value)
    assert np.all(bitmask[:, gaps] & 1) and np.all(spectrum.uncertainty.array[:, gaps] == 0)
    assert np.all(spectrum.mask[:, gaps])
    assert (bitmask[:, ~gaps] & 2).any()  # a few cosmic rays are flagged...
    assert spectrum.mask[:, ~gaps].mean() < 0.01  # ...and only a few pixels are bad


def test_apvisit_joined(files):
    spectrum = Spectrum1D.read(files["apVisit"])
    assert spectrum.flux.shape == (12288,)
    wavelength = spectrum.spectral_axis.value
    assert 15140 < wavelength[0] < 15145 and 16950 < wavelength[-1] < 16960
    with fits.open(files["apVisit"]) as hdul:
        assert len(hdul) == 12
        assert np.all(np.diff(hdul[4].data, axis=1) < 0)
        assert hdul[4].data[0, 0] > hdul[4].data[2, 0]


def test_aspcapstar(files):
    spectrum = Spectrum1D.read(files["aspcapStar"])
    assert spectrum.flux.shape == (8575,)
    assert spectrum.flux.unit.is_equivalent("")
    model = spectrum.meta["model_flux"]
    on = synthetic.apogee_chip_mask(spectrum.spectral_axis.value)
    residual = (spectrum.flux.value - model)[on]
    assert np.std(residual) == pytest.approx(1 / 100.0, rel=0.1)


def test_boss_spec(files):
    spectrum = Spectrum1D.read(files["spec"])
    assert spectrum.flux.shape == (4625,)
    assert spectrum.meta["or_mask"] is not None
    rejected = (spectrum.meta["bitmask"] & (1 << 18)) != 0
    assert rejected.any() and np.all(spectrum.uncertainty.array[rejected] == 0)
    assert np.all(spectrum.mask[rejected])
    assert spectrum.meta["snr"] == pytest.approx(30, rel=0.15)


def test_mwmstar_list_of_non_empty_hdus(files):
    spectra = SpectrumList.read(files["mwmStar"])
    assert [s.meta["name"] for s in spectra] == ["BOSS/APO", "APOGEE/APO"]
    boss, apogee = spectra
    assert boss.flux.shape == (1, 4648) and apogee.flux.shape == (1, 8575)
    assert boss.meta["header"]["SDSS_ID"] == 42
    assert list(apogee.meta["telescope"]) == ["apo25m"]
    assert "min_mjd" in apogee.meta and "mjd" not in apogee.meta
    assert 15100 < apogee.spectral_axis.value[0] < 15101
    first = Spectrum1D.read(files["mwmStar"])
    assert first.meta["name"] == "BOSS/APO"
    chosen = Spectrum1D.read(files["mwmStar"], hdu=3)
    assert chosen.meta["name"] == "APOGEE/APO"
    assert load_mwm_list(files["mwmStar"])[1].flux.shape == (1, 8575)


def test_mwmvisit_rows_and_wavelength_from_header(files):
    spectra = load_mwm_list(files["mwmVisit"])
    assert [s.meta["name"] for s in spectra] == ["BOSS/APO", "APOGEE/APO", "APOGEE/LCO"]
    assert all(s.flux.shape[0] == 3 for s in spectra)
    assert list(spectra[2].meta["mjd"]) == [59804, 59811, 59818]
    np.testing.assert_allclose(
        spectra[1].spectral_axis.value, synthetic.apogee_wavelength(), rtol=1e-12
    )
    assert load_mwm_spectrum(files["mwmVisit"], hdu=4).meta["name"] == "APOGEE/LCO"


def test_hdulist_and_file_object_inputs(files):
    with fits.open(files["apStar3"]) as hdul:
        assert Spectrum1D.read(hdul).flux.shape == (5, 8575)
    with open(files["apVisit"], "rb") as fp:
        assert Spectrum1D.read(fp).flux.shape == (12288,)
        assert not fp.closed


def test_read_spectrum_with_kind(files):
    for name, path in files.items():
        spectrum = read_spectrum(path, kind=_kind(name))
        assert spectrum.flux.size > 0
    with pytest.raises(ValueError, match="unknown data model .apGarbage.; known: apStar"):
        read_spectrum(files["spec"], kind="apGarbage")
    assert set(FORMATS) == {"apStar", "apVisit", "aspcapStar", "spec", "mwmStar", "mwmVisit"}
