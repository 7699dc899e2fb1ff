"""Named products (astra.products.named) written from a real catalogue and read back with astropy.

Every test runs on SQLite and on PostgreSQL (``db_url``). The catalogue is filled by
``astra migrate`` from synthetic files (and, in the realdata test, from the real SDSS files);
results are written by Rocket's ``@task`` (``snr``) itself.
"""

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, vstack

import astra
from astra.contrib.rocket import RocketSNR, snr
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.apogee import ApogeeVisitSpectrum as Visit
from astra.models.migrate import migrate_files
from astra.models.mwm import MwmStarSpectrum, MwmVisitSpectrum
from astra.models.pipeline import PipelineOutputMixin
from astra.products import create_product, product_is_current, product_path
from astra.tools import synthetic

MAJOR_MINOR = "{}.{}".format(*astra.version_info())


class NeverRun(PipelineOutputMixin):
    """A method's results table that holds no rows."""

    #> Quantities
    teff = FloatField(null=True, unit="K", help_text="Effective temperature")


@pytest.fixture(autouse=True)
def no_model_named_rocket(monkeypatch):
    """Hide tests/task_methods.py's ``Rocket`` model (other test modules import it), which would
    answer to ``astraAllStarRocket`` (test_products_names.py)."""
    from astra.database.models import RESULT_MODELS

    monkeypatch.delitem(RESULT_MODELS, "rocket", raising=False)


@pytest.fixture
def catalogue(tmp_path, db_url):
    """4 dr17 apStar, 3 dr17 apVisit, 2 dr19 mwmStar and 2 dr19 mwmVisit spectra, ingested;
    Rocket's S/N of the apStar and apVisit spectra."""
    root = str(tmp_path / "sas")
    trees = {
        ("dr17", "apStar"): synthetic.write_sample_tree(root, 4, release="dr17", species="apStar", seed=1),
        ("dr17", "apVisit"): synthetic.write_sample_tree(root, 3, release="dr17", species="apVisit", seed=2),
        ("dr19", "mwmStar"): synthetic.write_sample_tree(root, 2, release="dr19", species="mwmStar", seed=3),
        ("dr19", "mwmVisit"): synthetic.write_sample_tree(root, 2, release="dr19", species="mwmVisit", seed=4),
    }
    for release, data_model in trees:
        assert migrate_files(release, data_model, sas_base_dir=root).bad == 0
    results = list(snr(Star.select())) + list(snr(Visit.select()))
    assert len(results) == 7
    return trees


def _table(path, hdu="APOGEE"):
    """The primary header, and the header and table of one HDU (by EXTNAME)."""
    with fits.open(path) as hdul:
        header = hdul[0].header
        table_header = hdul[hdu].header
    return header, table_header, Table.read(path, hdu=hdu)


def _every_hdu(path):
    """The rows of every table HDU of a product, one table (with an ``hdu`` column: its EXTNAME)."""
    with fits.open(path) as hdul:
        names = [hdu.name for hdu in hdul[1:]]
    tables = []
    for name in names:
        table = Table.read(path, hdu=name)
        table["hdu"] = name
        tables.append(table)
    return vstack(tables, metadata_conflicts="silent")


def _mwm_hdus(row):
    """The EXTNAMEs of mwmAllStar/mwmAllVisit an mwm row is in: those it has spectra of."""
    counts = {"BOSS/APO": row.n_boss_apo, "BOSS/LCO": row.n_boss_lco, "APOGEE/APO": row.n_apogee_apo,
              "APOGEE/LCO": row.n_apogee_lco}
    return {name for name, n in counts.items() if n}


