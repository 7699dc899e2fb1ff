"""astra.models.mwm: SDSS-V mwmStar and mwmVisit files (synthetic), one row per file."""

import numpy as np
import pytest

from astra.models.migrate import migrate_files
from astra.models.mwm import MwmStarSpectrum, MwmVisitSpectrum
from astra.tools import synthetic
from astra.tools.spectrum import read_spectrum


@pytest.mark.parametrize("species, model", [("mwmStar", MwmStarSpectrum), ("mwmVisit", MwmVisitSpectrum)])
def test_mwm_files_ingest_with_sdss_id_and_counts(tmp_path, db_url, species, model):
    root = tmp_path / "sas"
    tree = synthetic.write_sample_tree(root, 3, release="dr19", species=species, seed=2)
    summary = migrate_files("dr19", species, sas_base_dir=str(root))
    assert (summary.new, summary.bad) == (3, 0), summary.details()
    rows = {row.sdss_id: row for row in model.select()}
    assert set(rows) == {k["sdss_id"] for k in tree}
    for keys, path in zip(tree, tree.paths):
        row = rows[keys["sdss_id"]]
        assert (row.release, row.data_model, row.v_astra, row.path) == ("dr19", species, keys["v_astra"], path)
        assert row.source.sdss_id == keys["sdss_id"]
        counts = [row.n_boss_apo, row.n_boss_lco, row.n_apogee_apo, row.n_apogee_lco]
        from astropy.io import fits

        with fits.open(path) as hdul:
            assert counts == [hdul[i].header["NAXIS2"] for i in range(1, 5)]
    row = rows[tree[0]["sdss_id"]]
    first = read_spectrum(row.path, species)  # the first non-empty HDU
    np.testing.assert_array_equal(row.flux, np.atleast_2d(first.flux.value)[0])
    assert row.wavelength.shape == row.ivar.shape == row.pixel_flags.shape == row.flux.shape
