"""The lean FITS reader agrees with astropy on real and synthetic files, or steps aside."""

import glob
import gzip
import os
import warnings

import numpy as np
import pytest
from astropy.io import fits

from astra.tools import synthetic
from astra.tools.spectrum import read_arrays, read_spectrum
from astra.tools.spectrum.lean_fits import LeanHDUList, LeanHeader, NotLean, skim, table_cell


def _real_files(real_sas):
    files = sorted(glob.glob(os.path.join(real_sas, "**", "*.fits"), recursive=True))
    assert files, f"no FITS files under {real_sas}"
    return files


def _value_cards(header):
    return [(k, v) for k, v in header.items() if k not in ("COMMENT", "HISTORY", "")]


def test_every_header_value_of_the_real_files_matches_astropy(real_sas):
    checked = 0
    for path in _real_files(real_sas):
        with LeanHDUList(path) as lean, fits.open(path) as reference:
            assert len(lean) == len(reference), path
            for index, hdu in enumerate(reference):
                for key, value in _value_cards(hdu.header):
                    ours = lean[index].header[key]
                    assert ours == value and type(ours) is type(value), (path, index, key, value, ours)
                    checked += 1
    assert checked > 1000


def test_every_image_of_the_real_files_matches_astropy(real_sas):
    images = 0
    for path in _real_files(real_sas):
        with LeanHDUList(path) as lean, fits.open(path) as reference:
            for index, hdu in enumerate(reference):
                if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) or hdu.data is None:
                    continue
                data = lean[index].data
                assert data.dtype.isnative and data.dtype == hdu.data.dtype.newbyteorder("=")
                assert data.shape == hdu.data.shape
                assert np.array_equal(data, hdu.data, equal_nan=True), (path, index)
                images += 1
    assert images >= 20


@pytest.mark.parametrize("pattern", ["apStar-*.fits", "apVisit-*.fits"])
def test_read_arrays_on_real_files_matches_read_spectrum(real_sas, pattern):
    paths = glob.glob(os.path.join(real_sas, "**", pattern), recursive=True)
    assert paths
    for path in paths:
        kind = pattern.split("-")[0]
        arrays = read_arrays(path, kind)
        spectrum = read_spectrum(path, kind)
        assert isinstance(arrays.meta["header"], LeanHeader)  # the lean path was taken
        assert np.array_equal(arrays.flux, spectrum.flux.value, equal_nan=True)
        assert np.array_equal(arrays.ivar, spectrum.uncertainty.array)
        assert np.array_equal(arrays.mask, spectrum.mask)
        assert np.array_equal(arrays.wavelength, spectrum.spectral_axis.value)
        assert np.array_equal(arrays.meta["snr"], spectrum.meta["snr"], equal_nan=True)
        for key in ("obj", "visit_files", "nvisits"):
            assert arrays.meta.get(key) == spectrum.meta.get(key), key


def _header_of(cards):
    header = fits.Header()
    for card in cards:
        header.append(card)
    return LeanHeader(header.tostring().encode("ascii")), header


def test_values_are_parsed_as_astropy_parses_them():
    lean, reference = _header_of([
        ("SIMPLE", True), ("NAXIS", 0), ("NEG", -17), ("BIG", 12345678901234),
        ("FLT", 1.5e-3), ("DEXP", 0.0), ("QUOTE", "it's 'quoted'"), ("BLANKS", "ab   "),
        ("EMPTY", ""), ("LOGIC", False), ("DUP", 1), ("DUP", 2),
    ])
    for key in ("SIMPLE", "NAXIS", "NEG", "BIG", "FLT", "QUOTE", "BLANKS", "EMPTY", "LOGIC", "DUP"):
        assert lean[key] == reference[key] and type(lean[key]) is type(reference[key]), key
    assert lean["dup"] == 1 and "neg" in lean and "NOPE" not in lean
    assert lean.get("NOPE", "default") == "default"
    with pytest.raises(KeyError):
        lean["NOPE"]