def test_astra_all_star_joins_the_catalogue_keys(catalogue, tmp_path):
    path, count = create_product("astraAllStarRocketSNR", tmp_path / "star.fits")
    assert count == 4
    header, table_header, table = _table(path)
    assert len(table) == 4 and header["NROWS"] == 4
    assert header["PRODUCT"] == "astraAllStarRocketSNR" and header["MODEL"] == "RocketSNR"
    assert header["ASTRA"] == header["V_ASTRA"] == astra.__version__ and header["V_RESULT"] == MAJOR_MINOR
    assert header["RELEASE"] == "dr17" and header["CREATED"].startswith(str(np.datetime64("now", "Y"))[2:] + "-")
    assert header["MODIFIED"] and "ApogeeCoaddedSpectrumInApStar" in header["TABLES"]
    # Source identifiers, then the spectrum's keys, then the results.
    names = table.colnames
    assert names[:8] == ["source_pk", "sdss_id", "catalogid", "sdss4_apogee_id", "sdss4_thing_id", "ra", "dec",
                         "spectrum_pk"]
    assert names.index("obj") < names.index("task_pk") < names.index("snr")
    assert names.count("spectrum_pk") == 1 and names.count("source_pk") == 1
    assert "spectrum_v_astra" in names  # mwmStar's key, renamed beside the results' v_astra
    rows = {row.spectrum_pk: row for row in Star.select()}
    assert sorted(table["spectrum_pk"]) == sorted(rows) and list(table["spectrum_pk"]) == sorted(rows)
    for record in table:
        spectrum = rows[record["spectrum_pk"]]
        assert record["obj"] == spectrum.obj == record["sdss4_apogee_id"]
        assert (record["telescope"], record["field"], record["apred"]) == (
            spectrum.telescope, spectrum.field, spectrum.apred)
        assert record["source_pk"] == spectrum.source.pk and record["ra"] == pytest.approx(spectrum.source.ra)
        assert record["spectrum_table"] == "ApogeeCoaddedSpectrumInApStar" and record["release"] == "dr17"
        result = RocketSNR.get(RocketSNR.spectrum_pk == spectrum.spectrum_pk)
        assert record["snr"] == pytest.approx(result.snr) and record["n_pixels"] == result.n_pixels
    assert table["sdss_id"].mask.all() and table["healpix"].mask.all()  # empty, not zero
    # Category cards before each group, help text as column comments, flags described.
    cards = list(table_header.cards)
    keys = [c.keyword for c in cards]
    for category, first in [("Source", "source_pk"), ("Spectrum", "spectrum_pk"), ("Signal-to-noise", "snr")]:
        position = keys.index(f"TTYPE{names.index(first) + 1}")
        assert cards[position - 1].keyword == "" and cards[position - 1].value == category
    assert table_header.comments[f"TTYPE{names.index('snr') + 1}"] == "Signal-to-noise ratio"
    assert any("flag_low_snr" in str(c) for c in table_header["COMMENT"])
    # The SDSS datamodel's HDUs: summary, BOSS, APOGEE, with their cards; the BOSS HDU (no BOSS
    # star-level results here) is written with its columns.
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "BOSS", "APOGEE", "PROVENANCE"]  # docs/provenance.rst
        assert [h.header["INSTRMNT"] for h in hdul[1:3]] == ["BOSS", "APOGEE"]
        for h in hdul[1:3]:
            assert (h.header["PIPELINE"], h.header["V_ASTRA"]) == ("RocketSNR", astra.__version__) and h.header["CREATED"]
        assert len(hdul["BOSS"].data) == 0 and "snr" in hdul["BOSS"].columns.names
        assert header["PIPELINE"] == "RocketSNR" and "HDU 2: APOGEE spectra" in [str(c) for c in header["COMMENT"]]
        units = {c.name: c.unit for c in hdul["APOGEE"].columns}
        assert units["ra"] == units["dec"] == "deg"


