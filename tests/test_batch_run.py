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
