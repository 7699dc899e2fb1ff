"""Values read from the real SDSS files of the test SAS tree: pixel masks and object positions.

Each data model states where the object's position is (``DataModel.position``); these tests check
that every real file of the tree gives the star's position through it, and that the pixel bits
the data models call bad are masked (APOGEE NOT_ENOUGH_PSF) or not (BOSS NODATA, deprecated).
"""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

import astra.datamodels
from astra.tools.spectrum import read_arrays

pytestmark = pytest.mark.realdata

BOSS = "dr13/eboss/spectro/redux/v5_10_0/spectra/full/3586/spec-3586-55181-0500.fits"
APSTAR = "dr13/apogee/spectro/redux/r6/stars/apo25m/120-45/apStar-r6-2M00452143+1634446.fits"
APVISIT = "dr16/apogee/spectro/redux/r12/visit/apo25m/N188/5095/55844/apVisit-r12-5095-55844-128.fits"

#: Every real file of the tree: data model, (ra, dec) of the object (from SDSS's own records:
#: PLUG_RA/PLUG_DEC of the BOSS fibre, the 2MASS position of APOGEE targets).
REAL = {
    BOSS: ("spec", (6.7137386, 0.0124592)),
    "dr13/apogee/spectro/redux/r6/stars/apo25m/N1333/apStar-r6-2M03290406+3117075.fits": ("apStar", (52.26693, 31.285429)),
    APSTAR: ("apStar", (11.339304, 16.579082)),
    "dr13/apogee/spectro/redux/r6/stars/apo25m/009+09/apStar-r6-2M17334253-1654573.fits": ("apStar", (263.427217, -16.915936)),
    "dr13/apogee/spectro/redux/r6/stars/apo25m/221+84/apStar-r6-2M12241699+2453335.fits": ("apStar", (186.070812, 24.892639)),
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56587/apVisit-r6-6561-56587-131.fits": ("apVisit", (11.339304, 16.579082)),
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56607/apVisit-r6-6561-56607-125.fits": ("apVisit", (11.339304, 16.579082)),
    "dr13/apogee/spectro/redux/r6/apo25m/6561/56616/apVisit-r6-6561-56616-131.fits": ("apVisit", (11.339304, 16.579082)),
    APVISIT: ("apVisit", (19.658251, 84.061646)),
}


@pytest.fixture(scope="module")
def sas():
    """The real SAS tree, or skip (fail when ASTRA_REQUIRE_SERVICES=1)."""
    root = os.environ.get("ASTRA_TEST_SAS")
    if not root or not os.path.isdir(root):
        reason = "real SDSS files not available: set ASTRA_TEST_SAS to ../shared/sdss-data/sas"
        if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def test_every_real_file_is_listed(sas):
    found = {os.path.relpath(os.path.join(d, f), sas) for d, _, fs in os.walk(sas) for f in fs if ".fits" in f}
    assert found == set(REAL)


@pytest.mark.parametrize("relative", sorted(REAL), ids=[os.path.basename(p) for p in sorted(REAL)])
def test_position_is_the_objects(sas, relative):
    name, (ra, dec) = REAL[relative]
    model = astra.datamodels.get(name)
    with fits.open(os.path.join(sas, relative)) as hdul:
        found = model.position_of(hdul[0].header, hdul)
    assert found == pytest.approx((ra, dec), abs=1e-5)


def test_boss_position_is_not_the_boresight(sas):
    with fits.open(os.path.join(sas, BOSS)) as hdul:
        header = hdul[0].header
        boresight = (header["RA"], header["DEC"])
        found = astra.datamodels.get("spec").position_of(header, hdul)
    assert found == pytest.approx((6.7137, 0.0125), abs=1e-4)
    assert abs(found[0] - boresight[0]) > 1  # the telescope pointed 1.3 degrees away


@pytest.mark.parametrize("relative", [APSTAR, APVISIT], ids=["apStar", "apVisit"])
def test_apogee_not_enough_psf_is_masked(sas, relative, tmp_path):
    # In the real files every NOT_ENOUGH_PSF pixel also has a bit 0-7 set (masked either way):
    # the bit is set alone on good pixels of a copy.
    real = read_arrays(os.path.join(sas, relative))
    assert (np.asarray(real.meta["bitmask"]).astype(np.int64) & (1 << 14)).any()  # the bit is in use
    path = tmp_path / os.path.basename(relative)
    shutil.copy(os.path.join(sas, relative), path)
    with fits.open(path, mode="update") as hdul:
        bitmask = hdul[3].data
        good = np.argwhere((bitmask == 0) & (hdul[2].data > 0) & (hdul[2].data < 1e9))[:50]
        for index in good:
            bitmask[tuple(index)] |= 1 << 14
    arrays = read_arrays(str(path))
    bits = np.asarray(arrays.meta["bitmask"]).astype(np.int64)
    flagged = ((bits & (1 << 14)) != 0) & ((bits & 0xFF) == 0) & (arrays.ivar > 0)
    assert flagged.sum() == len(good)
    assert arrays.mask[flagged].all()


def test_boss_nodata_is_not_masked(sas, tmp_path):
    # The real file has no NODATA pixel; set the (deprecated) bit on some good pixels of a copy.
    path = tmp_path / os.path.basename(BOSS)
    shutil.copy(os.path.join(sas, BOSS), path)
    with fits.open(path, mode="update") as hdul:
        coadd = hdul[1].data
        good = np.flatnonzero((coadd["and_mask"] == 0) & (coadd["ivar"] > 0))[:50]
        coadd["and_mask"][good] |= 1 << 24
    arrays = read_arrays(str(path))
    assert not arrays.mask[good].any()
    assert (np.asarray(arrays.meta["bitmask"])[good] & (1 << 24)).all()


def test_the_catalogue_holds_each_real_files_position(sas, db_url):
    from astra.models.migrate import migrate_files
    from astra.models.spectrum import model_for_data_model

    for release, data_model in (("dr13", "apStar"), ("dr13", "apVisit"), ("dr16", "apVisit"), ("dr13", "spec")):
        assert migrate_files(release, data_model, sas_base_dir=sas).bad == 0
    seen = 0
    for relative, (name, position) in REAL.items():
        model = model_for_data_model(name)
        row = model.get(model.path == os.path.join(sas, relative))
        assert (row.ra, row.dec) == pytest.approx(position, abs=1e-5), relative
        assert (row.source.ra, row.source.dec) == pytest.approx(position, abs=1e-5)
        seen += 1
    assert seen == len(REAL)