def test_astra_all_visit_and_an_empty_star_product(catalogue, tmp_path):
    path, count = create_product("astraAllVisitSnr", tmp_path / "visit.fits")
    _, _, table = _table(path)
    assert count == len(table) == 3
    assert set(table["spectrum_table"]) == {"ApogeeVisitSpectrum"}
    visits = {row.spectrum_pk: row for row in Visit.select()}
    for record in table:
        assert (record["plate"], record["mjd"], record["fiber"]) == tuple(
            getattr(visits[record["spectrum_pk"]], k) for k in ("plate", "mjd", "fiber"))
    # A results model with no rows: a valid file with every column and no rows.
    path, count = create_product("astraAllStar", tmp_path / "never.fits", method=NeverRun)
    header, _, table = _table(path)
    assert count == 0 and len(table) == 0 and header["NROWS"] == 0 and header["RELEASE"] == ""
    assert {"source_pk", "obj", "teff", "task_pk"} <= set(table.colnames)
    assert table["teff"].unit == "K"
    _, _, boss = _table(path, "BOSS")
    assert len(boss) == 0 and boss["teff"].unit == "K"


def test_mwm_all_star_and_visit_are_the_catalogue(catalogue, tmp_path):
    path, count = create_product("mwmAllStar", tmp_path / "star.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO"]
        assert [(h.header["INSTRMNT"], h.header["OBSRVTRY"]) for h in hdul[1:]] == [
            ("BOSS", "APO"), ("BOSS", "LCO"), ("APOGEE", "APO"), ("APOGEE", "LCO")]
        assert all("PIPELINE" not in h.header for h in hdul)
    header = fits.getheader(path)
    table = _every_hdu(path)
    mwm = {row.spectrum_pk: row for row in MwmStarSpectrum.select()}
    stars = {row.spectrum_pk: row for row in Star.select()}
    expected = {(pk, hdu) for pk, row in mwm.items() for hdu in _mwm_hdus(row)}
    expected |= {(pk, "APOGEE/LCO" if row.telescope.startswith("lco") else "APOGEE/APO") for pk, row in stars.items()}
    assert {(r["spectrum_pk"], r["hdu"]) for r in table} == expected and count == len(table) == len(expected)
    assert header["RELEASE"] == "dr17,dr19" and "MODEL" not in header and header["NROWS"] == count
    assert sorted(set(table["spectrum_table"])) == ["ApogeeCoaddedSpectrumInApStar", "MwmStarSpectrum"]
    for record in table:
        if record["spectrum_table"] == "MwmStarSpectrum":
            row = mwm[record["spectrum_pk"]]
            assert record["sdss_id"] == row.sdss_id and record["path"] == row.path
            assert record["n_apogee_apo"] == row.n_apogee_apo and record["v_astra"] == row.v_astra
        else:
            assert record["path"].endswith(".fits") and record["n_visits"] >= 1
    assert {"spectrum_ra", "spectrum_dec", "file_mtime", "flag_bad_file"} <= set(table.colnames)
    path, count = create_product("mwmAllVisit", tmp_path / "visit.fits", release="dr19")
    header = fits.getheader(path)
    table = _every_hdu(path)
    expected = {(row.spectrum_pk, hdu) for row in MwmVisitSpectrum.select() for hdu in _mwm_hdus(row)}
    assert count == len(expected) and header["RELEASE"] == "dr19"
    assert {(r["spectrum_pk"], r["hdu"]) for r in table} == expected


