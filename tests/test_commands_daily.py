"""``astra daily``: what it prints, its exit status, and its errors."""

import os
import re

import pytest

from astra.cli import main
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tools import synthetic

PLAN = """
migrate:
  - {{release: dr13, species: apStar, sas_base_dir: {sas}}}
pipelines:
  snr: {{task: {task}, inputs: [ApogeeCoaddedSpectrumInApStar]}}
products:
  astraAllStarRocketSNR: {{output: {out}}}
"""


def plan(tmp_path, task="snr"):
    sas = tmp_path / "sas"
    path = tmp_path / "daily.yml"
    path.write_text(PLAN.format(sas=sas, task=task, out=tmp_path / "snr.fits"))
    return path, sas


def test_dry_run_then_run_then_nothing(tmp_path, db_url, capsys):
    path, sas = plan(tmp_path)
    synthetic.write_sample_tree(sas, 5, release="dr13", species="apStar", seed=1)
    assert main(["daily", str(path), "--dry-run", "--date", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "astra daily 2026-12-01" in out and "dry run: nothing is run or written" in out
    assert "[migrate] would ingest 5 new and 0 changed files (0 unchanged)" in out
    assert "[product] after snr; would write" in out
    assert not os.path.exists(tmp_path / "output" / "daily")
    assert not (tmp_path / "snr.fits").exists()
    assert not os.path.exists(tmp_path / "results.db") or Star.select().count() == 0

    assert main(["daily", str(path), "--date", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "3 steps: 3 ran, 0 done earlier today, 0 failed, 0 not run" in out
    assert f"wrote 5 rows to {tmp_path / 'snr.fits'}" in out

    assert main(["daily", str(path), "--date", "2026-12-01"]) == 0
    assert "3 steps: 0 ran, 3 done earlier today, 0 failed, 0 not run -- nothing to do" in capsys.readouterr().out
    assert main(["daily", str(path), "--dry-run", "--date", "2026-12-01"]) == 0
    assert capsys.readouterr().out.count("done earlier today (nothing to do)") == 3


def test_a_bad_pipeline_name_is_a_clear_error(tmp_path, db_url, capsys):
    path, _ = plan(tmp_path, task="snrr")
    assert main(["daily", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"astra daily: error: {path}: pipelines.snr.task: no task registered as 'snrr'")
    assert not os.path.exists(tmp_path / "output" / "daily")


def test_usage_errors(tmp_path, capsys):
    path, _ = plan(tmp_path)
    assert main(["daily", str(path), "--date", "tomorrow"]) == 2
    assert "--date: expected YYYY-MM-DD, got 'tomorrow'" in capsys.readouterr().err
    assert main(["daily", str(tmp_path / "nope.yml")]) == 2
    assert "cannot read the pipelines file" in capsys.readouterr().err
    assert main(["daily", str(path), "--local-scheduler", "--scheduler-host", "x"]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_failed_step_is_exit_status_1(tmp_path, db_url, capsys):
    path, sas = plan(tmp_path)
    os.makedirs(sas)
    assert main(["daily", str(path), "--date", "2026-12-01"]) == 1
    out = capsys.readouterr().out
    assert f"failed: no apStar files of dr13 found under {sas}" in out
    assert re.search(r"\n  snr +not run: needs migrate-dr13-apStar, which did not finish\n", out)


@pytest.mark.luigid
def test_scheduler_host_and_two_workers(tmp_path, db_url, luigid, capsys):
    path, sas = plan(tmp_path)
    synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=2)
    argv = ["daily", str(path), "--date", "2026-12-01", "--workers", "2",
            "--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port)]
    assert main(argv) == 0
    assert "3 steps: 3 ran" in capsys.readouterr().out
    names = {info["name"] for info in luigid.api("task_list", status="DONE").values()}
    assert {"Daily", "DailyMigrate", "DailyPipeline", "DailyProduct"} <= names
    assert main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
