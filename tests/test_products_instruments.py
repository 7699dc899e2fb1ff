"""Named products in SDSS's layout: one HDU per instrument (and observatory), read back with astropy.

A source with BOSS and APOGEE spectra (the same star: one ``source_pk``) has results in both
instruments' HDUs; the one-row-per-source rule picks within an HDU, never across.
"""

import re
from typing import Iterable, Union

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import astra
from astra import task
from astra.contrib.rocket import RocketSNR, snr
from astra.fields import FloatField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.apogee import ApogeeVisitSpectrum as Visit
from astra.models.boss import BossVisitSpectrum as Boss
from astra.models.migrate import migrate_files
from astra.models.mwm import MwmStarSpectrum
from astra.models.pipeline import PipelineOutputMixin
from astra.products import create_product, product_is_current
from astra.tools import synthetic

MAJOR_MINOR = "{}.{}".format(*astra.version_info())


class InstrumentSNR(PipelineOutputMixin):
    """The S/N of a star-level spectrum of either instrument (a method of this test)."""

    #> Signal-to-noise
    snr = FloatField(null=True, help_text="Median S/N of good pixels")
    teff = FloatField(null=True, help_text="A temperature [K]")


@task
def instrument_snr(spectra: Iterable[Union[Star, MwmStarSpectrum]]) -> Iterable[InstrumentSNR]:
    """The median S/N of each spectrum's own flux."""
    for spectrum in spectra:
        good = spectrum.ivar > 0
        value = float(np.median(spectrum.flux[good] * np.sqrt(spectrum.ivar[good])))
        yield InstrumentSNR.from_spectrum(spectrum, snr=value, teff=5000.0)


def _hdus(path):
    with fits.open(path) as hdul:
        return hdul[0].header, {h.name: (h.header, Table.read(path, hdu=h.name)) for h in hdul[1:]
                                if h.name != "PROVENANCE"}  # the records the rows reference (docs/provenance.rst)


def _same_star(row, other):
    """Link ``row`` to ``other``'s source: the same star seen by the other instrument."""
    type(row).update(source=other.source_pk).where(type(row).spectrum_pk == row.spectrum_pk).execute()


def test_visit_products_keep_each_instruments_results(tmp_path, db_url):
    root = str(tmp_path / "sas")
    synthetic.write_sample_tree(root, 2, release="dr19", species="specLite", seed=1, observatory="LCO")
    synthetic.write_sample_tree(root, 2, release="dr17", species="apVisit", seed=2)
    for release, data_model in (("dr19", "specLite"), ("dr17", "apVisit")):
        assert migrate_files(release, data_model, sas_base_dir=root).bad == 0
    boss, apogee = Boss.select().order_by(Boss.spectrum_pk).first(), Visit.select().order_by(Visit.spectrum_pk).first()
    _same_star(apogee, boss)
    assert len(list(snr(Boss.select()))) == 2 and len(list(snr(Visit.select()))) == 2

    path, count = create_product("astraAllVisitRocketSNR", tmp_path / "visit.fits")
    primary, hdus = _hdus(path)
    assert list(hdus) == ["BOSS", "APOGEE"] and count == 4 == primary["NROWS"]
    # V_ASTRA is the full version and CREATED "%y-%m-%d %H:%M:%S", as the SDSS datamodel shows them
    # (astraAllStarTheCannon.md, mwmAllStar.md: V_ASTRA 0.5.0, CREATED 23-11-16 00:00:06).
    assert (primary["PIPELINE"], primary["V_ASTRA"], primary["V_RESULT"]) == ("RocketSNR", astra.__version__, MAJOR_MINOR)
    assert re.fullmatch(r"\d\d-\d\d-\d\d \d\d:\d\d:\d\d", primary["CREATED"])
    for name, (header, table) in hdus.items():
        assert header["INSTRMNT"] == name and header["PIPELINE"] == "RocketSNR" and header["V_ASTRA"] == astra.__version__
        assert header["V_RESULT"] == MAJOR_MINOR and header["CREATED"] == primary["CREATED"]
        assert len(table) == 2 and table["ra"].unit == "deg"
    boss_table, apogee_table = hdus["BOSS"][1], hdus["APOGEE"][1]
    assert set(boss_table["spectrum_table"]) == {"BossVisitSpectrum"}
    assert set(apogee_table["spectrum_table"]) == {"ApogeeVisitSpectrum"}
    star = boss.source_pk
    assert boss.source_pk in set(boss_table["source_pk"]) and star in set(apogee_table["source_pk"])  # both HDUs
    assert boss_table[boss_table["source_pk"] == star][0]["snr"] == pytest.approx(
        RocketSNR.get(RocketSNR.spectrum_pk == boss.spectrum_pk).snr)
    assert product_is_current("astraAllVisitRocketSNR", path)

    path, count = create_product("mwmAllVisit", tmp_path / "mwm.fits")
    _, hdus = _hdus(path)
    at_lco = sum(v.telescope.startswith("lco") for v in Visit.select())
    assert [len(t) for _, t in hdus.values()] == [0, 2, 2 - at_lco, at_lco] and count == 4
    assert hdus["BOSS/APO"][1].colnames and len(hdus["BOSS/APO"][1]) == 0  # empty, with its columns
    assert hdus["BOSS/LCO"][0]["OBSRVTRY"] == "LCO" and set(hdus["BOSS/LCO"][1]["observatory"]) == {"LCO"}
    apogee_rows = [t for name, (_, t) in hdus.items() if name.startswith("APOGEE")]
    assert star in set(np.concatenate([t["source_pk"] for t in apogee_rows]))


