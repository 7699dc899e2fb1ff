"""Summary FITS products read back with astropy: values, comments, categories, units, flags."""

import os

import numpy as np
import pytest
from astropy.io import fits

import astra
import astra.config
from astra.database import BaseResult, upsert_rows
from astra.fields import BitField, FloatField, IntegerField, TextField, flag
from astra.contrib.rocket.results import EstimateSNRResult
from astra.products import create_summary, default_summary_path

from fake_tasks import FakeTask

MAJOR, MINOR = astra.version_info()


def _task(name, release="dr17", minor=MINOR, **params):
    return FakeTask(f"test.Fake_{name}_{minor}", major=MAJOR, minor=minor, obj=name, release=release, **params)


class ProductResult(BaseResult):
    """A model exercising every column kind."""

    #> Stellar parameters
    teff = FloatField(null=True, unit="K", help_text="Effective temperature")
    n_lines = IntegerField(null=True, help_text="Lines used")
    note = TextField(null=True, help_text="A note")

    #> Quality
    quality = BitField(help_text="Quality bits")
    flag_cosmic = quality.flag(2**0, help_text="Cosmic ray hit")
    flag_not_converged = flag(2**1, help_text="Fit did not converge")



def _fill():
    rows = [
        ProductResult.row_for_task(_task("a"), {"teff": 5000.0, "n_lines": 12, "note": "fine"}),
        ProductResult.row_for_task(_task("b", release="dr16"), {"flag_not_converged": True, "flag_cosmic": True}),
        ProductResult.row_for_task(_task("c"), failed=True, error="ValueError: boom"),
        ProductResult.row_for_task(_task("a", minor=MINOR + 1), {"teff": 6000.0}),
    ]
    upsert_rows(ProductResult, rows)


def test_summary_values_and_header(db_url, tmp_path):
    _fill()
    path, count = create_summary(ProductResult, tmp_path / "summary.fits")
    assert count == 3, "only this Astra major.minor by default"
    with fits.open(path) as hdul:
        primary, table = hdul[0].header, hdul[1]
        data, header = table.data, table.header
        assert primary["MODEL"] == "ProductResult" and primary["NROWS"] == 3
        assert (primary["V_ASTRA"], primary["V_RESULT"]) == (astra.__version__, f"{MAJOR}.{MINOR}")
        assert list(data["obj"]) == ["a", "b", "c"]
        assert data["teff"][0] == 5000.0 and np.isnan(data["teff"][1])
        assert data["n_lines"][0] == 12
        names = [header[f"TTYPE{i}"] for i in range(1, header["TFIELDS"] + 1)]
        i_lines = names.index("n_lines") + 1
        assert data["n_lines"][1] == header[f"TNULL{i_lines}"]
        assert list(data["note"]) == ["fine", "", ""]
        assert list(data["flags"]) == [0, 2, 1]
        assert list(data["quality"]) == [0, 1, 0]
        assert data["error"][2] == "ValueError: boom"
        i_teff = names.index("teff") + 1
        assert header.comments[f"TTYPE{i_teff}"] == "Effective temperature"
        assert header[f"TUNIT{i_teff}"] == "K"
        assert header.comments[f"TTYPE{names.index('task_id') + 1}"] == "Task identity of the spectrum's task"
        # Category header cards sit just before their group's first TTYPE.
        cards = list(header.cards)
        keys = [c.keyword for c in cards]
        for category, first in [("Stellar parameters", "teff"), ("Quality", "quality"), ("Identity", "task_id")]:
            position = keys.index(f"TTYPE{names.index(first) + 1}")
            assert cards[position - 1].keyword == "" and cards[position - 1].value == category
        # Flags and their meaning.
        assert header["FLAG0"] == "flag_failed" and header.comments["FLAG0"] == "No result: bad input, or the method raised"
        assert header["FLAG1"] == "flag_not_converged"
        assert any("quality bit 0 (1): flag_cosmic: Cosmic ray hit" in str(c) for c in header["COMMENT"])


def test_filters_where_and_versions(db_url, tmp_path):
    _fill()
    _, count = create_summary(ProductResult, tmp_path / "dr16.fits", filters={"release": ["dr16"]})
    assert count == 1
    _, count = create_summary(ProductResult, tmp_path / "teff.fits", where="teff > 4000")
    assert count == 1
    path, count = create_summary(ProductResult, tmp_path / "all.fits", all_versions=True)
    assert count == 4
    with fits.open(path) as hdul:
        assert sorted(hdul[1].data["astra_version_minor"]) == [MINOR] * 3 + [MINOR + 1]
    with pytest.raises(ValueError, match="no column 'colour'"):
        create_summary(ProductResult, tmp_path / "x.fits", filters={"colour": "red"})


def test_refuses_to_overwrite_and_writes_atomically(db_url, tmp_path):
    _fill()
    target = tmp_path / "summary.fits"
    create_summary(ProductResult, target)
    before = target.read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        create_summary(ProductResult, target)
    assert target.read_bytes() == before
    create_summary(ProductResult, target, overwrite=True)
    assert [p for p in os.listdir(tmp_path) if "astra-tmp" in p] == []


def test_arrays_and_empty_table(db_url, tmp_path):
    path, count = create_summary(EstimateSNRResult, tmp_path / "empty.fits")
    assert count == 0
    with fits.open(path) as hdul:
        assert len(hdul[1].data) == 0 and "snr" in hdul[1].columns.names
    upsert_rows(EstimateSNRResult, [
        EstimateSNRResult.row_for_task(_task("v"), {"snr": 10.0, "snr_visits": [9.0, 11.0, float("nan")]}),
        EstimateSNRResult.row_for_task(_task("w"), {"snr": 5.0}),
    ])
    path, count = create_summary(EstimateSNRResult, tmp_path / "arrays.fits")
    with fits.open(path) as hdul:
        visits = hdul[1].data["snr_visits"]
        assert list(visits[0][:2]) == [9.0, 11.0] and np.isnan(visits[0][2])
        assert len(visits[1]) == 0


def test_default_path_is_in_output_dir(db_url):
    expected = os.path.join(astra.config.get("output_dir"), "products", f"astraAllProduct-{MAJOR}.{MINOR}.fits")
    assert default_summary_path(ProductResult) == expected
    _fill()
    path, _ = create_summary(ProductResult)
    assert path == expected and os.path.exists(path)
