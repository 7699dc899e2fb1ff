"""What luigid remembers is a hint, never proof: ``astra run`` under a luigid that has just
finished the same batches still computes every spectrum whose outputs are missing here."""

import re
import subprocess
import sys

import pytest

from astra.cluster.luigid import start_luigid
from astra.tools import synthetic

pytestmark = pytest.mark.luigid

#: Luigi's own default: luigid ignores "pending" for a batch it finished this recently.
COOLDOWN = 10


@pytest.fixture
def remembering_luigid(tmp_path, worker_env):
    """A real luigid with Luigi's default ``stable_done_cooldown_secs`` (the fixture's is 1 s)."""
    from service_fixtures import LUIGI_TEST_CONFIG

    config = tmp_path / "remembering-luigi.cfg"
    config.write_text(LUIGI_TEST_CONFIG.replace("stable_done_cooldown_secs = 1", f"stable_done_cooldown_secs = {COOLDOWN}"))
    assert f"stable_done_cooldown_secs = {COOLDOWN}" in config.read_text()
    env = dict(worker_env, LUIGI_CONFIG_PATH=str(config))
    process = start_luigid(state_path=str(tmp_path / "ld" / "state.pickle"), logdir=str(tmp_path / "ld"), env=env)
    process.env = env
    try:
        yield process
    finally:
        process.stop()


def _outputs(directory):
    return sorted(p.name for p in directory.rglob("*.json")) if directory.exists() else []


def test_a_luigid_that_remembers_finished_batches_is_not_proof_of_outputs(remembering_luigid, tmp_path):
    luigid = remembering_luigid
    sas = tmp_path / "sas"
    keys = synthetic.write_sample_tree(str(sas), 6, release="dr13", species="apStar", seed=5)
    config = tmp_path / "astra.yml"
    config.write_text(f"scheduler_host: {luigid.host}\nscheduler_port: {luigid.port}\n")
    argv = [sys.executable, "-m", "astra.cli", "run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13",
            "--species", "apStar", "--max-batch-size", "3"]

    def run(output_dir):
        env = dict(luigid.env, ASTRA_CONFIG=str(config), SAS_BASE_DIR=str(sas), ASTRA_OUTPUT_DIR=str(output_dir))
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        return done.returncode, done.stdout + done.stderr

    rc, out = run(tmp_path / "out1")
    assert rc == 0, out
    first = _outputs(tmp_path / "out1")
    assert len(first) == len(keys), out
    assert set(luigid.task_statuses().values()) == {"DONE"}

    # 1. A second run into another output directory, while luigid still has the batches as done.
    rc, out = run(tmp_path / "out2")
    assert _outputs(tmp_path / "out2") == first, out
    assert rc == 0, out
    assert re.search(r"6 spectra done \(0 already complete\), 0 failed", out), out

    # 2. A re-run after the user deleted some outputs.
    removed = sorted((tmp_path / "out1").rglob("*.json"))[:4]
    for path in removed:
        path.unlink()
    rc, out = run(tmp_path / "out1")
    assert _outputs(tmp_path / "out1") == first, out
    assert rc == 0, out
    assert re.search(r"6 spectra done \(2 already complete\), 0 failed", out), out