def test_unusual_cards_are_handed_to_astropy():
    long_text = "x" * 150  # astropy writes it over CONTINUE cards
    lean, reference = _header_of([
        ("SIMPLE", True), ("CPLX", complex(1, 2)), ("LONG", long_text),
        ("HIERARCH ESO DET NAME", "chip"), ("COMMENT", "a comment"),
    ])
    assert lean["CPLX"] == complex(1, 2)
    assert lean["LONG"] == long_text
    assert lean["HIERARCH ESO DET NAME"] == reference["HIERARCH ESO DET NAME"] == "chip"
    assert list(lean["COMMENT"]) == ["a comment"]
    # D exponents, which astropy's writer never produces, are still numbers.
    card = "DEXP    =               1.5D+3 / exponent with D".ljust(80) + "END".ljust(80)
    assert LeanHeader(card.encode("ascii"))["DEXP"] == 1500.0
    assert lean.to_astropy() is lean.to_astropy()


def test_only_the_headers_asked_for_are_read(tmp_path):
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2Mlazy.fits", seed=3)
    with LeanHDUList(path) as lean:
        lean[1].data
        assert len(lean._hdus) == 2  # HDUs 2-9 not even looked at
        assert len(lean) == 10


def _write(path, hdus):
    fits.HDUList(hdus).writeto(path)
    return str(path)


def test_scaled_images_step_aside_and_read_arrays_still_reads_them(tmp_path):
    source = synthetic.write_apstar(tmp_path / "apStar-r6-2Mplain.fits", seed=4)
    with fits.open(source) as hdul:
        hdus = [hdu.copy() for hdu in hdul]
    bitmask = hdus[3].data.astype(np.uint16)  # written with BZERO = 32768
    hdus[3] = fits.ImageHDU(bitmask, header=hdus[3].header)
    path = _write(tmp_path / "apStar-r6-2Mscaled.fits", hdus)
    with LeanHDUList(path) as lean:
        assert lean[3].header["BZERO"] == 32768
        with pytest.raises(NotLean, match="scaled"):
            lean[3].data
    arrays = read_arrays(path, "apStar")
    assert not isinstance(arrays.meta["header"], LeanHeader)  # astropy read it
    assert np.array_equal(arrays.meta["bitmask"], read_spectrum(path, "apStar").meta["bitmask"])


def test_tables_and_compressed_files_step_aside(tmp_path):
    spec = synthetic.write_boss_spec(tmp_path / "spec-1-2-3.fits", seed=5)
    with LeanHDUList(spec) as lean:
        assert lean[1].header["XTENSION"] == "BINTABLE"
        with pytest.raises(NotLean, match="not a plain image"):
            lean[1].data
    packed = tmp_path / "apStar-r6-2Mgz.fits"
    with open(synthetic.write_apstar(tmp_path / "apStar-r6-2Mraw.fits", seed=6), "rb") as fp:
        packed.write_bytes(gzip.compress(fp.read()))
    with pytest.raises(NotLean):
        LeanHDUList(packed)


def test_a_file_cut_short_steps_aside(tmp_path):
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2Mcut.fits", seed=7)
    size = os.path.getsize(path)
    with open(path, "r+b") as fp:
        fp.truncate(size - 1000)  # inside the last HDU's data
    with LeanHDUList(path) as lean:
        lean[1]
        with pytest.raises(NotLean, match="cut short"):
            len(lean)


def test_not_fits_steps_aside(tmp_path):
    path = tmp_path / "apStar-r6-2Mhtml.fits"
    path.write_bytes(b"<html>502 Bad Gateway</html>".ljust(2880))
    with pytest.raises(NotLean):
        LeanHDUList(path)


