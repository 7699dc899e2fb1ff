"""The short CI version of the fault suite (``bench/faults.py``): 0 lost, 0 partial, no orphan
process, and a true summary, in each scenario run here.

Each scenario runs real ``astra run`` / ``astra migrate`` processes (and a real luigid) on a
few dozen synthetic spectra; the full table, with more spectra and kills, is
``python bench/faults.py``.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "faults.py")


def _scenario(name, n=50, kills=2):
    done = subprocess.run([sys.executable, BENCH, "--only", name, "-n", str(n), "--kills", str(kills), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if row["summary_true"] is None:
        pytest.skip(f"{name}: {row['note']}")
    return row


@pytest.mark.parametrize("name", ["sigkill-files", "sigkill-sqlite", "luigid-reuse", "migrate-kill", "full-disk"])
def test_nothing_lost_nothing_false(name):
    row = _scenario(name)
    assert (row["lost"], row["partial"], row["orphans"]) == (0, 0, 0), row
    assert row["summary_true"], row


@pytest.mark.parametrize("k", [2, 3])
def test_concurrent_runs_compute_each_spectrum_once(k):
    row = _scenario(f"concurrent-{k}")
    assert (row["lost"], row["partial"]) == (0, 0) and row["summary_true"], row
    assert row["twice"] <= 0.01, row
