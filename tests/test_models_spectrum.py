"""astra.models.spectrum: the shared columns, spectrum_pk across tables, lookups, tables on first use."""

import pytest

from astra.models.apogee import ApogeeCoaddedSpectrumInApStar, ApogeeVisitSpectrum
from astra.models.boss import BossVisitSpectrum
from astra.models.spectrum import Spectrum, model_for_data_model, spectrum_model
from astra.tools import synthetic


def test_rows_saved_by_hand_get_keys_unique_across_tables(db_url, tmp_path):
    path = synthetic.write_apstar(tmp_path / "apStar-r6-2M00000001+0000001.fits", n_visits=2, seed=1)
    star = ApogeeCoaddedSpectrumInApStar.create(release="dr13", data_model="apStar", path=str(path), file_size=1,
                                                file_mtime=0.0, obj="2M00000001+0000001")
    visit = ApogeeVisitSpectrum.create(release="dr13", data_model="apVisit", path="/nowhere/apVisit.fits",
                                       file_size=1, file_mtime=0.0, plate=1, mjd=2, fiber=3)
    assert visit.spectrum_pk == star.spectrum_pk + 1
    assert Spectrum.get_by_id(star.spectrum_pk).resolve().obj == "2M00000001+0000001"
    assert Spectrum.get_by_id(visit.spectrum_pk).spectrum_type == "ApogeeVisitSpectrum"
    assert star.flux.shape == (8575,) and star.read().flux.shape == (4, 8575)
    assert str(star).startswith("ApogeeCoaddedSpectrumInApStar(spectrum_pk=")


def test_key_columns_come_from_the_data_models():
    assert ApogeeCoaddedSpectrumInApStar.key_names() == ("apred", "apstar", "telescope", "field", "prefix", "obj", "healpix")
    fields = BossVisitSpectrum._meta.fields
    assert {"run2d", "plateid", "fiberid", "fieldid", "catalogid", "mjd"} <= set(fields)
    assert fields["catalogid"].field_type == "BIGINT" and fields["run2d"].field_type == "TEXT"
    assert fields["catalogid"].index and not fields["run2d"].index


def test_lookups_by_name_and_by_data_model():
    assert spectrum_model("BossVisitSpectrum") is BossVisitSpectrum
    assert spectrum_model("astra.models.apogee.ApogeeVisitSpectrum") is ApogeeVisitSpectrum
    assert model_for_data_model("specLite") is BossVisitSpectrum
    with pytest.raises(LookupError, match="known: ApogeeCoaddedSpectrumInApStar"):
        spectrum_model("NoSuchSpectrum")
    with pytest.raises(LookupError, match="is not a spectrum table"):
        spectrum_model("astra.models.source.Source")
