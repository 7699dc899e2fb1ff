"""astra.models.boss: BOSS spec files (real dr13) and SDSS-V specLite files (synthetic)."""

import numpy as np
import pytest
from astropy.io import fits

from astra.models.boss import BossVisitSpectrum
from astra.models.migrate import migrate_files
from astra.tools.spectrum import read_spectrum


@pytest.mark.realdata
def test_real_spec_file_ingests_with_keys_and_header_values(real_sas, db_url):
    summary = migrate_files("dr13", "spec", sas_base_dir=real_sas)
    assert (summary.new, summary.bad) == (1, 0)
    row = BossVisitSpectrum.get()
    assert (row.release, row.data_model, row.run2d, row.plateid, row.mjd, row.fiberid) == (
        "dr13", "spec", "v5_10_0", 3586, 55181, 500)
    assert row.fieldid is None and row.catalogid is None
    assert (row.ra, row.dec) == pytest.approx((6.7137386, 0.0124592), abs=1e-6) and row.exptime == pytest.approx(6302.0)
    assert row.thing_id == 96714281 and row.source.sdss4_thing_id == 96714281
    # The header has no S/N; it is the SPALL table's SN_MEDIAN_ALL, as astropy reads it.
    with fits.open(row.path) as hdul:
        assert row.snr == pytest.approx(float(hdul["SPALL"].data["SN_MEDIAN_ALL"][0])) == pytest.approx(54.975536)
    full = read_spectrum(row.path, "spec")
    np.testing.assert_array_equal(row.flux, full.flux.value)
    assert row.ivar.shape == row.wavelength.shape == row.pixel_flags.shape == full.flux.shape


def test_select_works_on_an_empty_catalogue(db_url):
    assert list(BossVisitSpectrum.select().limit(10)) == []


def test_synthetic_speclite_rows_have_the_snr_of_their_spall_table(tmp_path, db_url):
    from astra.tools import synthetic

    tree = synthetic.write_sample_tree(tmp_path / "sas", 3, release="dr19", species="specLite", seed=2)
    summary = migrate_files("dr19", "specLite", sas_base_dir=str(tmp_path / "sas"))
    assert (summary.new, summary.bad) == (3, 0)
    for row in BossVisitSpectrum.select():
        with fits.open(row.path) as hdul:
            assert row.snr == pytest.approx(float(hdul["SPALL"].data["SN_MEDIAN_ALL"][0]))
    assert len(tree) == 3