def test_filters_where_and_default_paths(catalogue):
    path, count = create_product("astraAllStarRocketSNR", release="dr17")
    assert path == product_path("astraAllStarRocketSNR", "dr17")
    assert path == os.path.join(astra.config.get("output_dir"), "products", "dr17",
                                f"astraAllStarRocketSNR-{MAJOR_MINOR}.fits")
    assert count == 4 and os.path.exists(path)
    one = Star.select().order_by(Star.spectrum_pk).first()
    _, count = create_product("astraAllStarRocketSNR", filters={"obj": one.obj}, overwrite=True)
    assert count == 1
    _, count = create_product("astraAllStarRocketSNR", filters={"sdss_id": 5}, overwrite=True)
    assert count == 0
    _, count = create_product("astraAllStarRocketSNR", where=f"spectrum_pk = {one.spectrum_pk}", overwrite=True)
    assert count == 1
    _, count = create_product("mwmAllStar", filters={"spectrum_table": ["MwmStarSpectrum"]})
    assert count == sum(len(_mwm_hdus(row)) for row in MwmStarSpectrum.select())
    with pytest.raises(ValueError, match="no column 'colour' to filter on"):
        create_product("mwmAllVisit", filters={"colour": "red"}, overwrite=True)
    with pytest.raises(ValueError, match="(ApogeeVisit|MwmVisit)Spectrum: .*nosuchcolumn"):
        create_product("mwmAllVisit", where="nosuchcolumn > 1", overwrite=True)
    visits = Visit.select().count() + sum(len(_mwm_hdus(row)) for row in MwmVisitSpectrum.select())
    assert create_product("mwmAllVisit", overwrite=True)[1] == visits  # the connection is usable after an error


def test_versions(catalogue, tmp_path):
    row = RocketSNR.select().first()
    RocketSNR.insert(spectrum_pk=row.spectrum_pk, source_pk=row.source_pk, v_astra_major_minor="0.0",
                     v_astra="0.0.1", snr=1.0).execute()
    assert create_product("astraAllStarRocketSNR", tmp_path / "a.fits")[1] == 4
    path, count = create_product("astraAllStarRocketSNR", tmp_path / "b.fits", all_versions=True)
    _, _, table = _table(path)
    assert count == 5 and sorted(set(table["v_astra_major_minor"])) == ["0.0", MAJOR_MINOR]
    assert fits.getheader(path)["ROWS"] == "one per source and version"  # the old result is its source's 0.0 row
    assert product_is_current("astraAllStarRocketSNR", path, all_versions=True)
    RocketSNR.delete().where(RocketSNR.v_astra_major_minor == "0.0").execute()
    assert not product_is_current("astraAllStarRocketSNR", path, all_versions=True)
    with pytest.raises(ValueError, match="no versions"):
        create_product("mwmAllStar", tmp_path / "c.fits", all_versions=True)


def test_refuses_an_existing_file_and_overwrites_atomically(catalogue, tmp_path):
    target = tmp_path / "p.fits"
    create_product("mwmAllStar", target)
    before = target.read_bytes()
    with pytest.raises(FileExistsError, match="exists; use --overwrite"):
        create_product("mwmAllStar", target)
    assert target.read_bytes() == before
    first = fits.getheader(target)["NROWS"]
    synthetic.write_sample_tree(tmp_path / "sas", 2, release="dr17", species="apStar", seed=9)
    migrate_files("dr17", "apStar", sas_base_dir=str(tmp_path / "sas"))
    path, count = create_product("mwmAllStar", target, overwrite=True)
    assert count == first + 2 and fits.getheader(path)["NROWS"] == count
    assert [p for p in os.listdir(tmp_path) if "astra-tmp" in p] == []


def test_plain_summaries_still_work_through_create_product(catalogue, tmp_path):
    path, count = create_product("rocketsnr", tmp_path / "s.fits")
    assert count == 7 and fits.getheader(path)["MODEL"] == "RocketSNR"


@pytest.mark.realdata
def test_real_sdss_files(real_sas, db_url, tmp_path):
    for release, data_model in [("dr13", "apStar"), ("dr13", "apVisit")]:
        migrate_files(release, data_model, sas_base_dir=real_sas)
    stars = Star.select().count()
    visits = Visit.select().count()
    assert stars and visits
    list(snr(Star.select()))
    path, count = create_product("astraAllStarRocketSNR", tmp_path / "star.fits")
    _, _, table = _table(path)
    assert count == stars == len(table)
    assert set(table["obj"]) == {row.obj for row in Star.select()}
    assert all(np.isfinite(table["snr"]))
    path, count = create_product("mwmAllVisit", tmp_path / "visit.fits", release="dr13")
    _, _, table = _table(path, "APOGEE/APO")  # SDSS-IV APOGEE: every file from Apache Point
    assert count == visits == len(table) and set(table["data_model"]) == {"apVisit"}


