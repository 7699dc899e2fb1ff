"""Running batches: setup once, resumption after SIGKILL, Luigi's own batching under luigid."""

import json
import os
import signal
import subprocess
import sys
import time

import luigi
import pytest

import astra
from astra.tasks import BaseTask
from batch_tasks import CountingBatch, read_log

TESTS_DIR = os.path.dirname(__file__)


def test_setup_runs_once_per_batch(tmp_path):
    log = str(tmp_path / "log.jsonl")
    summary = astra.build([CountingBatch(obj=tuple(range(50)), record_path=log)], max_batch_size=25)
    records = read_log(log)
    assert [r["setup"] for r in records if "setup" in r] == [25, 25]
    assert sorted(r["member"] for r in records if "member" in r) == list(range(50))
    assert summary.done == 50


def test_progress_reaches_luigi():
    messages, percentages = [], []
    task = CountingBatch(obj=tuple(range(5)), record_path=os.devnull)
    task.set_status_message = messages.append
    task.set_progress_percentage = percentages.append
    task.run()
    assert messages[-1] == "5/5 spectra" and percentages[-1] == 100


def test_sigkill_mid_batch_then_resume(tmp_path):
    log = tmp_path / "log.jsonl"
    out = tmp_path / "output"
    env = dict(os.environ, ASTRA_OUTPUT_DIR=str(out), PYTHONPATH=os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    objs = json.dumps(list(range(40)))
    argv = [sys.executable, "-m", "luigi", "--module", "batch_tasks", "batchtests.CountingBatch",
            "--obj", objs, "--record-path", str(log), "--sleep", "0.05", "--local-scheduler"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and sum("member" in r for r in read_log(log)) < 10:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    first = [r["member"] for r in read_log(log) if "member" in r]
    assert 10 <= len(first) < 40

    # No partial output: every output file that exists is complete JSON.
    outputs = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith("-out.json")]
    for path in outputs:
        with open(path) as fp:
            assert len(json.load(fp)["payload"]) == 10000
    assert len(outputs) >= len(first)

    done = set(json.load(open(p))["obj"] for p in outputs)
    os.remove(log)
    rerun = subprocess.run(argv[:-3] + ["--sleep", "0", "--local-scheduler"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    second = [r["member"] for r in read_log(log) if "member" in r]
    assert sorted(second) == sorted(set(range(40)) - done)  # finished members are not redone


@pytest.mark.luigid
def test_luigid_merges_single_tasks_into_batches(luigid, tmp_path):
    log = str(tmp_path / "log.jsonl")
    tasks = [CountingBatch(obj=i, record_path=log) for i in range(12)]
    ok = luigi.build(tasks, scheduler_host=luigid.host, scheduler_port=luigid.port, workers=1, log_level="WARNING")
    assert ok
    records = read_log(log)
    setups = [r["setup"] for r in records if "setup" in r]
    assert sum(setups) == 12 and max(setups) > 1  # Luigi's scheduler merged them
    assert sorted(r["member"] for r in records if "member" in r) == list(range(12))
    statuses = luigid.task_statuses()
    for task in tasks:
        assert statuses[task.task_id] == "DONE"


def test_max_batch_size_one_is_not_merged_by_luigi(tmp_path):
    log = str(tmp_path / "log.jsonl")
    astra.build([CountingBatch(obj=i, record_path=log) for i in range(3)], max_batch_size=1)
    assert [r["setup"] for r in read_log(log) if "setup" in r] == [1, 1, 1]


# --- a bad input fails only its own spectrum (issue 12 item 7) ------------------------------

def _snr_tasks(tree, **params):
    from astra.contrib.rocket import EstimateSNR

    return [EstimateSNR(release=tree.release, **keys, **params) for keys in tree]


@pytest.fixture
def apstar_tree(tmp_path, monkeypatch):
    from astra.tools.synthetic.tree import write_sample_tree

    root = tmp_path / "sas"
    tree = write_sample_tree(str(root), 12, release="dr13", species="apStar", n_visits=1)
    monkeypatch.setenv("SAS_BASE_DIR", str(root))
    return tree


@pytest.mark.parametrize("workers", [1, 2])
def test_empty_and_missing_inputs_fail_only_their_spectra_on_every_run(apstar_tree, workers):
    open(apstar_tree.paths[2], "wb").close()  # zero bytes
    os.remove(apstar_tree.paths[7])
    tasks = _snr_tasks(apstar_tree)
    for attempt in range(2):  # the bad inputs block nothing, on the first run or the next
        summary = astra.build(tasks, max_batch_size=100, workers=workers)
        assert summary.tasks == workers  # with 2 workers, 2 batches of 6 (grouping.batch_bounds)
        assert (summary.done, summary.n_failed, summary.not_run) == (10, 2, 0), str(summary)
        assert summary.skipped == (0 if attempt == 0 else 10)
        reasons = dict(summary.failed)
        assert f"empty file (0 bytes): {apstar_tree.paths[2]}" in reasons[tasks[2].task_id]
        assert f"file not found: {apstar_tree.paths[7]}" in reasons[tasks[7].task_id]
        assert not summary.success
    # Each failure is recorded with its reason, and a fixed input is picked up by the next run.
    member = tasks[2]
    assert "empty file" in member.failure_reason()
    os.remove(apstar_tree.paths[2])
    import shutil

    shutil.copy(apstar_tree.paths[3], apstar_tree.paths[2])
    summary = astra.build(tasks, max_batch_size=100)
    assert (summary.done, summary.n_failed) == (11, 1)
    assert member.failure_reason() is None


def test_luigi_cli_exits_non_zero_for_a_missing_input_and_a_failed_spectrum(apstar_tree, tmp_path):
    keys = dict(apstar_tree[0])
    argv = [sys.executable, "-m", "luigi", "--module", "astra.contrib.rocket", "EstimateSNR",
            "--release", "dr13", "--local-scheduler"]
    for name, value in keys.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    env = dict(os.environ)
    ok = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]

    os.remove(apstar_tree.paths[0])
    env["ASTRA_OUTPUT_DIR"] = str(tmp_path / "other-output")
    missing = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert missing.returncode == 30, missing.stderr[-2000:]  # Astra's [retcode] task_failed
    assert "file not found" in missing.stderr

    with open(apstar_tree.paths[0], "wb") as fp:
        fp.write(b"SIMPLE  =   not a FITS file")
    broken = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert broken.returncode == 30, broken.stderr[-2000:]

    # The user's luigi configuration wins over Astra's defaults.
    config = tmp_path / "luigi.cfg"
    config.write_text("[retcode]\ntask_failed = 0\n")
    overridden = subprocess.run(argv, env=dict(env, LUIGI_CONFIG_PATH=str(config)), capture_output=True, text=True)
    assert overridden.returncode == 0, overridden.stderr[-2000:]
    on_command_line = subprocess.run(argv + ["--retcode-task-failed", "3"], env=env, capture_output=True, text=True)
    assert on_command_line.returncode == 3


# --- the process() contract -------------------------------------------------------------------

class ReadsBatchKey(BaseTask):
    """Reads the batch key from the batch inside process(): an error naming it."""

    task_namespace = "batchtests"
    obj = astra.Parameter(batch_method=tuple)
    greeting = astra.Parameter(default="Hello")

    def output(self):
        return self.local_target("greeting.txt")

    def process(self, task, context):
        text = f"{self.greeting} {self.obj}"  # self.greeting is shared; self.obj is not
        with task.output().open("w") as fp:
            fp.write(text)


def test_reading_a_per_spectrum_parameter_from_the_batch_in_process_is_an_error():
    summary = astra.build([ReadsBatchKey(obj=o) for o in ("a", "b")])
    assert (summary.done, summary.n_failed) == (0, 2)
    for _, reason in summary.failed:
        assert reason.startswith("BatchMemberAccessError: ")
        assert "'obj' has one value per spectrum" in reason and "task.obj" in reason
    # A single spectrum is its own member: the same code runs.
    single = astra.build([ReadsBatchKey(obj="c")], max_batch_size=1)
    assert single.success and single.done == 1
    # Outside process(), the batch's values are the tuple, as Luigi gives them.
    batch = ReadsBatchKey(obj=("a", "b"))
    assert batch.obj == ("a", "b") and [m.obj for m in batch.get_batch_tasks()] == ["a", "b"]
    assert isinstance(ReadsBatchKey.obj, luigi.Parameter)