@pytest.mark.parametrize("kind, write, name", [
    ("apStar", synthetic.write_apstar, "apStar-r6-2Msynthetic.fits"),
    ("apVisit", synthetic.write_apvisit, "apVisit-r6-1-2-3.fits"),
    ("aspcapStar", synthetic.write_aspcapstar, "aspcapStar-r6-l30e.2-2Msynthetic.fits"),
])
def test_read_arrays_on_synthetic_files_matches_read_spectrum(tmp_path, kind, write, name):
    path = str(write(tmp_path / name, seed=8))
    arrays = read_arrays(path, kind)
    spectrum = read_spectrum(path, kind)
    assert isinstance(arrays.meta["header"], LeanHeader)
    assert np.array_equal(arrays.flux, spectrum.flux.value)
    assert np.array_equal(arrays.ivar, spectrum.uncertainty.array)
    assert np.array_equal(arrays.mask, spectrum.mask)
    assert np.array_equal(arrays.wavelength, spectrum.spectral_axis.value)
    for key, value in spectrum.meta.items():
        if key == "header":
            assert dict(arrays.meta["header"]) == dict(_value_cards(value))
        elif isinstance(value, np.ndarray):
            assert np.array_equal(arrays.meta[key], value, equal_nan=True), key
        else:
            assert arrays.meta[key] == value, key


@pytest.mark.filterwarnings("ignore")
def test_damaged_headers_never_give_wrong_data(tmp_path):
    """A byte changed anywhere in the headers read: the same data as astropy, or a clear error."""
    from astra.tools.spectrum import SpectrumReadError

    original = synthetic.write_apstar(tmp_path / "apStar-r6-2Mfuzz.fits", seed=9, n_visits=2)
    with open(original, "rb") as fp:
        pristine = fp.read()
    with LeanHDUList(original) as lean:
        lean[3]
        header_ranges = [(0, lean._hdus[0]._offset)] + [
            (lean._hdus[i - 1]._offset + -(-lean._hdus[i - 1]._nbytes // 2880) * 2880, lean._hdus[i]._offset)
            for i in (1, 2, 3)
        ]
    rng = np.random.default_rng(10)
    path = tmp_path / "apStar-r6-2Mdamaged.fits"
    outcomes = {"same data": 0, "error": 0}
    for _ in range(300):
        start, stop = header_ranges[rng.integers(len(header_ranges))]
        position = int(rng.integers(start, stop))
        damaged = bytearray(pristine)
        damaged[position] = int(rng.choice(list(b"0123456789 =.'/-+ETFDXYZ")))
        path.write_bytes(bytes(damaged))
        try:
            arrays = read_arrays(str(path), "apStar")
        except SpectrumReadError:
            outcomes["error"] += 1
            continue
        with fits.open(path) as hdul:  # what astropy reads from the same HDUs
            flux, sigma, bitmask = (np.atleast_2d(hdul[i].data) for i in (1, 2, 3))
        assert np.array_equal(arrays.flux, flux, equal_nan=True), position
        assert np.array_equal(arrays.meta["bitmask"], bitmask.astype(np.int32)), position
        assert np.array_equal(arrays.ivar > 0, np.isfinite(sigma) & (sigma > 0) & (sigma < 1e10)), position
        outcomes["same data"] += 1
    assert outcomes["same data"] > 50 and outcomes["error"] > 0, outcomes


def _raw_header(cards):
    return ("".join(card.ljust(80) for card in cards) + "END".ljust(80)).encode("ascii")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cards, key", [
    (["SIMPLE  =                    T", "HIERARCH SNR = 3.5"], "SNR"),            # short HIERARCH lookup
    (["SIMPLE  =                    T", "NAXIS1= 100"], "NAXIS1"),                # '=' before column 9
    (["SIMPLE  =                    T", "  LEAD  =                    4"], "LEAD"),  # keyword not in column 1
    (["SIMPLE  =                    T", "B1      =123"], "B1"),                    # no blank after '='
    (["SIMPLE  =                    T", "A5      = 'a'b' / x"], "A5"),             # a lone quote inside
    (["SIMPLE  =                    T", "A7      = 'abc' junk"], "A7"),            # junk after the string
    (["SIMPLE  =                    T", "D4      = '\tx'"], "D4"),                 # a tab in the string
    (["SIMPLE  =                    T", "HISTORY = 5"], "HISTORY"),                # commentary written with '='
    (["SIMPLE  =                    T", "N       =                  \t5"], "N"),   # a tab before a number
])
def test_oddly_written_cards_read_as_astropy_reads_them(cards, key):
    raw = _raw_header(cards)
    lean, reference = LeanHeader(raw), fits.Header.fromstring(raw)

    def outcome(header):
        try:
            value = header[key]
        except Exception as error:  # astropy refuses some of these cards: so must we
            return type(error).__name__
        return (list(value) if key == "HISTORY" else value), type(value).__name__

    assert outcome(lean) == outcome(reference)
    assert (key in lean) == (key in reference)


