"""Seed 001 under a real Apache Airflow: the shipped DAG (``etc/astra_daily_dag.py``, shown in
docs/daily.rst) run with ``airflow dags test`` against a synthetic SAS tree, SQLite and the
real Slurm: every task succeeds, the products exist, and a second run does nothing new.

Airflow is not a dependency of Astra (not even an extra): it pins many packages (SQLAlchemy,
Flask, ...) that Astra's own environment does not need to share, and a DAG only calls the
``astra`` command. So it lives in a virtual environment of its own, ``ASTRA_AIRFLOW_VENV``,
which this test creates with ``pip install apache-airflow==AIRFLOW_VERSION`` (from PyPI) when it
is missing; ``.ci/run`` sets the variable, so CI installs it. Without the variable the test
skips (fails under ``ASTRA_REQUIRE_SERVICES=1``).
"""

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from astropy.io import fits

from astra.tools import synthetic
from conftest import require_or_skip
from service_fixtures import PROJECT_DIR

#: The Airflow the test installs (3.x; the DAG also imports under 2.x).
AIRFLOW_VERSION = "3.3.2"
DAG_FILE = os.path.join(PROJECT_DIR, "python", "astra", "etc", "astra_daily_dag.py")
#: Every task of the DAG (catalogue.init, catalogue.migrate, mwmAllStar, and three pipelines of two).
N_TASKS = 9

pytestmark = [pytest.mark.airflow, pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="session")
def airflow():
    """The ``airflow`` executable of ``ASTRA_AIRFLOW_VENV``, installed there when missing."""
    venv = os.environ.get("ASTRA_AIRFLOW_VENV")
    if not venv:
        require_or_skip("Apache Airflow not installed: set ASTRA_AIRFLOW_VENV to a directory; the test then creates "
                        f"that virtual environment with pip install apache-airflow=={AIRFLOW_VERSION} (as .ci/run does)")
    executable = os.path.join(venv, "bin", "airflow")
    if not os.path.exists(executable):
        for command in ([sys.executable, "-m", "venv", venv],
                        [os.path.join(venv, "bin", "pip"), "install", "--quiet", f"apache-airflow=={AIRFLOW_VERSION}"]):
            result = subprocess.run(command, capture_output=True, text=True, timeout=3000)
            if result.returncode != 0:
                pytest.fail(f"cannot install Airflow: {' '.join(command)} exited {result.returncode}:\n"
                            f"{(result.stderr or result.stdout)[-3000:]}", pytrace=False)
    return executable


def _dags_test(airflow, env, day):
    out = subprocess.run([airflow, "dags", "test", "astra_daily", day], capture_output=True, text=True, env=env,
                         timeout=1500)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    assert re.search(r"DagRun Finished: dag_id=astra_daily, logical_date=\S+ \S+, .*state=success", log), log[-5000:]
    assert log.count("new_state=success") == N_TASKS and "new_state=failed" not in log, log[-5000:]
    return log


def _nrows(path):
    """Rows of a product: over all its tables (one per instrument for the named products), not
    its ``PROVENANCE`` HDU (one row per provenance record)."""
    with fits.open(path) as hdus:
        return sum(len(hdu.data) for hdu in hdus[1:] if hdu.data is not None and hdu.name != "PROVENANCE")


def _results(database):
    with sqlite3.connect(database) as connection:
        return {table: connection.execute(f"SELECT COUNT(*), MAX(modified) FROM {table}").fetchone()
                for table in ("rocket_snr", "hot_cool")}


def test_the_shipped_dag_runs_under_airflow_and_a_second_run_does_nothing_new(airflow, tmp_path, slurm_jobs_dir):
    sas, out, dags = tmp_path / "sas", tmp_path / "out", tmp_path / "dags"
    synthetic.write_sample_tree(str(sas), 6, release="dr13", species="apStar", seed=11, n_visits=1)
    dags.mkdir()
    (dags / "astra_daily_dag.py").write_text(open(DAG_FILE).read())
    (tmp_path / "empty-luigi.cfg").write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "ASTRA_DATABASE"))}
    env.update(
        PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),  # this Astra's `astra`
        HOME=str(tmp_path / "home"), SAS_BASE_DIR=str(sas), ASTRA_OUTPUT_DIR=str(out), ASTRA_JOBS_DIR=slurm_jobs_dir,
        LUIGI_CONFIG_PATH=str(tmp_path / "empty-luigi.cfg"),
        AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
    )
    migrated = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, env=env, timeout=600)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    first = _dags_test(airflow, env, "2026-12-07")
    assert "6 files: 6 new, 0 changed, 0 unchanged, 0 bad" in first
    assert "snr: 6 spectra in 2 shares; 6 spectra done (0 already complete), 0 failed" in first
    products = out / "products"
    for name in ("mwmAllStar", "astraAllStarRocketSNR", "astraAllStarHotCool"):
        assert _nrows(products / f"{name}-0.3.fits") == 6, name
    assert (products / "astraAllStarContinuumTeff-0.3.fits").exists()
    results = _results(out / "astra.db")
    assert results["rocket_snr"][0] == 6 and results["hot_cool"][0] == 6
    jobs = sorted(os.listdir(slurm_jobs_dir))

    second = _dags_test(airflow, env, "2026-12-08")
    assert "6 files: 0 new, 0 changed, 6 unchanged, 0 bad" in second
    assert second.count("no job submitted") == 3                 # snr, hot_cool, continuum_teff
    assert "snr over ApogeeCoaddedSpectrumInApStar: nothing to do: 6 rows, all up to date in RocketSNR" in second
    assert sorted(os.listdir(slurm_jobs_dir)) == jobs             # no new Slurm job
    assert _results(out / "astra.db") == results                  # no result written again
    for name in ("mwmAllStar", "astraAllStarRocketSNR", "astraAllStarHotCool"):
        assert _nrows(products / f"{name}-0.3.fits") == 6, name
