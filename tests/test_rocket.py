"""EstimateSNR end to end on real and synthetic files."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

import astra
from astra.contrib.rocket import EstimateSNR, estimate_snr
from astra.tools import synthetic

from real_files import DR13, REAL_APSTAR


def test_estimate_snr_on_known_arrays():
    flux = np.full((2, 1000), 10.0)
    ivar = np.full((2, 1000), 4.0)  # sigma 0.5 -> S/N 20
    ivar[1, :10] = 0
    bad = np.zeros_like(flux, dtype=bool)
    bad[0, :500] = True
    flux[0, :500] = 1e6  # flagged pixels must not count
    assert estimate_snr(flux, ivar, bad) == [20.0, 20.0]
    assert math.isnan(estimate_snr(flux[:1], ivar[:1], bad[:1], min_good_pixels=600)[0])


@pytest.mark.realdata
def test_snr_of_real_apstar_files_matches_header(real_sas, monkeypatch):
    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    task = EstimateSNR(field=tuple(REAL_APSTAR), obj=tuple(REAL_APSTAR.values()), **DR13)
    summary = astra.build([task])
    assert summary.done == 4 and not summary.failed
    for member in task.get_batch_tasks():
        result = json.load(open(member.output().path))
        header = fits.getheader(result["path"])
        nvisits = header["NVISITS"]
        assert len(result["snr"]) == (1 if nvisits == 1 else nvisits + 2)
        assert result["keys"]["obj"] == member.obj
        # The pipeline's header SNR is of the combined spectrum (row 0).
        assert result["snr"][0] == pytest.approx(header["SNR"], rel=0.15)


@pytest.mark.realdata
def test_snr_of_real_apvisit_and_boss(real_sas, monkeypatch):
    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    visit = EstimateSNR(species="apVisit", release="dr16", apred="r12", telescope="apo25m", field="N188",
                        plate=5095, mjd=55844, fiber=128)
    boss = EstimateSNR(species="spec", release="dr13", run2d="v5_10_0", plateid=3586, mjd=55181, fiberid=500)
    summary = astra.build([visit, boss])
    assert summary.done == 2 and not summary.failed, summary
    for task in (visit, boss):
        snr = json.load(open(task.output().path))["snr"]
        assert len(snr) == 1 and snr[0] > 5


def test_synthetic_snr_is_recovered(tmp_path, monkeypatch):
    sas = tmp_path / "sas"
    keys = synthetic.write_sample_tree(str(sas), 5, release="dr13", species="apStar", seed=3, snr=60)
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    tasks = [EstimateSNR(release="dr13", **k) for k in keys]
    summary = astra.build(tasks)
    assert summary.done == 5
    for task in tasks:
        snr = json.load(open(task.output().path))["snr"][0]
        assert 40 < snr < 80


def test_corrupt_file_is_named_and_others_finish(tmp_path, monkeypatch):
    sas = tmp_path / "sas"
    keys = synthetic.write_sample_tree(str(sas), 6, release="dr13", species="apStar", seed=4)
    bad_path = keys.paths[2]
    synthetic.corrupt_file(bad_path, "truncated")
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    summary = astra.build([EstimateSNR(release="dr13", **k) for k in keys])
    assert summary.done == 5 and len(summary.failed) == 1
    assert bad_path in summary.failed[0][1]


def test_unknown_species_is_a_clear_error():
    task = EstimateSNR(species="apStuff", **DR13, field="x", obj="y")
    with pytest.raises(ValueError, match="EstimateSNR: unknown data model 'apStuff'; did you mean 'apStar'"):
        task.requires()
    task = EstimateSNR(species="mwmStar", **DR13, field="x", obj="y")
    with pytest.raises(ValueError, match="EstimateSNR does not read mwmStar files; it reads apStar, apVisit, spec"):
        task.requires()


@pytest.mark.realdata
def test_luigi_command_line(real_sas, tmp_path):
    env = dict(os.environ, SAS_BASE_DIR=real_sas, ASTRA_OUTPUT_DIR=str(tmp_path / "out"))
    args = [
        sys.executable, "-m", "luigi", "--module", "astra.contrib.rocket", "EstimateSNR",
        "--release", "dr13", "--apred", "r6", "--apstar", "stars", "--telescope", "apo25m",
        "--field", '["120-45", "009+09"]', "--obj", '["2M00452143+1634446", "2M17334253-1654573"]',
        "--local-scheduler",
    ]
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    results = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "out") for f in fs if f.endswith("snr.json")]
    assert len(results) == 2


@pytest.mark.realdata
def test_snr_task_over_the_catalogue_to_database_and_product(real_sas, monkeypatch, tmp_path, capsys):
    """The @task snr over real apStar files ingested by astra migrate; then astra create."""
    from astropy.table import Table

    from astra.cli import main
    from astra.contrib.rocket import RocketSNR
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{tmp_path / 'astra.db'}")
    astra.config.reload()
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", real_sas, "--no-progress"]) == 0
    assert main(["run", "snr", "ApogeeCoaddedSpectrumInApStar"]) == 0
    rows = {Star.get_by_id(r.spectrum_pk).obj: r for r in RocketSNR.select()}
    assert set(REAL_APSTAR.values()) <= set(rows)
    low = rows["2M12241699+2453335"]
    assert low.snr == pytest.approx(9.5, rel=0.2) and low.n_visits == 3 and low.t_elapsed > 0
    capsys.readouterr()
    assert main(["run", "astra.contrib.rocket.snr", "ApogeeCoaddedSpectrumInApStar"]) == 0
    assert "nothing to do" in capsys.readouterr().out

    catalogue = tmp_path / "snr.fits"
    assert main(["create", "rocketsnr", "--output", str(catalogue)]) == 0
    table = Table.read(catalogue)
    assert len(table) == len(rows) and "snr" in table.colnames


def test_the_database_twin_is_gone_and_says_what_to_write():
    from astra.contrib.rocket import EstimateSNRToDatabase
    from astra.tasks.removed import RemovedTaskError

    with pytest.raises(RemovedTaskError, match="astra run snr ApogeeCoaddedSpectrumInApStar"):
        EstimateSNRToDatabase(release="dr13")


def test_the_database_twin_fails_on_the_luigi_command_line(tmp_path):
    args = [sys.executable, "-m", "luigi", "--module", "astra.contrib.rocket", "EstimateSNRToDatabase",
            "--local-scheduler"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out")))
    assert out.returncode != 0 and "EstimateSNRToDatabase was removed" in out.stderr + out.stdout
