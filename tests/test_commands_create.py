"""``astra create`` on the command line."""

import subprocess
import sys

import pytest
from astropy.io import fits

import astra.config
from astra.cli import main
from astra.database import upsert_rows
from astra.contrib.rocket.results import EstimateSNRResult

from fake_tasks import FakeTask


def _task(name, release):
    major, minor = astra.version_info()
    return FakeTask(f"test.Fake_{name}", major=major, minor=minor, obj=name, release=release, mjd=59000)


@pytest.fixture
def db_url(db_url):
    """The configured results database (SQLite, then PostgreSQL), holding ten S/N rows."""
    rows = [EstimateSNRResult.row_for_task(_task(f"s{i}", "dr13" if i % 2 else "dr17"), {"snr": float(i)})
            for i in range(10)]
    upsert_rows(EstimateSNRResult, rows)
    return db_url


def test_create_by_name_with_filter(db_url, tmp_path, capsys):
    out = tmp_path / "snr.fits"
    assert main(["create", "estimatesnr", "--output", str(out), "--release", "dr13"]) == 0
    assert f"wrote 5 rows to {out}" in capsys.readouterr().out
    with fits.open(out) as hdul:
        assert set(hdul[1].data["release"]) == {"dr13"}
        assert sorted(hdul[1].data["snr"]) == [1.0, 3.0, 5.0, 7.0, 9.0]


def test_create_by_dotted_path_and_overwrite(db_url, tmp_path, capsys):
    out = tmp_path / "snr.fits"
    assert main(["create", "astra.database.examples.EstimateSNRResult", "-o", str(out)]) == 0
    assert main(["create", "estimatesnr", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; use --overwrite" in err
    assert main(["create", "estimatesnr", "-o", str(out), "--overwrite", "--where", "snr >= 8"]) == 0
    with fits.open(out) as hdul:
        assert len(hdul[1].data) == 2


def test_create_errors_are_one_line(db_url, tmp_path, capsys):
    assert main(["create", "nosuchmodel"]) == 2
    assert "no results model named 'nosuchmodel'" in capsys.readouterr().err
    assert main(["create", "estimatesnr", "-o", str(tmp_path / "x.fits"), "--where", "nosuchcolumn > 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the EstimateSNRResult product" in err
    assert main(["create", "estimatesnr", "--database", "redis://x/y"]) == 2
    assert "unknown database URL scheme 'redis'" in capsys.readouterr().err


def test_create_default_path_in_a_subprocess(db_url, tmp_path):
    result = subprocess.run([sys.executable, "-m", "astra.cli", "create", "estimatesnr"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "wrote 10 rows to" in result.stdout and "astraAllEstimateSNR-" in result.stdout


@pytest.fixture
def catalogue(db_url, tmp_path):
    """Three dr17 apStar spectra in the catalogue, with Rocket's S/N of each."""
    from astra.contrib.rocket import snr
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
    from astra.models.migrate import migrate_files
    from astra.tools import synthetic

    root = str(tmp_path / "sas")
    synthetic.write_sample_tree(root, 3, release="dr17", species="apStar", seed=5)
    migrate_files("dr17", "apStar", sas_base_dir=root)
    assert len(list(snr(ApogeeCoaddedSpectrumInApStar.select()))) == 3
    return db_url


def test_create_named_products_refuse_then_overwrite(catalogue, tmp_path, capsys):
    # the method by its results model's name: "astraAllStarRocket" (the package rule) would name
    # another model once tests/task_methods.py, which defines seed 000's "Rocket", is imported
    out = tmp_path / "star.fits"
    assert main(["create", "astraAllStarRocketSNR", "-o", str(out)]) == 0
    assert f"wrote 3 rows to {out}" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["create", "astraAllStarRocketSNR", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out} exists; use --overwrite" in err
    assert out.read_bytes() == before
    assert main(["create", "astraAllStarRocketSNR", "-o", str(out), "--overwrite", "--obj", "nobody"]) == 0
    captured = capsys.readouterr()
    assert "wrote 0 rows" in captured.out
    assert "astraAllStarRocketSNR: 0 rows: none of RocketSNR's 3 results is on a star-level spectrum matching" in captured.err
    with fits.open(out) as hdul:
        assert hdul[0].header["NROWS"] == 0 and "obj" in hdul["APOGEE"].columns.names
    assert main(["create", "astraAllVisit", "astra.contrib.rocket.snr", "-o", str(tmp_path / "v.fits")]) == 0
    captured = capsys.readouterr()
    assert "wrote 0 rows" in captured.out  # Rocket ran on no visit spectrum
    assert "0 rows: RocketSNR has 3 results on star spectra: astra create astraAllStarRocketSNR" in captured.err


def test_create_named_product_errors_are_one_line(catalogue, tmp_path, capsys):
    assert main(["create", "astraAllStarRockt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'astraAllStarRocket" in err
    assert main(["create", "mwmAllStar", "-o", str(tmp_path / "m.fits"), "--where", "nosuchcolumn > 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the mwmAllStar product" in err
    assert main(["create", "astraAllStarEstimateSNR"]) == 2
    assert "keyed by task" in capsys.readouterr().err


def test_create_catalogue_product_default_path_in_a_subprocess(catalogue):
    result = subprocess.run([sys.executable, "-m", "astra.cli", "create", "mwmAllStar", "--release", "dr17"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    major, minor = astra.version_info()
    path = f"{astra.config.get('output_dir')}/products/dr17/mwmAllStar-{major}.{minor}.fits"
    assert f"wrote 3 rows to {path}" in result.stdout
    with fits.open(path) as hdul:
        assert hdul[0].header["RELEASE"] == "dr17" and sum(len(h.data) for h in hdul[1:]) == 3
        assert [h.name for h in hdul[1:]] == ["BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO"]
    again = subprocess.run([sys.executable, "-m", "astra.cli", "create", "mwmAllStar", "--release", "dr17"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists; use --overwrite" in again.stderr


def test_seed_001_create_line_without_the_users_model_is_refused(catalogue, tmp_path, monkeypatch, capsys):
    """``astra create astraAllStarRocket --overwrite`` (seed 001) when no ``Rocket`` model is
    loaded: exit 2 naming the candidates; no file, and never RocketSNR's product."""
    from astra.database.models import RESULT_MODELS

    monkeypatch.delitem(RESULT_MODELS, "rocket", raising=False)
    monkeypatch.setenv("ASTRA_OUTPUT_DIR", str(tmp_path / "out"))
    astra.config.reload()
    assert main(["create", "astraAllStarRocket", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no loaded results model is named 'Rocket'" in err
    assert "known: " in err and "astraAllStarRocketSNR" in err
    assert not (tmp_path / "out" / "products").exists()


def test_a_product_with_no_rows_says_why_on_stderr(catalogue, tmp_path, capsys):
    out = tmp_path / "hotcool.fits"
    assert main(["create", "astraAllStar", "astra.contrib.classify.hot_cool", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote 0 rows" in captured.out
    assert "astraAllStarHotCool: 0 rows: HotCool has no results yet: run its method first" in captured.err