def test_star_products_choose_within_an_instrument(tmp_path, db_url):
    root = str(tmp_path / "sas")
    synthetic.write_sample_tree(root, 1, release="dr19", species="mwmStar", seed=3)  # BOSS/APO and APOGEE/APO
    synthetic.write_sample_tree(root, 1, release="dr17", species="apStar", seed=4, snr=300.0)
    for release, data_model in (("dr19", "mwmStar"), ("dr17", "apStar")):
        assert migrate_files(release, data_model, sas_base_dir=root).bad == 0
    mwm, apstar = MwmStarSpectrum.get(), Star.get()
    assert mwm.n_boss_apo and mwm.n_apogee_apo
    _same_star(apstar, mwm)  # the star has an apStar (S/N 300) and an mwmStar with both instruments
    results = {r.spectrum_pk: r for r in instrument_snr(MwmStarSpectrum.select())}
    results.update({r.spectrum_pk: r for r in instrument_snr(Star.select())})
    assert len(results) == 2

    path, count = create_product("astraAllStar", tmp_path / "star.fits", method=InstrumentSNR)
    primary, hdus = _hdus(path)
    assert list(hdus) == ["BOSS", "APOGEE"] and count == 2 and primary["NCANDID"] == 3
    (boss_header, boss), (apogee_header, apogee) = hdus["BOSS"], hdus["APOGEE"]
    assert (boss_header["INSTRMNT"], apogee_header["INSTRMNT"]) == ("BOSS", "APOGEE")
    # The BOSS HDU keeps the star's BOSS result although its APOGEE spectrum has a higher S/N:
    # the choice is made within an instrument, never across.
    assert list(boss["spectrum_pk"]) == [mwm.spectrum_pk] and list(boss["source_pk"]) == [mwm.source_pk]
    assert list(apogee["source_pk"]) == [mwm.source_pk] and list(apogee["spectrum_pk"]) == [apstar.spectrum_pk]
    assert list(apogee["n_star_spectra"]) == [2] and list(boss["n_star_spectra"]) == [1]
    assert boss["teff"].unit == apogee["teff"].unit == "K"  # from the help text
    assert product_is_current("astraAllStar", path, method=InstrumentSNR)

    path, count = create_product("mwmAllStar", tmp_path / "mwm.fits")
    _, hdus = _hdus(path)
    assert list(hdus) == ["BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO"]
    assert [h["INSTRMNT"] for h, _ in hdus.values()] == ["BOSS", "BOSS", "APOGEE", "APOGEE"]
    assert list(hdus["BOSS/APO"][1]["spectrum_pk"]) == [mwm.spectrum_pk]
    apogee_rows = {name: list(t["spectrum_pk"]) for name, (_, t) in hdus.items() if name.startswith("APOGEE")}
    assert sum(apogee_rows.values(), []) in ([apstar.spectrum_pk], [mwm.spectrum_pk, apstar.spectrum_pk],
                                             [apstar.spectrum_pk, mwm.spectrum_pk])
    assert len(hdus["BOSS/LCO"][1]) == 0 and "snr" in hdus["BOSS/LCO"][1].colnames
