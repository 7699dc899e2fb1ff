"""A full disk: log files that stop with one warning, and runs that end with a true summary.

The end-to-end tests mount a small tmpfs (as root; else they skip, saying so) and put the
outputs, or the results database, on it.
"""

import contextlib
import logging
import os
import re
import subprocess
import sys

import pytest

from astra.logfiles import LogFile, disk_full, disk_full_said_once
from astra.tools import synthetic

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def test_a_log_file_on_a_full_disk_warns_once_and_closes_quietly(capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system (a device whose writes fail with ENOSPC)")
    handler = LogFile("/dev/full")
    log = logging.getLogger("astra.test_logfiles")
    log.addHandler(handler)
    try:
        for i in range(50):
            log.error("record %d", i)
    finally:
        log.removeHandler(handler)
        handler.close()  # flushing into a full device must not raise
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.count("cannot write the log /dev/full") <= 1, err
    assert handler.broken is not None and disk_full(handler.broken)


def test_disk_full_records_are_said_once_in_one_line(capsys):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    keep = Keep()
    log = logging.getLogger("astra")
    log.addHandler(keep)
    try:
        with disk_full_said_once():
            for _ in range(3):
                try:
                    raise OSError(28, "No space left on device")
                except OSError:
                    log.exception("batch failed")
            log.error("another failure: ValueError: bad")
    finally:
        log.removeHandler(keep)
    full = [r for r in records if "No space left on device" in r]
    assert len(full) <= 1 and all("Traceback" not in r for r in full), records
    assert "another failure: ValueError: bad" in records


@contextlib.contextmanager
def small_disk(path, size):
    """A tmpfs of ``size`` mounted at ``path`` (root only; else skip)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a full disk); run the tests as root, as CI does")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (a full disk) at {path}: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path, leave_kb):
    """Fill the disk of ``path`` up to ``leave_kb`` KiB left."""
    stat = os.statvfs(str(path))
    free = stat.f_bavail * stat.f_frsize
    with open(os.path.join(str(path), "filler"), "wb") as fp:
        fp.write(b"\0" * max(0, free - leave_kb * 1024))


def _astra(*args, env):
    done = subprocess.run([sys.executable, "-m", "astra.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout, done.stderr


def _one_warning(err):
    assert "Logging error" not in err and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line and "warnings.warn" not in line]
    assert len(lines) <= 1, err


def test_class_style_run_on_a_full_output_disk(tmp_path):
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(str(sas), 120, release="dr13", species="apStar", seed=8)
    with small_disk(tmp_path / "disk", "600k") as disk:
        out = disk / "out"
        env = dict(os.environ, SAS_BASE_DIR=str(sas), ASTRA_OUTPUT_DIR=str(out))
        rc, stdout, stderr = _astra("run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13",
                                    "--max-batch-size", "40", env=env)
        written = list(out.rglob("*-snr.json"))
        left = [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith("tmp"))]
    assert rc == 1, stdout + stderr
    match = re.search(r"(\d+) spectra done \(0 already complete\), (\d+) failed \(No space left on device\)", stdout)
    assert match, stdout + stderr
    done, failed = int(match.group(1)), int(match.group(2))
    assert done == len(written) and done + failed == 120 and failed > 0, stdout
    assert stdout.count("No space left on device") == 2, stdout  # the summary line and one line of reasons
    _one_warning(stderr)
    assert not left, left  # no half-written output


def test_task_style_run_with_its_database_on_a_full_disk(tmp_path):
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(str(sas), 200, release="dr13", species="apStar", seed=9, n_visits=1)
    with small_disk(tmp_path / "disk", "2m") as disk:
        env = dict(os.environ, ASTRA_DATABASE_URL=f"sqlite:///{disk}/astra.db", ASTRA_OUTPUT_DIR=str(disk / "out"),
                   PYTHONPATH=os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
        rc, stdout, stderr = _astra("migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(sas),
                                    "--no-progress", env=env)
        assert rc == 0, stdout + stderr
        fill(disk, 100)
        rc, stdout, stderr = _astra("run", "task_methods.median_snr", "ApogeeCoaddedSpectrumInApStar", env=env)
        import sqlite3

        with contextlib.closing(sqlite3.connect(str(disk / "astra.db"))) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
            rows = db.execute("select count(*) from median_snr").fetchone()[0] if "median_snr" in tables else 0
    assert rc == 1, stdout + stderr
    match = re.search(r"(\d+) spectra done \(0 already complete\), (\d+) failed \(No space left on device\)", stdout)
    if match:  # the results table was made: the summary counts the rows stored
        assert int(match.group(1)) == rows and int(match.group(1)) + int(match.group(2)) == 200, stdout
    else:  # not even the results table fitted
        assert "error: OperationalError: database or disk is full (No space left on device" in stderr, stderr
    _one_warning(stderr)
