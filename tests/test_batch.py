"""Grouping tasks into batches and running them with astra.build."""

import luigi
import pytest

import astra
from astra.tasks import BaseTask


class MyAnalysisTask(BaseTask):
    """The task of the batching example in Astra's documentation."""

    task_namespace = "batchtest"
    a = astra.IntParameter()
    order = astra.IntParameter()
    field = astra.Parameter(batch_method=tuple)
    name = astra.Parameter(batch_method=tuple)
    note = astra.Parameter(default="", significant=False)

    def output(self):
        return self.local_target("out.txt")

    def process(self, task, context):
        if task.name == "bad":
            raise RuntimeError("cannot analyse this one")
        with task.output().open("w") as fp:
            fp.write(f"{task.a} {task.order} {task.field} {task.name}")


def seed_tasks():
    return [
        MyAnalysisTask(a=3, order=5, field="250+00", name="2M123456+123456"),
        MyAnalysisTask(a=3, order=10, field="250+00", name="2M123456+123456"),
        MyAnalysisTask(a=3, order=5, field="omegaCen", name="2M003341+289732"),
        MyAnalysisTask(a=3, order=10, field="omegaCen", name="2M003341+289732"),
        MyAnalysisTask(a=-1, order=5, field="250+00", name="2M004562-1234872"),
    ]


def test_seed_example_gives_three_batches():
    batches = astra.batch_tasks(seed_tasks())
    assert len(batches) == 3
    by_params = {(b.a, b.order): b for b in batches}
    assert by_params[(3, 5)].field == ("250+00", "omegaCen")
    assert by_params[(3, 5)].name == ("2M123456+123456", "2M003341+289732")
    assert by_params[(3, 10)].name == ("2M123456+123456", "2M003341+289732")
    assert by_params[(-1, 5)].name == "2M004562-1234872" and not by_params[(-1, 5)].is_batch_mode


def test_grouping_is_deterministic_and_respects_max_size():
    tasks = [MyAnalysisTask(a=1, order=1, field="f", name=str(i)) for i in range(25)]
    batches = astra.batch_tasks(tasks, max_batch_size=10)
    assert [b.get_batch_size() for b in batches] == [10, 10, 5]
    assert [b.task_id for b in batches] == [b.task_id for b in astra.batch_tasks(tasks, max_batch_size=10)]
    assert batches[0].field == "f"  # identical values broadcast


def test_insignificant_parameters_do_not_split_batches():
    tasks = [MyAnalysisTask(a=1, order=1, field="f", name=str(i), note=f"n{i}") for i in range(4)]
    assert len(astra.batch_tasks(tasks)) == 1


def test_batches_are_split_and_deduplicated():
    batch = MyAnalysisTask(a=1, order=1, field="f", name=tuple(str(i) for i in range(6)))
    again = MyAnalysisTask(a=1, order=1, field="f", name="3")
    batches = astra.batch_tasks([batch, again], max_batch_size=4)
    assert [b.name for b in batches] == [("0", "1", "2", "3"), ("4", "5")]


def test_bad_max_batch_size():
    with pytest.raises(ValueError, match="max_batch_size"):
        astra.batch_tasks(seed_tasks(), max_batch_size=0)


def test_build_summary_counts_done_skipped_failed():
    tasks = [MyAnalysisTask(a=1, order=2, field="f", name=n) for n in ("s1", "s2", "bad", "s3")]
    summary = astra.build(tasks[:1])
    assert summary.done == 1 and summary.skipped == 0 and not summary.failed
    summary = astra.build(tasks, max_batch_size=2)
    assert summary.done == 3 and summary.skipped == 1
    assert [reason for _, reason in summary.failed] == ["RuntimeError: cannot analyse this one"]
    assert "1 failed" in str(summary)


def test_build_with_two_workers_scans_outputs():
    tasks = [MyAnalysisTask(a=2, order=2, field="f", name=str(i)) for i in range(30)]
    summary = astra.build(tasks, max_batch_size=7, workers=2)
    # five batches of at most 7 would leave one worker the last alone: six of 5, three each
    assert summary.success and summary.done == 30 and summary.tasks == 6
    assert all(t.complete() for t in tasks)


def test_two_workers_share_fewer_spectra_than_one_batch_holds(tmp_path):
    """400 spectra and batches of up to 1,000 are two batches for --workers 2, one per worker."""
    from batch_tasks import CountingBatch, read_log

    log = str(tmp_path / "log.jsonl")
    tasks = [CountingBatch(obj=i, record_path=log, sleep=0.05) for i in range(10)]
    summary = astra.build(tasks, workers=2)  # the default max_batch_size (1,000)
    assert summary.success and summary.done == 10 and summary.tasks == 2
    records = read_log(log)
    assert sorted(r["setup"] for r in records if "setup" in r) == [5, 5]
    assert len({r["pid"] for r in records if "member" in r}) == 2  # both worker processes ran spectra
    assert astra.build(tasks, workers=1).tasks == 1  # one worker: one batch, as before


def test_luigi_build_directly_still_works():
    task = MyAnalysisTask(a=5, order=5, field=("x", "y"), name=("1", "2"))
    assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    assert task.complete()


@pytest.mark.luigid
def test_a_batch_a_dead_luigid_worker_left_is_run_by_the_run_waiting_for_it(luigid, tmp_path):
    """The surviving run has nothing left to do but wait when the other worker dies mid-batch."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from service_fixtures import finish_processes, wait_until

    config = tmp_path / "astra-luigid.yml"
    config.write_text(f"scheduler_host: {luigid.host}\nscheduler_port: {luigid.port}\n")
    env = dict(luigid.env, ASTRA_CONFIG=str(config), ASTRA_OUTPUT_DIR=str(tmp_path / "output"))
    table = tmp_path / "keys.csv"
    objs = [f"2M{i:08d}" for i in range(5)]
    table.write_text("obj\n" + "".join(f"{o}\n" for o in objs))
    argv = [sys.executable, "-m", "astra.cli", "run", "batch_tasks.FlakyBatch", "--release", "dr17",
            "--keys-table", str(table), "--max-batch-size", "5", "--sleep", "1.5"]

    def start(name):
        with open(tmp_path / name, "w") as out:
            return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def running():
        return [t for t, s in luigid.task_statuses().items() if s == "RUNNING"]

    victim = start("victim.log")
    survivor = None
    try:
        wait_until(running, 120, "the victim runs the batch", interval=0.1)
        survivor = start("survivor.log")
        wait_until(lambda: "waiting for 1 batches another worker is running" in (tmp_path / "survivor.log").read_text(),
                   120, "the survivor, with nothing else to do, waits for the victim's batch", interval=0.1)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        assert finish_processes([survivor], timeout=300) == [0], (tmp_path / "survivor.log").read_text()
    finally:
        finish_processes([p for p in (victim, survivor) if p is not None])
    out = (tmp_path / "survivor.log").read_text()
    assert "another worker left unfinished (it stopped)" in out and "running them here" in out, out
    match = re.search(r"(\d+) spectra done \((\d+) already complete(?:, (\d+) done by another run)?\), 0 failed", out)
    assert match and int(match.group(1)) == len(objs), out
    assert len(list((tmp_path / "output").rglob("*-flaky.json"))) == len(objs)  # every spectrum's output
