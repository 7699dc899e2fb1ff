"""Every run is recorded for astra web: the run, its batches, its failed spectra and its logs."""

import json
import os

import pytest

from astra.cli import main
from astra.tools import synthetic


def _rows(db_url=None):
    from astra.models.run import Run, RunBatch, RunFailure, ensure_run_tables

    ensure_run_tables()
    return list(Run.select().order_by(Run.id)), list(RunBatch.select().order_by(RunBatch.id)), list(RunFailure.select())


def test_astra_run_records_run_batches_failures_and_logs(tmp_path, db_url, capsys):
    sas = str(tmp_path / "sas")
    tree = synthetic.write_sample_tree(sas, 20, release="dr13", species="apStar", seed=3, corrupt=1)
    (index,) = tree.corrupt
    bad = tree.paths[index]
    args = ["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--sas-base-dir", sas,
            "--max-batch-size", "8", "--min-good-pixels", "50"]
    assert main(args) == 1
    runs, batches, failures = _rows()
    (run,) = runs
    assert (run.state, run.total, run.done, run.failed, run.skipped, run.batches) == ("failed", 20, 19, 1, 0, 3)
    assert run.task == "astra.contrib.rocket.snr.EstimateSNR" and run.task_family == "EstimateSNR"
    assert run.parameters_dict()["task_parameters"]["min_good_pixels"] == "50"
    assert run.host and run.user and run.pid == os.getpid() and run.ended >= run.started
    assert [b.total for b in batches] == [8, 8, 4]
    assert sum(b.done for b in batches) == 19 and sum(b.failed for b in batches) == 1
    assert {b.state for b in batches} == {"done", "failed"}
    assert batches[0].summary.startswith("8 spectra: ") and "obj=" in batches[0].summary
    (failure,) = failures
    assert failure.path == bad and failure.reason and failure.batch_id in {b.id for b in batches}
    assert failure.keys_dict()["release"] == "dr13" and failure.task == run.task
    log = open(run.log_path).read()
    assert f"run {run.id} started" in log and f"run {run.id} failed" in log and bad in log
    batch_log = open([b for b in batches if b.failed][0].log_path).read()
    assert "failed" in batch_log and bad in batch_log

    # A re-run: the finished spectra are skipped, the fixed one is done.
    synthetic.write_apstar(bad, seed=9)
    assert main(args) == 0
    runs, batches, _ = _rows()
    assert (runs[-1].state, runs[-1].done, runs[-1].skipped, runs[-1].failed) == ("done", 1, 19, 0)
    second = [b for b in batches if b.run_id == runs[-1].id]
    assert sorted(b.state for b in second) == ["done", "done", "done"]


def test_build_attaches_to_a_run_named_by_the_environment(tmp_path, monkeypatch):
    import astra
    from astra.contrib.rocket import EstimateSNR
    from astra.models.run import Run, ensure_run_tables
    from astra.runner import tasks_for_keys

    ensure_run_tables()
    queued = Run.create(kind="astra web", state="queued", parameters=json.dumps({"limit": 2}))
    monkeypatch.setenv("ASTRA_RUN_ID", str(queued.id))
    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=1)
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    summary = astra.build(tasks_for_keys(EstimateSNR, keys, release="dr13"))
    assert summary.done == 2
    run = Run.get_by_id(queued.id)
    assert (run.kind, run.state, run.done, run.total) == ("astra web", "done", 2, 2)
    assert run.parameters_dict()["limit"] == 2 and "task_parameters" in run.parameters_dict()
    assert Run.select().count() == 1


def test_recording_can_be_turned_off_and_never_fails_a_run(tmp_path, monkeypatch):
    import astra
    import astra.config
    from astra.contrib.rocket import EstimateSNR
    from astra.runner import tasks_for_keys

    sas = str(tmp_path / "sas")
    keys = synthetic.write_sample_tree(sas, 2, release="dr13", species="apStar", seed=2)
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    # A results database that cannot be opened: the run still runs, with one warning.
    monkeypatch.setenv("ASTRA_DATABASE_URL", "sqlite:////proc/no-such-dir/astra.db")
    astra.config.reload()
    summary = astra.build(tasks_for_keys(EstimateSNR, keys, release="dr13"))
    assert summary.done == 2 and not summary.failed

    config = tmp_path / "astra.yml"
    config.write_text("record_runs: false\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(config))
    monkeypatch.delenv("ASTRA_DATABASE_URL")
    astra.config.reload()
    summary = astra.build(tasks_for_keys(EstimateSNR, keys, release="dr13", task_params={"min_good_pixels": 10}))
    assert summary.done == 2
    assert not os.path.exists(os.path.join(astra.config.get("output_dir"), "runs"))


@pytest.mark.parametrize("size, expected", [(1, "apred=r6, telescope=apo25m, field=1-1, prefix=ap, apstar=stars, obj=A"),
                                            (5, "5 spectra: obj=A, B, C, ...")])
def test_batch_summary_names_a_few_members_and_leaves_out_empty_keys(size, expected):
    from astra.contrib.rocket import EstimateSNR
    from astra.runs import batch_summary

    objs = ("A", "B", "C", "D", "E")[:size]
    task = EstimateSNR(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="1-1",
                       prefix="ap", obj=objs if size > 1 else objs[0])
    summary = batch_summary(task)
    assert summary == expected
    assert "plate=" not in summary and "fiber=" not in summary
