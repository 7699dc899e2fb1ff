"""Every release's apStar layout (astra.datamodels.releases), written by the synthetic writer and read
through Spectrum1D.read, the catalogue (astra migrate), a @task and a BaseTask class."""

import json
import re

import numpy as np
import pytest
from astropy.io import fits

import astra
import astra.datamodels
from astra.contrib.rocket import EstimateSNR
from astra.datamodels.releases import RELEASE_LAYOUTS, apstar_shapes, layout_for, layouts_of
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.migrate import migrate_files
from astra.tools import synthetic
from astra.tools.spectrum import Spectrum1D, SpectrumReadError, read_arrays
from task_methods import MedianSNR, median_snr

#: One release of each apStar layout, and the HDUs its files have.
RELEASES = {"dr13": 10, "dr17": 11, "dr19": 10}


def test_the_table_covers_dr13_to_dr20():
    for model in ("apStar", "apVisit"):
        releases = {r for layout in layouts_of(model) for r in layout.releases}
        assert {"dr13", "dr14", "dr15", "dr16", "dr17", "dr19", "dr20"} <= releases
    assert layout_for("apStar", "dr17").single == (2, 8575)
    assert layout_for("apStar", "DR16").single == (8575,)
    assert {"spec", "specLite", "specFull", "mwmStar", "mwmVisit", "aspcapStar"} <= {l.model for l in RELEASE_LAYOUTS}
    assert apstar_shapes(1) == {(8575,): ("dr13", "dr14", "dr15", "dr16"), (2, 8575): ("dr17", "dr19", "dr20")}
    assert list(apstar_shapes(3)) == [(5, 8575)]


@pytest.mark.parametrize("n_visits", [1, 3])
@pytest.mark.parametrize("release", sorted(RELEASES))
def test_each_layout_through_every_way_of_reading(release, n_visits, tmp_path, db_url, monkeypatch):
    sas = tmp_path / "sas"
    tree = synthetic.write_sample_tree(sas, 2, release=release, species="apStar", seed=5, n_visits=n_visits, snr=60)
    layout = layout_for("apStar", release)
    rows = n_visits + 2 if n_visits > 1 else (layout.single[0] if len(layout.single) == 2 else 1)
    for path in tree.paths:
        with fits.open(path) as hdul:
            assert len(hdul) == RELEASES[release]
            assert hdul[1].data.shape == (layout.single if n_visits == 1 else (n_visits + 2, 8575))
            assert hdul[1].data.dtype.name == layout.dtypes[0] and hdul[3].data.dtype.name == layout.dtypes[2]
        spectrum = Spectrum1D.read(path)
        assert spectrum.flux.shape == (rows, 8575)
        assert spectrum.meta["nvisits"] == n_visits and len(spectrum.meta["visit_files"]) == n_visits

    summary = migrate_files(release, "apStar", sas_base_dir=str(sas))
    assert (summary.new, summary.bad) == (2, 0), summary.details()
    for row in Star.select():
        assert row.n_visits == n_visits and row.flux.shape == (8575,) and row.reader_version == Star.READER_VERSION

    results = list(median_snr(Star.select()))  # the @task style
    assert len(results) == 2 and all(40 < r.snr < 80 for r in results)
    assert MedianSNR.select().count() == 2

    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    tasks = [EstimateSNR(release=release, **keys) for keys in tree]  # the BaseTask style
    summary = astra.build(tasks)
    assert summary.done == 2, summary
    for task in tasks:
        snr = json.load(open(task.output().path))["snr"]
        assert len(snr) == rows and 40 < snr[0] < 80


def test_a_file_no_release_allows_fails_alone_naming_its_shape(tmp_path, db_url, monkeypatch):
    sas = tmp_path / "sas"
    tree = synthetic.write_sample_tree(sas, 3, release="dr17", species="apStar", seed=6, n_visits=3)
    odd = tree.paths[1]
    with fits.open(odd, mode="update") as hdul:
        hdul[0].header["NVISITS"] = 1  # five rows, but one visit: no release has that
    with pytest.raises(SpectrumReadError) as error:
        Spectrum1D.read(odd)
    text = str(error.value)
    assert odd in text and "(5, 8575)" in text and "(8575,)" in text and "(2, 8575)" in text and "dr17" in text
    with pytest.raises(SpectrumReadError, match=r"\(5, 8575\)"):
        read_arrays(odd)

    summary = migrate_files("dr17", "apStar", sas_base_dir=str(sas))
    assert (summary.new, summary.bad) == (2, 1)
    assert summary.bad_files[0][0] == odd and "(5, 8575)" in summary.bad_files[0][1]

    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    result = astra.build([EstimateSNR(release="dr17", **keys) for keys in tree])
    assert result.done == 2 and len(result.failed) == 1 and odd in result.failed[0][1]
    assert np.isfinite(json.load(open(EstimateSNR(release="dr17", **tree[0]).output().path))["snr"][0])


