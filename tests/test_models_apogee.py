"""The APOGEE catalogue tables: real dr13/dr16 files ingested with their keys and header values."""

import numpy as np
import pytest

from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.models.migrate import migrate_files
from astra.models.source import Source
from astra.tools.spectrum import read_spectrum
from real_files import DR13, REAL_APSTAR

pytestmark = pytest.mark.realdata


def test_real_apstar_files_ingest_with_keys_and_header_values(real_sas, db_url):
    summary = migrate_files("dr13", "apStar", sas_base_dir=real_sas)
    assert (summary.new, summary.bad, summary.exit_code) == (4, 0, 0)
    Star = ApogeeCoaddedSpectrumInApStar
    rows = {row.field: row for row in Star.select()}
    assert set(rows) == set(REAL_APSTAR)
    for field, obj in REAL_APSTAR.items():
        row = rows[field]
        assert (row.release, row.data_model, row.obj) == ("dr13", "apStar", obj)
        assert (row.apred, row.apstar, row.telescope, row.prefix) == (DR13["apred"], "stars", "apo25m", "ap")
        assert row.obj_id == obj
        assert not row.flag_bad_file and row.bad_file_reason is None
        assert row.source.sdss4_apogee_id == obj
    # Header values, as the files say.
    assert rows["120-45"].n_visits == 3 and rows["N1333"].n_visits == 1
    assert rows["120-45"].snr == pytest.approx(79.0154)
    assert rows["009+09"].ra == pytest.approx(263.427217) and rows["009+09"].dec == pytest.approx(-16.915936)
    # Selecting by key and by header value.
    assert [r.obj for r in Star.select().where(Star.field == "N1333")] == [REAL_APSTAR["N1333"]]
    assert {r.field for r in Star.select().where(Star.snr > 50)} == {"120-45", "009+09"}


def test_an_apstar_row_reads_its_combined_spectrum(real_sas, db_url):
    migrate_files("dr13", "apStar", sas_base_dir=real_sas, field="120-45")
    row = ApogeeCoaddedSpectrumInApStar.get(ApogeeCoaddedSpectrumInApStar.field == "120-45")
    full = read_spectrum(row.path, "apStar")
    assert full.flux.shape == (5, 8575)
    # The row's arrays are the combined spectrum: row 0 of the file.
    assert row.flux.shape == row.ivar.shape == row.pixel_flags.shape == row.wavelength.shape == (8575,)
    np.testing.assert_array_equal(row.flux, full.flux.value[0])
    np.testing.assert_array_equal(row.ivar, full.uncertainty.array[0])
    np.testing.assert_array_equal(row.pixel_flags, full.meta["bitmask"][0])
    np.testing.assert_allclose(row.wavelength, full.spectral_axis.value)
    assert row.read().flux.shape == (5, 8575)
    assert row.read_arrays().flux.shape == (5, 8575)


def test_real_apvisit_files_share_the_source_of_their_star(real_sas, db_url):
    migrate_files("dr13", "apStar", sas_base_dir=real_sas)
    summary = migrate_files("dr13", "apVisit", sas_base_dir=real_sas)
    assert (summary.new, summary.bad) == (3, 0)
    Visit = ApogeeVisitSpectrum
    visits = list(Visit.select().order_by(Visit.mjd))
    assert [(v.plate, v.mjd, v.fiber) for v in visits] == [(6561, 56587, 131), (6561, 56607, 125), (6561, 56616, 131)]
    assert all(v.obj_id == "2M00452143+1634446" for v in visits)
    assert visits[0].snr == pytest.approx(39.9079) and visits[0].exptime == pytest.approx(2002.04)
    star = ApogeeCoaddedSpectrumInApStar.get(ApogeeCoaddedSpectrumInApStar.obj == "2M00452143+1634446")
    assert {v.source_pk for v in visits} == {star.source_pk}
    assert Source.select().count() == 4
    # The visit's own spectrum: the three chips joined, ascending in wavelength.
    assert visits[0].flux.shape == (12288,) and np.all(np.diff(visits[0].wavelength) > 0)


def test_dr16_apvisit_has_field_and_prefix(real_sas, db_url):
    summary = migrate_files("dr16", "apVisit", sas_base_dir=real_sas)
    assert summary.new == 1
    row = ApogeeVisitSpectrum.get()
    assert (row.release, row.field, row.prefix, row.plate, row.mjd, row.fiber) == ("dr16", "N188", "ap", 5095, 55844, 128)
    assert row.source.sdss4_apogee_id == "2M01183798+8403419"


def test_spectrum_pk_is_unique_across_tables(real_sas, db_url):
    migrate_files("dr13", "apStar", sas_base_dir=real_sas)
    migrate_files("dr13", "apVisit", sas_base_dir=real_sas)
    stars = {r.spectrum_pk for r in ApogeeCoaddedSpectrumInApStar.select()}
    visits = {r.spectrum_pk for r in ApogeeVisitSpectrum.select()}
    assert len(stars) == 4 and len(visits) == 3 and not stars & visits
    from astra.models.spectrum import Spectrum

    some = min(visits)
    assert Spectrum.get_by_id(some).resolve().path == ApogeeVisitSpectrum.get_by_id(some).path