def test_product_is_current_until_a_row_changes(catalogue, tmp_path):
    target = tmp_path / "star.fits"
    assert not product_is_current("astraAllStarRocketSNR", target)  # no file yet
    create_product("astraAllStarRocketSNR", target)
    assert product_is_current("astraAllStarRocketSNR", target)
    assert not product_is_current("astraAllStarRocketSNR", target, release="dr17")  # another selection
    assert not product_is_current("astraAllVisitRocketSNR", target)  # another product
    synthetic.write_sample_tree(tmp_path / "sas", 1, release="dr17", species="apStar", seed=11)
    migrate_files("dr17", "apStar", sas_base_dir=str(tmp_path / "sas"))
    assert product_is_current("astraAllStarRocketSNR", target)  # a new spectrum without a result
    assert len(list(snr(Star.select().where(~Star.spectrum_pk.in_(RocketSNR.select(RocketSNR.spectrum_pk)))))) == 1
    assert not product_is_current("astraAllStarRocketSNR", target)  # a new result
    create_product("astraAllStarRocketSNR", target, overwrite=True)
    assert product_is_current("astraAllStarRocketSNR", target)
    RocketSNR.update(snr=1.0, modified=RocketSNR.modified).where(RocketSNR.task_pk == 1).execute()
    assert product_is_current("astraAllStarRocketSNR", target)  # only modified times are compared
    RocketSNR.delete().where(RocketSNR.task_pk == 1).execute()
    assert not product_is_current("astraAllStarRocketSNR", target)  # a deleted result
    catalogue_file = tmp_path / "mwm.fits"
    create_product("mwmAllVisit", catalogue_file, release="dr19")
    assert product_is_current("mwmAllVisit", catalogue_file, release="dr19")
    MwmVisitSpectrum.get().save()  # a re-ingested spectrum gets a new modified time
    assert not product_is_current("mwmAllVisit", catalogue_file, release="dr19")


@pytest.fixture
def two_telescopes(tmp_path, db_url):
    """One source with two dr17 apStar files (one telescope's at S/N 30, the other's at S/N 80), one with
    one (S/N 50), each with Rocket's S/N; returns ``(the shared source, its two Star rows)``."""
    from astra.tools.synthetic.apogee import write_apstar
    from astra.tools.synthetic.tree import resolve_path

    root = str(tmp_path / "sas")
    tree = synthetic.write_sample_tree(root, 2, release="dr17", species="apStar", seed=21, snr=50.0)
    other = ("apo25m", "ap") if tree[0]["telescope"] == "lco25m" else ("lco25m", "as")
    keys = dict(tree[0], telescope=other[0], prefix=other[1])
    write_apstar(resolve_path(root, "dr17", "apStar", keys), snr=80.0, obj=keys["obj"], field=keys["field"],
                 telescope=other[0], apred=keys["apred"], seed=22)
    write_apstar(tree.paths[0], snr=30.0, obj=keys["obj"], field=keys["field"], telescope=tree[0]["telescope"],
                 apred=keys["apred"], seed=23)
    assert migrate_files("dr17", "apStar", sas_base_dir=root).bad == 0
    assert len(list(snr(Star.select()))) == 3
    shared = [row for row in Star.select().order_by(Star.spectrum_pk) if row.obj == keys["obj"]]
    assert len(shared) == 2 and shared[0].source_pk == shared[1].source_pk
    return shared[0].source_pk, shared


