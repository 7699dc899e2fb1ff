"""astra.tools.spectrum on the real SDSS files of the test SAS tree (ASTRA_TEST_SAS)."""

import os
import pickle
import shutil
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.io import registry
from astropy.nddata import InverseVariance

from real_files import MISSING_REAL_SAS
from astra.tools.spectrum import (
    FORMATS,
    Spectrum1D,
    SpectrumList,
    SpectrumReadError,
    read_spectrum,
)
from astra.tools.spectrum.identify import identify_kind, kind_from_filename

pytestmark = pytest.mark.realdata

APSTAR = {
    "N1333": ("dr13/apogee/spectro/redux/r6/stars/apo25m/N1333/apStar-r6-2M03290406+3117075.fits", 1),
    "120-45": ("dr13/apogee/spectro/redux/r6/stars/apo25m/120-45/apStar-r6-2M00452143+1634446.fits", 3),
    "009+09": ("dr13/apogee/spectro/redux/r6/stars/apo25m/009+09/apStar-r6-2M17334253-1654573.fits", 2),
    "221+84": ("dr13/apogee/spectro/redux/r6/stars/apo25m/221+84/apStar-r6-2M12241699+2453335.fits", 3),
}
APVISIT = [
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56587/apVisit-r6-6561-56587-131.fits",
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56607/apVisit-r6-6561-56607-125.fits",
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56616/apVisit-r6-6561-56616-131.fits",
    "dr16/apogee/spectro/redux/r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits",
]
BOSS = "dr13/eboss/spectro/redux/v5_10_0/spectra/full/3586/spec-3586-55181-0500.fits"
ALL = [(p, "apStar") for p, _ in APSTAR.values()] + [(p, "apVisit") for p in APVISIT]
ALL.append((BOSS, "spec"))


@pytest.fixture(scope="module")
def sas():
    """The real SAS tree, or skip (fail when ASTRA_REQUIRE_SERVICES=1)."""
    root = os.environ.get("ASTRA_TEST_SAS")
    if not root or not os.path.isdir(root):
        reason = MISSING_REAL_SAS
        if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def _path(sas, relative):
    return os.path.join(sas, relative)


@pytest.mark.parametrize("relative,kind", ALL, ids=[os.path.basename(p) for p, _ in ALL])
def test_identified_without_format_and_no_warning(sas, relative, kind):
    path = _path(sas, relative)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectrum = Spectrum1D.read(path)
        spectra = SpectrumList.read(path)
    # Several readers match these files (ours and specutils' own); ours must win.
    matching = registry.identify_format("read", Spectrum1D, path, None, [], {})
    assert FORMATS[kind] in matching
    assert isinstance(spectrum.uncertainty, InverseVariance)
    assert "bitmask" in spectrum.meta and "header" in spectrum.meta
    assert len(spectra) == 1 and spectra[0].flux.shape == spectrum.flux.shape


@pytest.mark.parametrize("field", sorted(APSTAR))
def test_apstar_every_row(sas, field):
    relative, nvisits = APSTAR[field]
    path = _path(sas, relative)
    spectrum = Spectrum1D.read(path)
    n_rows = 1 if nvisits == 1 else nvisits + 2
    assert spectrum.flux.shape == (n_rows, 8575)
    wavelength = spectrum.spectral_axis.to_value("Angstrom")
    assert np.all(np.diff(wavelength) > 0)
    assert 15100 < wavelength[0] < 15101 and 16999 < wavelength[-1] < 17000
    assert str(spectrum.flux.unit) == "1e-17 erg / (Angstrom s cm2)"

    with fits.open(path) as hdul:
        sigma = np.atleast_2d(hdul[2].data).astype(float)
        bitmask = np.atleast_2d(hdul[3].data)
        header = hdul[0].header
        assert header["NVISITS"] == nvisits
        np.testing.assert_allclose(spectrum.flux.value, np.atleast_2d(hdul[1].data))
    ivar = spectrum.uncertainty.array
    assert ivar.shape == spectrum.flux.shape
    assert np.all(ivar >= 0)
    bad = ~np.isfinite(sigma) | (sigma <= 0) | (sigma >= 1e10)
    assert bad.any()  # the chip gaps
    assert np.all(ivar[bad] == 0)
    np.testing.assert_allclose(ivar[~bad], 1 / sigma[~bad] ** 2, rtol=1e-6)
    np.testing.assert_array_equal(spectrum.meta["bitmask"], bitmask)
    assert spectrum.mask.shape == spectrum.flux.shape and spectrum.mask[bad].all()

    snr = spectrum.meta["snr"]
    assert snr.shape == (n_rows,)
    assert snr[0] == pytest.approx(header["SNR"])
    if nvisits > 1:
        assert snr[1] == pytest.approx(header["SNR"])
        for visit in range(1, nvisits + 1):
            assert snr[visit + 1] == pytest.approx(header[f"SNRVIS{visit}"])
    assert spectrum.meta["obj"] == header["OBJID"]
    assert len(spectrum.meta["visit_files"]) == nvisits


