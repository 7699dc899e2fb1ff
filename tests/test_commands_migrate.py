"""``astra migrate``: the summary it prints and its exit status."""

import pytest

from astra.cli import main
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tools import synthetic


@pytest.fixture
def sas(tmp_path):
    root = tmp_path / "sas"
    tree = synthetic.write_sample_tree(root, 6, release="dr13", species="apStar", seed=5)
    return root, tree


def test_migrate_twice_then_a_bad_file(sas, db_url, capsys):
    root, tree = sas
    args = ["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "6 files: 6 new, 0 changed, 0 unchanged, 0 bad" in out
    assert main(args) == 0
    assert "6 files: 0 new, 0 changed, 6 unchanged, 0 bad" in capsys.readouterr().out

    synthetic.corrupt_file(tree.paths[1], "empty")
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "6 files: 0 new, 0 changed, 5 unchanged, 1 bad (0 new, 1 changed; flagged)" in captured.out
    assert f"bad: {tree.paths[1]}: empty file (0 bytes)" in captured.err
    assert Star.select().where(Star.flag_bad_file).count() == 1
    # A re-run does not read the unchanged bad file again, and still exits 1 because of it.
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "6 unchanged, 0 bad; 1 unchanged files still flagged bad" in captured.out
    assert f"still bad: {tree.paths[1]}: empty file (0 bytes)" in captured.err
    import os

    os.remove(tree.paths[2])
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "1 known files are gone (flagged)" in captured.out and f"gone: {tree.paths[2]}" in captured.err


def test_key_filters_and_usage_errors(sas, db_url, capsys):
    root, tree = sas
    base = ["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root)]
    field = tree[0]["field"]
    assert main(base + ["--field", field]) == 0
    n = sum(k["field"] == field for k in tree)
    assert f"{n} files: {n} new" in capsys.readouterr().out
    assert main(base + ["--plate", "12"]) == 2
    assert "has no key plate" in capsys.readouterr().err
    assert main(["migrate", "--release", "dr99", "--species", "apStar"]) == 2
    assert "unknown SDSS release" in capsys.readouterr().err


def test_nothing_found_is_exit_status_1(tmp_path, db_url, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(tmp_path / "empty")]) == 1
    assert "no apStar files of dr13 found" in capsys.readouterr().err


def test_forget_gone_removes_the_rows_of_files_gone_for_good(sas, db_url, tmp_path, capsys):
    """README's first task once wrote rows of a tree that is gone; --forget-gone removes them and
    the migration exits 0 again."""
    import shutil

    from astra.models.spectrum import Spectrum

    root, tree = sas
    other = tmp_path / "tutorial-sas"
    synthetic.write_sample_tree(other, 3, release="dr13", species="apStar", seed=9)
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(other),
                 "--no-progress"]) == 0
    shutil.rmtree(other)
    args = ["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "3 known files are gone (flagged)" in captured.out
    assert "if they are gone for good, remove the rows: astra migrate --release dr13 --species apStar " \
           "--forget-gone" in captured.err
    spectra = Spectrum.select().count()
    assert main(args + ["--forget-gone"]) == 0
    out = capsys.readouterr().out
    assert "forgot 3 rows of files gone from disk" in out
    assert Star.select().count() == 6 and Spectrum.select().count() == spectra - 3
    assert main(args) == 0
    assert main(args + ["--forget-gone", "--keys-table", "k.csv"]) == 2


def test_nothing_found_without_sas_base_dir_says_what_is_missing(tmp_path, db_url, monkeypatch, capsys):
    monkeypatch.delenv("SAS_BASE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["migrate", "--release", "dr13", "--species", "apStar", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "no apStar files of dr13 found under" in err
    assert "SAS_BASE_DIR is not set; export SAS_BASE_DIR=/path/to/sas or give --sas-base-dir" in err


SLOW_MIGRATE = """
import sys, time
import astra.models.migrate as m
m.POOL_THRESHOLD = 1  # reader processes for a few files
m.READ_CHUNK = 1
real = m.file_row
def slow(*args, **kwargs):  # each file takes a while: the readers are busy when the parent dies
    time.sleep(1.0)
    return real(*args, **kwargs)
m.file_row = slow
from astra.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fp:
            return [int(p) for p in fp.read().split()]
    except OSError:
        return []


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as fp:
            state = next(line for line in fp if line.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def test_reader_processes_die_with_a_sigkilled_migrate(sas, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from service_fixtures import wait_until

    if not os.path.exists("/proc/self/task"):
        pytest.skip("needs Linux /proc to find the reader processes")
    root, _ = sas
    env = dict(os.environ, ASTRA_DATABASE_URL=f"sqlite:///{tmp_path / 'cat.db'}")
    argv = [sys.executable, "-c", SLOW_MIGRATE, "migrate", "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", str(root), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    readers = []
    try:
        wait_until(lambda: len(_children(proc.pid)) >= 2, 120, "migrate starts its reader processes", interval=0.05)
        readers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: not any(_alive(pid) for pid in readers), 10, f"the readers {readers} die with migrate")
    finally:
        for pid in readers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
