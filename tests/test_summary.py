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


def _astra_run_logged(env, log_path, *args):
    """``astra run`` with its output in ``log_path`` (read while it runs)."""
    argv = [sys.executable, "-m", "astra.cli", "run", *args]
    with open(log_path, "w") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _luigid_env(luigid, tmp_path, name="astra-luigid.yml", **settings):
    config = tmp_path / name
    lines = [f"scheduler_host: {luigid.host}", f"scheduler_port: {luigid.port}"]
    lines += [f"{key}: {value}" for key, value in settings.items()]
    config.write_text("\n".join(lines) + "\n")
    return dict(luigid.env, ASTRA_CONFIG=str(config), ASTRA_OUTPUT_DIR=str(tmp_path / "output"))


def _running(luigid):
    return [t for t, s in luigid.task_statuses().items() if s == "RUNNING"]


_DONE_LINE = r"(\d+) spectra done \((\d+) already complete(?:, (\d+) done by another run)?\), (\d+) failed"


def _counts(out):
    import re

    match = re.search(_DONE_LINE, out)
    assert match, out
    done, skipped, others, failed = (int(g or 0) for g in match.groups())
    return done, skipped, others, failed


@pytest.mark.luigid
def test_spectra_another_luigid_worker_did_are_done_by_another_run(luigid, tmp_path):
    from service_fixtures import wait_until

    env = _luigid_env(luigid, tmp_path)
    objs = OBJS[:15]
    args = ["batch_tasks.FlakyBatch", "--release", "dr17", "--keys-table", _keys_table(tmp_path, objs),
            "--max-batch-size", "5", "--sleep", "0.4"]
    first = _astra_run_logged(env, tmp_path / "first.log", *args)
    try:
        wait_until(lambda: _running(luigid), 120, "the first run runs a batch", interval=0.1)
        second = _astra_run_logged(env, tmp_path / "second.log", *args)
        codes = finish_processes([first, second], timeout=300)
    finally:
        finish_processes([first])
    outs = [(tmp_path / name).read_text() for name in ("first.log", "second.log")]
    assert codes == [0, 0], outs
    done, skipped, others, failed = _counts(outs[1])
    # The batch the first run was running when the second started is the first run's work,
    # reported to luigid: the second run counts it as done by another run, not as its own.
    assert done == len(objs) and failed == 0, outs[1]
    assert others >= 5, outs[1]
    first_done, first_skipped, first_others, _ = _counts(outs[0])
    assert first_done == len(objs), outs[0]
    # Together the two runs did each spectrum once: what one did itself the other saw done by it.
    assert (done - skipped - others) + (first_done - first_skipped - first_others) == len(objs), outs


@pytest.mark.luigid
def test_waiting_for_another_luigid_worker_stops_at_other_worker_timeout(luigid, tmp_path):
    from service_fixtures import wait_until

    slow = _luigid_env(luigid, tmp_path)
    args = ["batch_tasks.FlakyBatch", "--release", "dr17", "--keys-table", _keys_table(tmp_path, OBJS[:5]),
            "--max-batch-size", "5", "--sleep", "4"]
    first = _astra_run_logged(slow, tmp_path / "first.log", *args)
    try:
        wait_until(lambda: _running(luigid), 120, "the first run runs its batch", interval=0.1)
        impatient = _luigid_env(luigid, tmp_path, "impatient.yml", other_worker_timeout=0.5)
        second = _astra_run_logged(impatient, tmp_path / "second.log", *args)
        assert finish_processes([second], timeout=300) == [1], (tmp_path / "second.log").read_text()
        assert finish_processes([first], timeout=300) == [0], (tmp_path / "first.log").read_text()
    finally:
        finish_processes([first])
    out = (tmp_path / "second.log").read_text()
    assert "stopped waiting (setting other_worker_timeout: 0.5 s)" in out, out
    done, skipped, others, failed = _counts(out)
    # What the first run had finished when the second gave up is not the second's work (it is
    # counted as already complete when done before the second run looked, else as done by
    # another run); the rest is not run.
    assert done == skipped + others and failed == 0, out
    assert f"not run ({5 - done}): another worker was still running it when this run stopped waiting" in out, out
