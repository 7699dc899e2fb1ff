"""astra.contrib.classify: the hot/cool classifier and the downstream continuum fit of the hot stars.

Run as users would: from Python, with ``astra run module.task Model``, and with Luigi's own
command line, on synthetic apStar spectra of known temperature, on SQLite and PostgreSQL.
"""

import os
import subprocess
import sys
import time

import pytest

import astra
from astra.cli import main as astra_main
from astra.contrib.classify import ContinuumTeff, HotCool, continuum_teff, hot_cool
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tasks.function_query import pending_spectra
from astra.tools import synthetic

MODEL = "ApogeeCoaddedSpectrumInApStar"
#: Temperatures well away from the split (about 5000 K), so that the class is certain.
TEFFS = [4100.0, 5500.0, 4300.0, 5600.0, 4500.0, 5400.0, 4200.0, 5700.0]


@pytest.fixture
def catalogue(db_url, tmp_path):
    """Eight synthetic apStar spectra of known temperature, ingested; ``{spectrum_pk: teff}``."""
    labels = [{"teff": t, "logg": 2.5, "fe_h": -0.2} for t in TEFFS]
    tree = synthetic.write_sample_tree(str(tmp_path / "sas"), len(labels), release="dr13", species="apStar",
                                       seed=11, labels=labels, n_visits=1, snr=80)
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(tmp_path / "sas"),
                "--no-progress"])
    teff_of = {os.path.realpath(p): lab["teff"] for p, lab in zip(tree.paths, tree.labels)}
    return {s.spectrum_pk: teff_of[os.path.realpath(s.path)] for s in Star.select()}


def hot(catalogue):
    return sorted(k for k, t in catalogue.items() if t > 5000)


def modified(model):
    return {r.spectrum_pk: r.modified for r in model.select()}


def test_classes_and_temperatures_from_python(catalogue):
    classes = {r.spectrum_pk: r.classification for r in hot_cool(Star.select())}
    assert classes == {k: ("hot" if t > 5000 else "cool") for k, t in catalogue.items()}
    fits = list(continuum_teff(Star.select()))
    assert sorted(r.spectrum_pk for r in fits) == hot(catalogue)
    upstream = {r.spectrum_pk: r.task_pk for r in HotCool.select()}
    for r in fits:
        assert r.teff == pytest.approx(catalogue[r.spectrum_pk], abs=150)
        assert r.hot_cool_pk == upstream[r.spectrum_pk] and not r.flag_at_grid_edge


def test_astra_run_fits_again_only_the_spectrum_whose_class_was_rewritten(catalogue, capsys):
    assert astra_main(["run", "astra.contrib.classify.continuum_teff", MODEL]) == 0
    assert "nothing to do" in capsys.readouterr().out  # nothing is classed yet
    assert astra_main(["run", "astra.contrib.classify.hot_cool", MODEL]) == 0
    assert astra_main(["run", "continuum_teff", MODEL]) == 0  # the registered short name
    assert f"continuum_teff: {len(hot(catalogue))} spectra; {len(hot(catalogue))} spectra done" in capsys.readouterr().out
    classes, fits = modified(HotCool), modified(ContinuumTeff)
    assert sorted(fits) == hot(catalogue)

    target = hot(catalogue)[1]
    time.sleep(0.01)
    assert [r.classification for r in hot_cool(Star.select().where(Star.spectrum_pk == target))] == ["hot"]
    assert [s.spectrum_pk for s in pending_spectra(Star, continuum_teff)] == [target]
    assert astra_main(["run", "astra.contrib.classify.continuum_teff", MODEL]) == 0
    assert "continuum_teff: 1 spectra; 1 spectra done" in capsys.readouterr().out
    after = modified(ContinuumTeff)
    assert after[target] > fits[target]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in fits.items() if k != target}
    assert {k: v for k, v in modified(HotCool).items() if k != target} == {
        k: v for k, v in classes.items() if k != target
    }
    assert astra_main(["run", "astra.contrib.classify.continuum_teff", MODEL]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_luigi_command_line_runs_the_classifier_first(catalogue, db_url, worker_env):
    env = dict(worker_env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    keys = sorted(catalogue)
    result = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "astra.contrib.classify", "continuum_teff",
         "--spectrum-pk", str(keys), "--local-scheduler"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert ":)" in result.stdout + result.stderr, result.stderr[-3000:]
    assert sorted(modified(HotCool)) == keys
    assert sorted(modified(ContinuumTeff)) == hot(catalogue)
    assert continuum_teff.task_class(spectrum_pk=tuple(keys)).complete()
    assert astra.build([continuum_teff.task_class(spectrum_pk=tuple(keys))]).skipped == len(keys)


@pytest.mark.luigid
def test_luigid_runs_the_downstream_after_its_upstream(catalogue, db_url, luigid, tmp_path):
    from service_fixtures import start_worker

    env = dict(luigid.env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    log_path = str(tmp_path / "worker.log")
    keys = sorted(catalogue)
    worker = start_worker("astra.contrib.classify", "continuum_teff", ["--spectrum-pk", str(keys)], env,
                          scheduler=luigid, log_path=log_path)
    try:
        assert worker.wait(timeout=300) == 0, open(log_path).read()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    assert sorted(modified(HotCool)) == keys
    assert sorted(modified(ContinuumTeff)) == hot(catalogue)


@pytest.mark.slurm
def test_astra_srun_runs_the_downstream_on_the_hot_ones(catalogue, db_url, worker_env, slurm_jobs_dir):
    from service_fixtures import slurm_job_logs

    env = dict(worker_env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    astra_command = os.path.join(os.path.dirname(sys.executable), "astra")
    for method, n in (("hot_cool", len(catalogue)), ("continuum_teff", len(hot(catalogue)))):
        result = subprocess.run(
            [astra_command, "srun", "--jobs", "2", "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir, method, MODEL],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr + slurm_job_logs(slurm_jobs_dir)
        assert f"{method}: {n} spectra in 2 shares; {n} spectra done (0 already complete), 0 failed" in result.stdout
    assert sorted(modified(ContinuumTeff)) == hot(catalogue)