def _image_file(tmp_path, data, **cards):
    hdu = fits.PrimaryHDU(data)
    for key, value in cards.items():
        hdu.header[key] = value
    path = tmp_path / "image.fits"
    hdu.writeto(path)
    return path


def test_integer_images_with_blank_step_aside(tmp_path):
    path = _image_file(tmp_path, np.array([1, 2, -99, 4], np.int16), BLANK=-99)
    with LeanHDUList(path) as lean, pytest.raises(NotLean, match="BLANK"):
        lean[0].data
    with fits.open(path) as hdul:  # what stepping aside protects: astropy gives NaN there
        assert np.isnan(hdul[0].data[2])


def test_images_with_an_empty_axis_step_aside(tmp_path):
    path = _image_file(tmp_path, np.zeros((5, 0), np.float32))
    with LeanHDUList(path) as lean, pytest.raises(NotLean, match="length 0"):
        lean[0].data


def test_tile_compressed_images_step_aside(tmp_path):
    path = tmp_path / "compressed.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.arange(100, dtype=np.int32).reshape(10, 10))]).writeto(path)
    with LeanHDUList(path) as lean, pytest.raises(NotLean, match="tile-compressed"):
        lean[1]


def test_non_integer_structure_steps_aside(tmp_path):
    raw = _raw_header(["SIMPLE  =                    T", "BITPIX  =                  -32",
                       "NAXIS   =                    1", "NAXIS1  =                 10.0"])
    path = tmp_path / "odd.fits"
    path.write_bytes(raw.ljust(2880) + bytes(2880))
    with pytest.raises(NotLean, match="non-negative integers"):
        LeanHDUList(path)


def _structure_by_lean(path):
    with LeanHDUList(path) as lean:
        hdus = [lean[i] for i in range(len(lean))]
        return [
            (h.index, h.header.get("XTENSION", "PRIMARY").strip(), h.header["BITPIX"],
             tuple(h.header[f"NAXIS{k}"] for k in range(1, h.header["NAXIS"] + 1)), h._offset, h._nbytes)
            for h in hdus
        ], hdus[0].header


def test_skim_gives_the_structure_and_values_lean_hdulist_gives(real_sas, tmp_path):
    files = _real_files(real_sas) + [
        str(synthetic.write_mwmstar(tmp_path / "mwmStar-0.6.0-1.fits", sdss_id=1, v_astra="0.6.0", seed=1)),
        str(synthetic.write_boss_spec(tmp_path / "spec-1-2-3.fits", seed=1)),
    ]
    keywords = ("SNR", "NVISITS", "RA", "DEC", "OBJID", "SDSS_ID", "EXPTIME", "NOSUCHKEY")
    for path in files:
        values, hdus = skim(path, keywords)
        expected, header = _structure_by_lean(path)
        assert [tuple(h) for h in hdus] == expected, path
        assert values == {k: header[k] for k in keywords if k in header}, path


@pytest.mark.parametrize("damage, message", [
    (lambda p: open(p, "r+b").truncate(os.path.getsize(p) - 1000), "cut short"),
    (lambda p: open(p, "r+b").truncate(2880 * 3 + 100), "no END card|cut short"),
    (lambda p: open(p, "r+b").write(b"<html>".ljust(2880)), "not a standard FITS"),
])
def test_skim_refuses_damaged_files(tmp_path, damage, message):
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2Mskim.fits", seed=2)
    damage(path)
    with pytest.raises(NotLean, match=message):
        skim(path)


def test_skim_steps_aside_for_compressed_and_unordered_headers(tmp_path):
    path = tmp_path / "compressed.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.arange(100, dtype=np.int32).reshape(10, 10))]).writeto(path)
    with pytest.raises(NotLean, match="tile-compressed"):
        skim(path)
    raw = _raw_header(["SIMPLE  =                    T", "NAXIS   =                    0", "BITPIX  =                    8"])
    odd = tmp_path / "odd.fits"
    odd.write_bytes(raw.ljust(2880))
    with pytest.raises(NotLean, match="out of order"):
        skim(odd)


