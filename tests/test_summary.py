"""Summaries and exit codes that say what happened, per spectrum, in every setup.

Local scheduler and luigid, one and several workers, file and database outputs, failed
spectra, batches whose run() raised, and batches another worker runs.
"""

import os
import subprocess
import sys

import pytest

import astra
import astra.config
from batch_tasks import DatabaseRowBatch, FlakyBatch, RunRaises
from service_fixtures import finish_processes

OBJS = [f"2M{i:08d}" for i in range(40)]


@pytest.mark.parametrize("workers", [1, 2])
def test_database_task_with_workers_counts_every_row(db_url, workers):
    from astra.database.examples import EstimateSNRResult

    summary = astra.build([DatabaseRowBatch(obj=o) for o in OBJS], max_batch_size=10, workers=workers)
    assert EstimateSNRResult.select().count() == len(OBJS)
    assert (summary.done, summary.n_failed, summary.not_run) == (len(OBJS), 0, 0), str(summary)
    assert summary.success
    again = astra.build([DatabaseRowBatch(obj=o) for o in OBJS], max_batch_size=10, workers=workers)
    assert (again.done, again.skipped, again.success) == (len(OBJS), len(OBJS), True)


@pytest.mark.parametrize("workers", [1, 2])
def test_failed_spectra_are_counted_with_their_reason(db_url, monkeypatch, workers):
    monkeypatch.setenv("ASTRA_TEST_FAIL_OBJ", f"{OBJS[3]},{OBJS[17]}")
    for task_class in (FlakyBatch, DatabaseRowBatch):
        summary = astra.build([task_class(obj=o) for o in OBJS], max_batch_size=10, workers=workers)
        assert (summary.done, summary.n_failed, summary.not_run) == (len(OBJS) - 2, 2, 0), str(summary)
        assert not summary.success
        reasons = dict(summary.failed)
        assert reasons[task_class(obj=OBJS[3]).task_id] == f"ValueError: no good pixels in {OBJS[3]}"
        assert f"failed: {task_class(obj=OBJS[17]).task_id}: ValueError" in str(summary)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_whose_run_raises_gives_the_reason_per_spectrum(workers):
    summary = astra.build([RunRaises(obj=o) for o in OBJS[:4]], workers=workers)
    assert (summary.done, summary.n_failed, summary.not_run) == (0, 4, 0), str(summary)
    assert {task_id for task_id, _ in summary.failed} == {RunRaises(obj=o).task_id for o in OBJS[:4]}
    for _, reason in summary.failed:
        assert reason.startswith("ValueError: ") and "local_path() names one spectrum's output" in reason
    assert "2 not run" not in str(summary) and "4 failed" in str(summary)


def test_the_same_run_works_for_single_spectra():
    summary = astra.build([RunRaises(obj=OBJS[0]), RunRaises(obj=OBJS[1])], max_batch_size=1)
    assert (summary.done, summary.n_failed) == (2, 0) and summary.success


def _astra_run(env, *args):
    argv = [sys.executable, "-m", "astra.cli", "run", *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _keys_table(tmp_path, objs):
    path = tmp_path / "keys.csv"
    path.write_text("obj\n" + "".join(f"{o}\n" for o in objs))
    return str(path)


@pytest.mark.luigid
def test_two_astra_runs_on_one_luigid_both_exit_0(luigid, tmp_path):
    config = tmp_path / "astra-luigid.yml"
    config.write_text(f"scheduler_host: {luigid.host}\nscheduler_port: {luigid.port}\n")
    env = dict(luigid.env, ASTRA_CONFIG=str(config), ASTRA_OUTPUT_DIR=str(tmp_path / "output"))
    table = _keys_table(tmp_path, OBJS)
    args = ["batch_tasks.FlakyBatch", "--release", "dr17", "--keys-table", table,
            "--max-batch-size", "5", "--sleep", "0.05"]
    procs = [_astra_run(env, *args) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    codes = finish_processes(procs)
    for code, out in zip(codes, outputs):
        assert code == 0, out
        assert f"{len(OBJS)} spectra done" in out and "0 failed" in out, out
    # Both workers shared the batches (neither ran them all), yet each summary is complete.
    statuses = luigid.task_statuses()
    assert statuses and all(s == "DONE" for s in statuses.values())


@pytest.mark.luigid
def test_failures_under_luigid_are_counted_with_their_reason(luigid, tmp_path):
    config = tmp_path / "astra-luigid.yml"
    config.write_text(f"scheduler_host: {luigid.host}\nscheduler_port: {luigid.port}\n")
    env = dict(luigid.env, ASTRA_CONFIG=str(config), ASTRA_OUTPUT_DIR=str(tmp_path / "output"),
               ASTRA_TEST_FAIL_OBJ=OBJS[2])
    table = _keys_table(tmp_path, OBJS[:10])
    proc = _astra_run(env, "batch_tasks.FlakyBatch", "--release", "dr17", "--keys-table", table,
                      "--max-batch-size", "5", "--workers", "2")
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 1, out
    assert "9 spectra done (0 already complete), 1 failed" in out, out
    assert f"ValueError: no good pixels in {OBJS[2]}" in out
