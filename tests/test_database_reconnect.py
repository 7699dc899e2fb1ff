"""A run on PostgreSQL goes on through a server restart, and says the truth when it stays down.

The restart is the real server's (``pg_ctlcluster ... restart``, about a second); the long outage
is of this test's database only (``ALLOW_CONNECTIONS false`` and its connections ended), so the
other users of the server are not disturbed.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from astra.tools import synthetic
from service_fixtures import TESTS_DIR, finish_processes, wait_until

pytestmark = pytest.mark.postgres

MODEL = "ApogeeCoaddedSpectrumInApStar"


def _cluster():
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        pytest.skip("needs root and a local Debian PostgreSQL cluster (pg_ctlcluster) to restart the server")
    return versions[-1]


def restart_postgres():
    """Restart the real PostgreSQL server (about a second down)."""
    version = _cluster()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   capture_output=True, timeout=120)


def _admin(url):
    import psycopg2

    conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=5)
    conn.autocommit = True
    return conn


def cut_off(url, allow):
    """Refuse (``allow=False``) or allow new connections to the database at ``url``; refusing
    also ends its open connections."""
    name = url.rsplit("/", 1)[1]
    conn = _admin(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
            if not allow:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    finally:
        conn.close()


def _rows(url):
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT spectrum_pk) FROM where_run")
            return cursor.fetchone()
    finally:
        conn.close()


@pytest.fixture
def catalogue_env(postgres_url, tmp_path):
    """12 synthetic spectra migrated into a fresh PostgreSQL database; the environment of a run."""
    _cluster()
    synthetic.write_sample_tree(str(tmp_path / "sas"), 12, release="dr13", species="apStar", seed=11, n_visits=1)
    config = tmp_path / "astra.yml"
    config.write_text("database_write_batch_size: 2\ndatabase_reconnect_seconds: 4\n")
    env = dict(os.environ, ASTRA_DATABASE_URL=postgres_url, ASTRA_OUTPUT_DIR=str(tmp_path / "out"),
               ASTRA_CONFIG=str(config), PYTHONPATH=os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "astra.cli", "migrate", "--release", "dr13", "--species", "apStar",
                           "--sas-base-dir", str(tmp_path / "sas"), "--no-progress"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def _start_run(env, log_path, sleep):
    argv = [sys.executable, "-m", "astra.cli", "run", "task_methods.where_run", MODEL, "--max-batch-size", "4",
            "--sleep", str(sleep), "--log-dir", str(log_path.parent)]
    with open(log_path, "w") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _events(log_dir):
    path = os.path.join(str(log_dir), "log.txt")
    return open(path).read().count("done ") if os.path.exists(path) else 0


def test_a_run_goes_on_through_a_postgresql_restart(catalogue_env, postgres_url, tmp_path):
    log = tmp_path / "run.log"
    proc = _start_run(catalogue_env, log, sleep=0.4)
    try:
        wait_until(lambda: _events(tmp_path) >= 3, 120, "the run has analysed a few spectra", interval=0.1)
        restart_postgres()
        assert finish_processes([proc], timeout=300) == [0], log.read_text()
    finally:
        finish_processes([proc])
    out = log.read_text()
    assert "Traceback" not in out, out
    assert re.search(r"where_run: 12 spectra; 12 spectra done \(0 already complete\), 0 failed", out), out
    assert _rows(postgres_url) == (12, 12)


def test_a_database_that_stays_down_ends_in_a_true_summary(catalogue_env, postgres_url, tmp_path):
    log = tmp_path / "run.log"
    proc = _start_run(catalogue_env, log, sleep=0.4)
    try:
        wait_until(lambda: _events(tmp_path) >= 3, 120, "the run has analysed a few spectra", interval=0.1)
        cut_off(postgres_url, allow=False)
        try:
            rc = finish_processes([proc], timeout=300)
        finally:
            cut_off(postgres_url, allow=True)
    finally:
        finish_processes([proc])
    out = log.read_text()
    assert rc == [1], out
    assert "Traceback" not in out, out
    stored, _ = _rows(postgres_url)
    match = re.search(r"where_run: 12 spectra; (\d+) spectra done \(0 already complete\), (\d+) failed"
                      r" \(the results database could not be reached\)(?:, (\d+) not run)?", out)
    assert match, out
    done, failed, not_run = (int(g or 0) for g in match.groups())
    assert done == stored and done + failed + not_run == 12 and done < 12, out