def test_headers_of_one_skeleton_keep_their_own_values_and_layout():
    # Headers whose cards start alike share one index of their keywords; the values are
    # still each header's own, and a header that differs in one keyword field is its own.
    one = LeanHeader(_raw_header(["SIMPLE  =                    T", "SNR     =                 12.5", "OBJID   = 'a'"]))
    two = LeanHeader(_raw_header(["SIMPLE  =                    T", "SNR     =                 99.0", "OBJID   = 'b'"]))
    assert (one["SNR"], one["OBJID"], two["SNR"], two["OBJID"]) == (12.5, "a", 99.0, "b")
    assert one._cards is two._cards
    odd = LeanHeader(_raw_header(["SIMPLE  =                    T", "SNR=99.0", "OBJID   = 'b'"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about the odd card, then reads it its way
        assert odd._regular is False and odd.get("SNR") == fits.Header.fromstring(odd.tostring()).get("SNR")
    dup = LeanHeader(_raw_header(["SIMPLE  =                    T", "SNR     =                    1", "snr     =                    2"]))
    assert dup["SNR"] == 1 and list(dup) == ["SIMPLE", "SNR"]
    assert "APOGEE_ID" not in one and one.get("APOGEE_ID") is None  # would need HIERARCH


def test_skim_checks_every_file_whose_headers_it_has_seen_before(tmp_path):
    # The structure of an extension header is remembered by its first cards; the sizes are
    # still checked against each file, so a copy cut short is refused after the whole one.
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2Mseen.fits", seed=4)
    _, whole = skim(path)
    cut = tmp_path / "apStar-r6-2Mcut.fits"
    data = open(path, "rb").read()
    cut.write_bytes(data[:whole[3].data_offset + 1000])  # HDU 3's data cut short
    with pytest.raises(NotLean, match="cut short"):
        skim(cut)
    longer = tmp_path / "longer.fits"
    data = np.zeros(8575, dtype=np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data), fits.ImageHDU(np.zeros(9000, dtype=np.float32))]).writeto(longer)
    _, hdus = skim(longer)
    assert [h.axes for h in hdus] == [(), (8575,), (9000,)]
    assert [tuple(h) for h in whole][1][3] == (8575,)


def test_table_cell_reads_one_number_as_astropy_does(tmp_path):
    path = tmp_path / "table.fits"
    columns = [
        fits.Column(name="NAME", format="8A", array=np.array(["a", "b"])),
        fits.Column(name="VEC", format="3E", array=np.ones((2, 3), dtype=np.float32)),
        fits.Column(name="SN_MEDIAN_ALL", format="E", array=np.array([54.975536, 2.0], dtype=np.float32)),
        fits.Column(name="THING_ID", format="K", array=np.array([96714281, -1])),
        fits.Column(name="FLAG", format="L", array=np.array([True, False])),
        fits.Column(name="SCALED", format="J", bzero=2**31, array=np.array([3, 5], dtype=np.uint32)),
    ]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="SPALL")]).writeto(path)
    _, hdus = skim(path)
    with fits.open(path) as hdul:
        data = hdul[1].data
        for row in (0, 1):
            for name in ("SN_MEDIAN_ALL", "THING_ID", "FLAG"):
                ours = table_cell(path, hdus[1], name.lower(), row)
                assert ours == data[name][row].item() and type(ours) is type(data[name][row].item()), (name, row)
    with pytest.raises(KeyError, match="NOSUCH"):
        table_cell(path, hdus[1], "NOSUCH")
    for name in ("VEC", "NAME", "SCALED"):  # not one plain number: astropy's job
        with pytest.raises(NotLean, match="not one plain number"):
            table_cell(path, hdus[1], name)
    with pytest.raises(NotLean, match="no row 2"):
        table_cell(path, hdus[1], "THING_ID", 2)
    with pytest.raises(NotLean, match="not a binary table"):
        table_cell(path, hdus[0], "THING_ID")