def test_the_documented_table_is_the_codes():
    import os

    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "data-model.rst")).read()
    for layout in RELEASE_LAYOUTS:
        assert f"``{layout.path}``" in text, layout.path
        assert ", ".join(r.upper() for r in layout.releases) in text
        for index, kind, what in layout.hdus:
            assert f"{index}: {kind} ({what})" in text
        # Each row names the SDSS datamodel page it follows (and what that page does not say).
        assert layout.source.startswith(("md/", "yaml/", "none:", "not checked", "as ")), layout
        assert layout.source.replace("|", "\\|") in text, layout.source


def test_the_table_follows_the_sdss_datamodel_pages():
    """What sdss/datamodel's pages say, row by row (see each row's ``source``)."""
    sdss4, dr17, sdss5 = layouts_of("apStar")
    assert dict((i, k) for i, k, _ in sdss4.hdus)[8] == "IMAGE (26,)" and sdss4.dtypes == ("float32", "float32", "int16")
    assert dr17.dtypes == sdss5.dtypes == ("float64", "float64", "int64") and len(dr17.hdus) == 11 == len(sdss5.hdus) + 1
    assert "@healpixgrp" in sdss5.source and "WORK" in sdss5.source
    # SDSS-V BOSS paths differ by release (the sdss-access templates): DR18 {fieldid}p, DR19 the field
    # id zero-padded to six digits (@pad_fieldid), DR20 a type folder and field group above it.
    path = layout_for("specLite", "dr19").path
    assert "DR18: {run2d}/spectra/lite/{fieldid}p/" in path and "DR19: {run2d}/spectra/lite/{fieldid:0>6}" in path
    assert "DR20: {run2d}/spectra/<sptypefolder>/lite/<fieldgrp>/" in path
    # specFull's exposure tables are one per exposure (MJD_EXP_<mjd>-<nn>) from DR18 on, per camera before.
    assert "MJD_EXP_" in layout_for("specFull", "dr19").hdus[-1][2]
    assert "B1-" in layout_for("spec", "dr17").hdus[-1][2]


#: The other data models' layouts: (release, data model, HDUs of the synthetic file, BaseTask species or None).
OTHER_LAYOUTS = [
    ("dr13", "spec", 4, "spec"),
    ("dr19", "specLite", 5, None),
    ("dr19", "specFull", 6, None),
    ("dr13", "apVisit", 12, "apVisit"),
    ("dr16", "apVisit", 12, "apVisit"),
    ("dr19", "apVisit", 12, "apVisit"),
]


@pytest.mark.parametrize("release,data_model,n_hdus,species", OTHER_LAYOUTS,
                         ids=[f"{r}-{m}" for r, m, _, _ in OTHER_LAYOUTS])
def test_each_boss_and_apvisit_layout_is_read(release, data_model, n_hdus, species, tmp_path, db_url, monkeypatch):
    from astra.contrib.rocket import RocketSNR, snr
    from astra.models.spectrum import model_for_data_model

    sas = tmp_path / "sas"
    tree = synthetic.write_sample_tree(sas, 2, release=release, species=data_model, seed=7, snr=40)
    layout = layout_for(data_model, release)
    for path in tree.paths:
        with fits.open(path) as hdul:
            assert len(hdul) == n_hdus
            names = [h.name for h in hdul]
            if (release, data_model) == ("dr19", "apVisit"):  # DR19 names HDUs 1-10 (datamodel apVisit.md)
                from astra.tools.synthetic.apogee import APVISIT_DR19_EXTNAMES
                assert tuple(names[1:11]) == APVISIT_DR19_EXTNAMES
            elif data_model == "apVisit":
                assert names[1:11] == [""] * 10
            if data_model == "specFull":  # one table per exposure, MJD_EXP_<mjd>-<nn> (datamodel specFull.md)
                assert re.fullmatch(r"MJD_EXP_\d{5}-\d\d", names[5]), names
            for index, kind, _ in layout.hdus:  # the tables the data model names, where it puts them
                named = re.match(r"BINTABLE ([A-Z]+)", kind)
                if isinstance(index, int) and named:
                    assert names[index] == named.group(1), (index, kind, names)
            if data_model != "apVisit":
                ra, dec = astra.datamodels.get(data_model).position_of(hdul[0].header, hdul)
                assert (ra, dec) == pytest.approx((hdul["SPALL"].data["PLUG_RA"][0], hdul["SPALL"].data["PLUG_DEC"][0]))
                assert abs(hdul[0].header["RA"] - ra) > 1  # the boresight is elsewhere
        assert Spectrum1D.read(path).flux.ndim == 1
    assert migrate_files(release, data_model, sas_base_dir=str(sas)).bad == 0
    table = model_for_data_model(data_model)
    rows = list(table.select().where(table.data_model == data_model))
    assert len(rows) == 2 and all(row.flux.ndim == 1 and row.reader_version == table.READER_VERSION for row in rows)
    results = list(snr(table.select().where(table.data_model == data_model)))  # the @task style
    assert len(results) == 2 and all(20 < r.snr < 60 for r in results) and RocketSNR.select().count() == 2
    if species is None:
        return
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    tasks = [EstimateSNR(species=species, release=release, **keys) for keys in tree]  # the BaseTask style
    assert astra.build(tasks).done == 2
    assert all(20 < json.load(open(t.output().path))["snr"][0] < 60 for t in tasks)