@pytest.mark.parametrize("relative", APVISIT, ids=[os.path.basename(p) for p in APVISIT])
def test_apvisit_chips_joined_ascending(sas, relative):
    path = _path(sas, relative)
    spectrum = Spectrum1D.read(path)
    assert spectrum.flux.shape == (12288,)
    wavelength = spectrum.spectral_axis.to_value("Angstrom")
    assert np.all(np.diff(wavelength) > 0)
    assert 15140 < wavelength[0] < 15145 and 16950 < wavelength[-1] < 16960
    with fits.open(path) as hdul:
        raw_wave, raw_flux = hdul[4].data, hdul[1].data
        header = hdul[0].header
        assert np.all(np.diff(raw_wave, axis=1) < 0)  # the file's own order: decreasing
        assert raw_wave[0, 0] > raw_wave[2, 0]  # chip 0 is the reddest
    # The bluest pixel is the last pixel of chip 2, the reddest the first of chip 0.
    assert wavelength[0] == raw_wave[2, -1] and spectrum.flux.value[0] == raw_flux[2, -1]
    assert wavelength[-1] == raw_wave[0, 0] and spectrum.flux.value[-1] == raw_flux[0, 0]
    assert np.all(spectrum.uncertainty.array >= 0)
    assert spectrum.meta["bitmask"].shape == (12288,)
    assert spectrum.meta["snr"] == pytest.approx(header["SNR"])
    assert set(np.unique(spectrum.meta["chip"])) == {0, 1, 2}


def test_boss_spec(sas):
    path = _path(sas, BOSS)
    spectrum = Spectrum1D.read(path)
    assert spectrum.flux.shape == (4625,)
    wavelength = spectrum.spectral_axis.to_value("Angstrom")
    assert np.all(np.diff(wavelength) > 0)
    assert 3560 < wavelength[0] < 3562 and 10320 < wavelength[-1] < 10330
    with fits.open(path) as hdul:
        coadd = hdul[1].data
        np.testing.assert_array_equal(spectrum.meta["bitmask"], coadd["and_mask"])
        np.testing.assert_array_equal(spectrum.meta["or_mask"], coadd["or_mask"])
        np.testing.assert_allclose(spectrum.uncertainty.array, coadd["ivar"])
    assert np.all(spectrum.uncertainty.array >= 0)
    assert spectrum.mask[spectrum.uncertainty.array == 0].all()
    assert spectrum.meta["snr"] == pytest.approx(55.0, rel=0.05)  # SN_MEDIAN_ALL is 54.98


def test_format_argument_still_works(sas):
    relative, _ = APSTAR["120-45"]
    spectrum = Spectrum1D.read(_path(sas, relative), format=FORMATS["apStar"])
    assert spectrum.flux.shape == (5, 8575)
    visit = read_spectrum(_path(sas, APVISIT[0]), kind="apVisit")
    assert visit.flux.shape == (12288,)


def _copy(sas, relative, tmp_path):
    target = tmp_path / os.path.basename(relative)
    shutil.copy(_path(sas, relative), target)
    return target


@pytest.mark.filterwarnings("ignore:File may have been truncated")
@pytest.mark.filterwarnings("ignore:Unexpected extra padding")
def test_truncated_real_apstar_names_the_path(sas, tmp_path):
    path = _copy(sas, APSTAR["120-45"][0], tmp_path)
    size = path.stat().st_size
    for keep in (0.3, 0.999):
        with open(path, "r+b") as fp:
            fp.truncate(int(size * keep))
        with pytest.raises(SpectrumReadError, match="truncated FITS file") as info:
            Spectrum1D.read(str(path))
        assert str(path) in str(info.value)
        assert info.value.path == str(path)
        assert isinstance(info.value, OSError)
        again = pickle.loads(pickle.dumps(info.value))
        assert str(again) == str(info.value)


def test_overwritten_real_apvisit_is_not_fits(sas, tmp_path):
    path = _copy(sas, APVISIT[0], tmp_path)
    with open(path, "r+b") as fp:
        fp.write(b"\0" * 100)
    with pytest.raises(SpectrumReadError, match="not a FITS file") as info:
        Spectrum1D.read(str(path))
    assert str(path) in str(info.value)


def test_empty_real_spec(sas, tmp_path):
    path = _copy(sas, BOSS, tmp_path)
    open(path, "wb").close()
    with pytest.raises(SpectrumReadError, match=r"empty file \(0 bytes\)") as info:
        Spectrum1D.read(str(path))
    assert str(path) in str(info.value)


def test_real_file_of_the_wrong_kind(sas, tmp_path):
    wrong = tmp_path / "apStar-r6-2M00000000+0000000.fits"
    shutil.copy(_path(sas, APVISIT[0]), wrong)
    with pytest.raises(SpectrumReadError, match="expected apStar.*apVisit") as info:
        Spectrum1D.read(str(wrong))
    assert str(wrong) in str(info.value)
    with pytest.raises(SpectrumReadError, match="expected BOSS spec.*apStar"):
        Spectrum1D.read(_path(sas, APSTAR["N1333"][0]), format=FORMATS["spec"])


def test_real_file_with_another_name_identified_by_layout(sas, tmp_path):
    for relative, kind in ALL:
        renamed = tmp_path / f"renamed-{kind}.fits"
        shutil.copy(_path(sas, relative), renamed)
        assert kind_from_filename(str(renamed)) is None    # the name says nothing ...
        assert identify_kind(str(renamed)) == kind          # ... the HDU layout does
        spectrum = Spectrum1D.read(str(renamed))
        original = Spectrum1D.read(_path(sas, relative))
        np.testing.assert_array_equal(spectrum.flux.value, original.flux.value)
