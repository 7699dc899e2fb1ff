"""Broken spectrum files raise SpectrumReadError naming the path and what was wrong."""

import os
import pickle
import shutil

import numpy as np
import pytest
from astropy.io import fits

from astra.tools import synthetic
from astra.tools.spectrum import FORMATS, Spectrum1D, SpectrumList, SpectrumReadError, read_spectrum


@pytest.fixture()
def apstar(tmp_path):
    return str(synthetic.write_apstar(tmp_path / "apStar-r6-2M01000000+0100000.fits", seed=1))


def _raises(path, match, **kwargs):
    with pytest.raises(SpectrumReadError, match=match) as info:
        Spectrum1D.read(str(path), **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


@pytest.mark.filterwarnings("ignore:File may have been truncated")
@pytest.mark.filterwarnings("ignore:Unexpected extra padding")
@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6, 0.99])
def test_truncated(apstar, keep):
    size = os.path.getsize(apstar)
    with open(apstar, "r+b") as fp:
        fp.truncate(int(size * keep))
    message = _raises(apstar, "truncated FITS file")
    assert "expected 10 HDUs for apStar" in message


def test_cut_at_an_hdu_boundary_is_missing_hdus(tmp_path, apstar):
    with fits.open(apstar) as hdul:
        hdul[:4].writeto(tmp_path / "apStar-r6-2Mshort.fits")
    message = _raises(tmp_path / "apStar-r6-2Mshort.fits", "truncated FITS file")
    assert "found 4" in message


def test_not_fits(tmp_path):
    path = tmp_path / "apVisit-r6-6561-56587-131.fits"
    path.write_bytes(b"<html>502 Bad Gateway</html>" * 200)
    _raises(path, "not a FITS file")


def test_empty(tmp_path):
    path = tmp_path / "spec-3586-55181-0500.fits"
    path.touch()
    _raises(path, r"empty file \(0 bytes\)")


def test_wrong_kind(tmp_path):
    spec = synthetic.write_boss_spec(tmp_path / "spec-1-2-3.fits", seed=2)
    wrong = tmp_path / "apStar-r6-2M00000000+0000000.fits"
    shutil.copy(spec, wrong)
    _raises(wrong, "wrong kind of file: expected apStar, but its HDU layout is that of BOSS spec")
    _raises(spec, "expected apVisit", format=FORMATS["apVisit"])


def test_wrong_shape(tmp_path, apstar):
    with fits.open(apstar) as hdul:
        hdul[1].data = hdul[1].data[:4000]
        hdul.writeto(tmp_path / "apStar-r6-2Mcut.fits")
    _raises(tmp_path / "apStar-r6-2Mcut.fits", r"HDU 1 \(flux\) has shape \(4000,\) with NVISITS = 1; the apStar data model allows \(8575,\) "
            r"\(dr13, dr14, dr15, dr16\) or \(2, 8575\) \(dr17, dr19, dr20\)")


def test_sigma_bitmask_shape_mismatch(tmp_path):
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2M3.fits", n_visits=3, seed=3)
    with fits.open(path) as hdul:
        hdul[3].data = hdul[3].data[:2]
        hdul.writeto(tmp_path / "apStar-r6-2Mrows.fits")
    _raises(tmp_path / "apStar-r6-2Mrows.fits", r"HDU 3 \(bitmask\) has shape \(2, 8575\) with NVISITS = 3; the apStar data model allows \(5, 8575\)")


def test_missing_wavelength_solution(tmp_path, apstar):
    with fits.open(apstar) as hdul:
        for hdu in hdul[:4]:
            for key in ("CRVAL1", "CDELT1"):
                hdu.header.remove(key, ignore_missing=True)
        hdul.writeto(tmp_path / "apStar-r6-2Mnowcs.fits")
    _raises(tmp_path / "apStar-r6-2Mnowcs.fits", "no CRVAL1/CDELT1")


def test_missing_boss_columns(tmp_path):
    spec = synthetic.write_boss_spec(tmp_path / "spec-1-2-3.fits", seed=2)
    with fits.open(spec) as hdul:
        columns = [c for c in hdul[1].columns if c.name != "ivar"]
        hdul[1] = fits.BinTableHDU.from_columns(columns, name="COADD")
        hdul.writeto(tmp_path / "spec-1-2-4.fits")
    _raises(tmp_path / "spec-1-2-4.fits", "HDU 1 has no ivar column")


