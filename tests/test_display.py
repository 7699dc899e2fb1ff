"""luigid at batch scale: a batch shows a summary of its members, not every value."""

import os
import signal

import pytest

from astra.tasks.display import MEMBERS_PARAMETER


def test_a_batch_sends_a_summary_and_hides_its_tuples_and_empty_keys():
    from astra.contrib.rocket import EstimateSNR

    objs = tuple(f"2M{i:08d}" for i in range(1000))
    batch = EstimateSNR(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="1-1",
                        prefix="ap", obj=objs)
    params = batch.to_str_params()
    assert params[MEMBERS_PARAMETER] == "1000 spectra: obj=2M00000000, 2M00000001, 2M00000002, ..."
    visible = {k for k, v in batch._get_param_visibilities().items() if v == 0}
    assert "obj" not in visible and "plate" not in visible and "fiber" not in visible
    assert {"release", "field", "telescope", "min_good_pixels"} <= visible
    # The identity is untouched, and a worker handed the parameters by luigid builds the same task.
    assert MEMBERS_PARAMETER not in batch.to_str_params(only_significant=True)
    assert EstimateSNR.from_str_params(params).task_id == batch.task_id
    single = EstimateSNR(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="1-1",
                         prefix="ap", obj="2M1")
    assert MEMBERS_PARAMETER not in single.to_str_params()


@pytest.mark.luigid
def test_luigid_lists_a_running_batch_by_its_summary_with_a_tracking_url(luigid, tmp_path):
    from cluster_batch_tasks import wait_for_status_message
    from service_fixtures import start_worker

    import astra.config
    from astra.models.run import Run, RunBatch, ensure_run_tables

    database = f"sqlite:///{tmp_path / 'runs.db'}"
    env = dict(luigid.env, ASTRA_DATABASE_URL=database, ASTRA_OUTPUT_DIR=str(tmp_path / "output"))
    os.environ["ASTRA_DATABASE_URL"] = database
    try:
        astra.config.reload()
        ensure_run_tables()
        submission = Run.create(kind="astra srun", state="submitted")
        env["ASTRA_RUN_PARENT"] = str(submission.id)  # as astra srun gives its jobs
        worker = start_worker("cluster_batch_tasks", "SpectraGraph",
                              ["--n", "40", "--batch-size", "40", "--log-path", str(tmp_path / "events"),
                               "--sleep", "0.3"], env, scheduler=luigid, log_path=str(tmp_path / "worker.log"))
        try:
            task_id, info = wait_for_status_message(luigid, r"^([1-9]\d*)/40 spectra$", timeout=90)
            public = info["params"]
            assert public[MEMBERS_PARAMETER] == "40 spectra: obj=0, 1, 2, ...", public
            assert "obj" not in public and all(v != "" for v in public.values()), public
            assert "obj=0, 1, 2" in info["display_name"] and "(0, 1" not in info["display_name"]
            run = Run.get(Run.parent == submission.id)
            batch = RunBatch.get(RunBatch.run == run.id)
            assert info["tracking_url"] == f"http://127.0.0.1:8000/runs/{run.id}/batches/{batch.id}"
            assert run.kind == "luigi worker" and batch.task_id == task_id and run.state == "running"
            assert worker.wait(120) == 0
            run, batch = Run.get_by_id(run.id), RunBatch.get_by_id(batch.id)
            assert (run.state, run.done, run.total, batch.state, batch.done) == ("done", 40, 40, "done", 40)
            assert Run.select().where(Run.parent == submission.id).count() == 1
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    finally:
        del os.environ["ASTRA_DATABASE_URL"]
        astra.config.reload()