def test_astra_all_star_has_one_row_per_source_by_the_documented_rule(two_telescopes, tmp_path):
    source, (apo, lco) = two_telescopes
    low, high = sorted((apo, lco), key=lambda row: row.snr)
    assert high.snr > 2 * low.snr  # written at S/N 80 and 30
    by_snr = {30: low, 80: high}
    path, count = create_product("astraAllStarRocketSNR", tmp_path / "star.fits")
    header, _, table = _table(path)
    assert count == len(table) == 2 and len(set(table["source_pk"])) == 2  # two sources, three spectra
    assert header["ROWS"] == "one per source" and header["NCANDID"] == 3
    assert header["CHOSEN"].startswith("highest spectrum snr")
    row = table[table["source_pk"] == source][0]
    assert row["spectrum_pk"] == by_snr[80].spectrum_pk and row["telescope"] == by_snr[80].telescope
    assert row["spectrum_snr"] == pytest.approx(by_snr[80].snr) and row["n_star_spectra"] == 2
    assert row["snr"] == pytest.approx(RocketSNR.get(RocketSNR.spectrum_pk == row["spectrum_pk"]).snr)
    assert list(table[table["source_pk"] != source]["n_star_spectra"]) == [1]
    assert product_is_current("astraAllStarRocketSNR", path)
    # A filter picks the candidates first: the source's row among its spectra from the other telescope.
    path, _ = create_product("astraAllStarRocketSNR", tmp_path / "one.fits", filters={"telescope": by_snr[30].telescope})
    _, _, table = _table(path)
    assert table[table["source_pk"] == source][0]["spectrum_pk"] == by_snr[30].spectrum_pk
    # Equal S/N: the highest spectrum_pk (the spectrum ingested last) is chosen; a missing S/N is the lowest.
    Star.update(snr=80.0).where(Star.spectrum_pk.in_([apo.spectrum_pk, lco.spectrum_pk])).execute()
    latest = max(apo.spectrum_pk, lco.spectrum_pk)
    _, _, table = _table(create_product("astraAllStarRocketSNR", tmp_path / "tie.fits")[0])
    assert table[table["source_pk"] == source][0]["spectrum_pk"] == latest
    Star.update(snr=None).where(Star.spectrum_pk == latest).execute()
    _, _, table = _table(create_product("astraAllStarRocketSNR", tmp_path / "null.fits")[0])
    assert table[table["source_pk"] == source][0]["spectrum_pk"] == min(apo.spectrum_pk, lco.spectrum_pk)
    # Deleting the result the row came from changes the product (though a row of the source remains).
    assert product_is_current("astraAllStarRocketSNR", tmp_path / "null.fits")
    RocketSNR.delete().where(RocketSNR.spectrum_pk == min(apo.spectrum_pk, lco.spectrum_pk)).execute()
    assert not product_is_current("astraAllStarRocketSNR", tmp_path / "null.fits")


def test_mwm_all_star_picks_within_an_observatory_never_across(two_telescopes, tmp_path):
    source, shared = two_telescopes
    path, count = create_product("mwmAllStar", tmp_path / "mwm.fits")
    header = fits.getheader(path)
    table = _every_hdu(path)
    assert count == 3 and header["ROWS"] == "one per source" and header["NCANDID"] == 3
    # The source's two spectra are from two observatories: one row in each HDU, not one in all.
    rows = table[table["source_pk"] == source]
    assert sorted(rows["hdu"]) == ["APOGEE/APO", "APOGEE/LCO"] and list(rows["n_star_spectra"]) == [1, 1]
    for row in rows:
        spectrum = next(s for s in shared if s.spectrum_pk == row["spectrum_pk"])
        assert row["hdu"] == ("APOGEE/LCO" if spectrum.telescope.startswith("lco") else "APOGEE/APO")
    assert product_is_current("mwmAllStar", path)
    Star.get_by_id(shared[0].spectrum_pk).save()  # a re-ingested spectrum
    assert not product_is_current("mwmAllStar", path)
    with pytest.raises(ValueError, match="n_star_spectra is counted after the rows are chosen"):
        create_product("mwmAllStar", tmp_path / "x.fits", filters={"n_star_spectra": 2})
    visits = _every_hdu(create_product("mwmAllVisit", tmp_path / "v.fits")[0])
    assert "n_star_spectra" not in visits.colnames