def test_mwm_all_empty_or_empty_hdu(tmp_path):
    empty = synthetic.write_mwmstar(tmp_path / "mwmStar-0.6.0-1.fits", hdus=(), seed=1)
    with pytest.raises(SpectrumReadError, match="all empty"):
        SpectrumList.read(str(empty))
    star = synthetic.write_mwmstar(tmp_path / "mwmStar-0.6.0-2.fits", hdus=("BOSS/APO",), seed=1)
    _raises(star, r"HDU 4 \(APOGEE/LCO\) is empty", hdu=4)


def test_missing_file(tmp_path):
    missing = tmp_path / "apStar-r6-2Mnothere.fits"
    with pytest.raises(OSError):
        Spectrum1D.read(str(missing))
    with pytest.raises(SpectrumReadError, match="no such file"):
        read_spectrum(str(missing))
    with pytest.raises(SpectrumReadError, match="no such file"):
        Spectrum1D.read(str(missing), format=FORMATS["apStar"])


def test_unrecognised_file(tmp_path):
    path = tmp_path / "something.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros(3))]).writeto(path)
    with pytest.raises(SpectrumReadError, match="not recognised"):
        read_spectrum(str(path))


def test_error_is_oserror_and_picklable():
    error = SpectrumReadError("/a/b.fits", "truncated FITS file")
    assert isinstance(error, OSError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))


@pytest.mark.filterwarnings("ignore:File may have been truncated")
@pytest.mark.parametrize("keep", [0.05, 0.6, 0.99])
def test_read_arrays_gives_the_same_precise_errors(apstar, keep):
    from astra.tools.spectrum import read_arrays

    size = os.path.getsize(apstar)
    with open(apstar, "r+b") as fp:
        fp.truncate(int(size * keep))
    with pytest.raises(SpectrumReadError, match="truncated FITS file") as info:
        read_arrays(apstar, "apStar")
    assert str(info.value).startswith(f"{apstar}: ")


def test_read_arrays_matches_read_spectrum(apstar):
    from astra.tools.spectrum import read_arrays

    arrays = read_arrays(apstar, "apStar")
    spectrum = read_spectrum(apstar, "apStar")
    assert np.array_equal(arrays.flux, spectrum.flux.value)
    assert np.array_equal(arrays.ivar, spectrum.uncertainty.array)
    assert np.array_equal(arrays.mask, spectrum.mask)
    assert np.array_equal(arrays.wavelength, spectrum.spectral_axis.value)


@pytest.mark.filterwarnings("ignore")
def test_unparsable_header_card_names_the_file(apstar):
    from astra.tools.spectrum import read_arrays

    with open(apstar, "rb") as fp:
        data = bytearray(fp.read())
    card = data.find(b"CRPIX1  =", data.find(b"XTENSION"))  # HDU 1's, which the loader reads
    assert card > 0
    data[card + 10:card + 30] = b"1.0.0.=/='".rjust(20)  # not a value astropy can parse
    with open(apstar, "wb") as fp:
        fp.write(data)
    for read in (read_spectrum, read_arrays):
        with pytest.raises(SpectrumReadError, match="unparsable header card") as info:
            read(apstar, "apStar")
        assert str(info.value).startswith(f"{apstar}: ")


def test_a_wavelength_keyword_that_is_not_a_number_is_named(apstar):
    from astra.tools.spectrum import read_arrays

    with open(apstar, "rb") as fp:
        data = bytearray(fp.read())
    card = data.find(b"CRPIX1  =", data.find(b"XTENSION"))  # HDU 1's, which the loader reads
    data[card + 10:card + 30] = b"'not a number'".rjust(20)
    with open(apstar, "wb") as fp:
        fp.write(data)
    for read in (read_spectrum, read_arrays):
        with pytest.raises(SpectrumReadError, match="HDU 1 header: CRPIX1 is 'not a number', not a number"):
            read(apstar, "apStar")
