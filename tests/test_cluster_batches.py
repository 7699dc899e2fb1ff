"""Astra batch tasks on clusters: luigid with several workers, Slurm jobs, ``astra srun``.

Every test runs real processes: ``luigi`` workers against a real luigid (fixture
``luigid``), Slurm jobs (fixtures ``slurm_cluster``/``slurm_jobs_dir``), and the batches of
:mod:`cluster_batch_tasks`, whose members log ``start``/``done`` with ``O_APPEND``.
"""

import collections
import glob
import json
import os
import re
import signal
import subprocess
import sys

import pytest

import astra
from astra.cluster import slurm
from astra.targets import is_temporary
from cluster_batch_tasks import PAYLOAD_SIZE, Spectrum, read_events, wait_for_status_message
from service_fixtures import finish_processes, slurm_job_logs, start_worker, service_env, wait_until

MODULE = "cluster_batch_tasks"


# --- helpers -----------------------------------------------------------------------------





def _graph_args(n, batch_size, log, sleep=0.0):
    return ["--n", str(n), "--batch-size", str(batch_size), "--log-path", str(log), "--sleep", str(sleep)]


def _outputs(pattern="*-spectrum.json"):
    """Output files below ``$ASTRA_OUTPUT_DIR`` (temporary files of killed writers left out)."""
    root = os.environ["ASTRA_OUTPUT_DIR"]
    return [p for p in glob.glob(os.path.join(root, "**", pattern), recursive=True)
            if not is_temporary(os.path.basename(p))]


def _assert_outputs_parse(n):
    """Every output is complete JSON (no partial output) and there is one per spectrum."""
    objs = []
    for path in _outputs():
        with open(path) as fp:
            record = json.load(fp)
        assert len(record["payload"]) == PAYLOAD_SIZE, path
        objs.append(record["obj"])
    assert sorted(objs) == list(range(n))


def _counts(events, event, pid=None):
    return collections.Counter(obj for e, obj, p, _ in events if e == event and (pid is None or p == pid))


def _assert_resumed_once(events, n, first_pids):
    """Members finished by ``first_pids`` were not redone; at most one member was in flight.

    :returns: the set of members in flight when the first process(es) died.
    """
    first_started = {obj for e, obj, p, _ in events if e == "start" and p in first_pids}
    first_done = {obj for e, obj, p, _ in events if e == "done" and p in first_pids}
    in_flight = first_started - first_done
    assert len(in_flight) <= 1, in_flight
    later_started = {obj for e, obj, p, _ in events if e == "start" and p not in first_pids}
    assert not later_started & first_done, "finished members were redone"
    done, started = _counts(events, "done"), _counts(events, "start")
    for obj in range(n):
        if obj in in_flight:       # killed before or after its output was renamed into place
            assert done[obj] <= 1 and started[obj] <= 2, obj
        else:
            assert done[obj] == 1 and started[obj] == 1, (obj, done[obj], started[obj])
    return in_flight






# --- astra.build keeps its share (no services) -------------------------------------------

def test_build_without_share_variables_runs_every_batch(tmp_path, monkeypatch):
    for name in ("ASTRA_SHARE_COUNT", "ASTRA_SHARE_OFFSET", "ASTRA_SHARE_INDEX", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    log = tmp_path / "log.txt"
    summary = astra.build([Spectrum(obj=tuple(range(30)), log_path=str(log))], max_batch_size=4)
    assert summary.tasks == 8 and summary.done == 30
    assert sorted(_counts(read_events(str(log)), "done").elements()) == list(range(30))


def test_build_runs_only_its_share_and_shares_cover_everything_once(tmp_path, monkeypatch):
    log = tmp_path / "log.txt"
    monkeypatch.setenv("ASTRA_SHARE_COUNT", "3")
    monkeypatch.delenv("ASTRA_SHARE_INDEX", raising=False)
    per_share = []
    for offset, procid in (("1", "1"), ("1", "0"), ("0", "0")):     # shares 2, 1 and 0 of 3
        monkeypatch.setenv("ASTRA_SHARE_OFFSET", offset)
        monkeypatch.setenv("SLURM_PROCID", procid)
        before = len(read_events(str(log)))
        summary = astra.build([Spectrum(obj=tuple(range(50)), log_path=str(log))], max_batch_size=5)
        assert summary.success and summary.skipped == 0
        per_share.append(sorted(obj for e, obj, _, _ in read_events(str(log))[before:] if e == "done"))
    # 10 batches of 5 in 3 contiguous shares of 4, 3 and 3 batches (in share order 2, 1, 0)
    assert per_share == [list(range(35, 50)), list(range(20, 35)), list(range(0, 20))]
    assert sorted(_counts(read_events(str(log)), "done").elements()) == list(range(50))


def test_srun_renders_astra_subcommand_jobs_with_shares(tmp_path, capsys):
    from astra.cli import main

    argv = ["srun", "--dry-run", "--jobs", "2", "--job-steps", "--jobs-dir", str(tmp_path), "astra", "run",
            "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--max-batch-size", "5"]
    assert main(argv) == 0
    scripts = capsys.readouterr().out
    srun_lines = [line for line in scripts.splitlines() if line.startswith("srun ")]
    assert len(srun_lines) == 2
    for line in srun_lines:
        assert line.endswith("/astra run astra.contrib.rocket.EstimateSNR --release dr13 --max-batch-size 5")
        assert "--local-scheduler" not in line and "--module" not in line
    assert "export ASTRA_SHARE_OFFSET=0" in scripts and "export ASTRA_SHARE_OFFSET=1" in scripts
    assert scripts.count("export ASTRA_SHARE_COUNT=2") == 2
    assert main(["srun", "--dry-run", "--scheduler-host", "h", "astra", "run", "m.T", "--release", "dr13"]) == 2
    assert "--scheduler-host applies to luigi tasks only" in capsys.readouterr().err


# --- luigid ------------------------------------------------------------------------------

@pytest.mark.luigid
def test_two_workers_run_10000_batched_spectra_once(luigid, tmp_path):
    n, batch_size = 10_000, 500
    log = tmp_path / "log.txt"
    args = _graph_args(n, batch_size, log, sleep=0.0005)
    procs = [start_worker(MODULE, "SpectraGraph", args, luigid.env, scheduler=luigid,
                          log_path=str(tmp_path / "worker{}.log".format(k))) for k in range(2)]
    assert finish_processes(procs) == [0, 0], (tmp_path / "worker0.log").read_text()[-3000:]
    events = read_events(str(log))
    done = _counts(events, "done")
    assert len(done) == n and set(done.values()) == {1}, "some spectrum missing or done twice"
    assert set(_counts(events, "start").values()) == {1}
    batches_by_pid = collections.defaultdict(set)
    for _, _, pid, batch in events:
        batches_by_pid[pid].add(batch)
    assert set(batches_by_pid) == {str(p.pid) for p in procs}, "both workers should run batches"
    assert sum(len(b) for b in batches_by_pid.values()) == n // batch_size   # no batch shared
    statuses = luigid.task_statuses()
    assert len(statuses) == n // batch_size + 1            # the batches and the wrapper: O(N / batch)
    assert set(statuses.values()) == {"DONE"}, collections.Counter(statuses.values())
    assert len(_outputs()) == n
    # the scheduler's load follows the batches, not the spectra
    requests = luigid.request_counts()
    assert requests["add_task"] >= n // batch_size and requests["get_work"] >= 2
    assert sum(requests.values()) < n // 10, requests


@pytest.mark.luigid
def test_running_batch_reports_progress_and_status_message(luigid, tmp_path):
    log = tmp_path / "log.txt"
    worker = start_worker(MODULE, "SpectraGraph", _graph_args(40, 40, log, sleep=0.1), luigid.env,
                          scheduler=luigid, log_path=str(tmp_path / "worker.log"))
    try:
        task_id, info = wait_for_status_message(luigid, r"^([1-9]\d*)/40 spectra$", timeout=60)
        assert task_id.startswith("clusterbatch.Spectrum")
        assert info["status"] == "RUNNING"
        assert 0 < info["progress_percentage"] < 100
        assert luigid.api("get_task_status_message", task_id=task_id)["statusMessage"] == info["status_message"]
        # the message moves on while the batch runs
        wait_for_status_message(luigid, r"^([1-9]\d*)/40 spectra$", timeout=30,
                                accept=lambda k: k > int(info["status_message"].split("/")[0]))
    finally:
        finish_processes([worker], timeout=60)
    assert worker.returncode == 0
    final = luigid.api("task_list", status="DONE", limit=False)[task_id]
    assert final["status_message"] == "40/40 spectra" and final["progress_percentage"] == 100


@pytest.mark.luigid
def test_sigkill_worker_mid_batch_other_worker_finishes_only_the_rest(luigid, tmp_path):
    n, batch_size = 60, 10
    log = tmp_path / "log.txt"
    args = _graph_args(n, batch_size, log, sleep=0.25)
    victim = start_worker(MODULE, "SpectraGraph", args, luigid.env, scheduler=luigid,
                          log_path=str(tmp_path / "victim.log"))
    survivor = start_worker(MODULE, "SpectraGraph", args, luigid.env, scheduler=luigid,
                            log_path=str(tmp_path / "survivor.log"))
    vpid = str(victim.pid)
    killed_batch = []
    try:
        def victim_is_mid_batch():
            events = read_events(str(log))
            per_batch = collections.Counter(b for e, _, p, b in events if e == "done" and p == vpid)
            started = {b for e, _, p, b in events if e == "start" and p == vpid}
            mid = [b for b in started if 3 <= per_batch[b] <= batch_size - 3]
            killed_batch[:] = mid
            return bool(mid)
        wait_until(victim_is_mid_batch, 60, "the victim worker is in the middle of a batch")
        os.killpg(victim.pid, signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        assert survivor.wait(120) == 0, (tmp_path / "survivor.log").read_text()[-3000:]
    finally:
        finish_processes([victim, survivor])

    events = read_events(str(log))
    in_flight = _assert_resumed_once(events, n, {vpid})
    batch = killed_batch[0]
    victim_done = {obj for e, obj, p, b in events if e == "done" and p == vpid and b == batch}
    survivor_started = {obj for e, obj, p, b in events
                        if e == "start" and p == str(survivor.pid) and b == batch}
    # the survivor took the killed batch over and ran only its unfinished members
    assert survivor_started, "the killed batch was not taken over"
    assert not survivor_started & victim_done
    assert len(victim_done) + len(survivor_started) + len(in_flight - survivor_started) == batch_size
    _assert_outputs_parse(n)
    statuses = luigid.task_statuses()
    assert len(statuses) == n // batch_size + 1 and set(statuses.values()) == {"DONE"}, statuses


# --- Slurm -------------------------------------------------------------------------------

@pytest.mark.slurm
@pytest.mark.luigid
def test_real_job_runs_batch_graph_against_luigid(tmp_path, luigid, slurm_jobs_dir):
    n, batch_size = 200, 50
    log = tmp_path / "log.txt"
    script = slurm.render_job_script([MODULE, "SpectraGraph"] + _graph_args(n, batch_size, log),
                                     scheduler_host=luigid.host, scheduler_port=luigid.port,
                                     output_dir=slurm_jobs_dir, time="00:05:00", mem="500M")
    job_id = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=luigid.env)
    states = slurm.wait_for_jobs([job_id], timeout=180)
    assert states[job_id] == "COMPLETED", slurm_job_logs(slurm_jobs_dir)
    _assert_outputs_parse(n)
    done = _counts(read_events(str(log)), "done")
    assert len(done) == n and set(done.values()) == {1}
    statuses = luigid.task_statuses()
    assert len(statuses) == n // batch_size + 1 and set(statuses.values()) == {"DONE"}, statuses


@pytest.mark.slurm
def test_srun_jobs_share_the_batches_of_astra_run(tmp_path, slurm_jobs_dir):
    from astra.tools.synthetic import write_sample_tree

    sas = tmp_path / "sas"
    write_sample_tree(str(sas), 40, release="dr13", species="apStar", seed=1)
    astra_exe = os.path.join(os.path.dirname(sys.executable), "astra")
    argv = [astra_exe, "srun", "--jobs", "2", "--job-steps", "--local-scheduler", "--mem", "500M",
            "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir,
            "astra", "run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13",
            "--species", "apStar", "--sas-base-dir", str(sas), "--max-batch-size", "5"]
    result = subprocess.run(argv, capture_output=True, text=True, env=service_env(), cwd=str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    job_ids = result.stdout.split()
    assert len(job_ids) == 2
    states = slurm.wait_for_jobs(job_ids, timeout=240)
    assert set(states.values()) == {"COMPLETED"}, slurm_job_logs(slurm_jobs_dir)

    processed = []
    for job_id in job_ids:
        (path,) = glob.glob(os.path.join(slurm_jobs_dir, "*-{}.out".format(job_id)))
        with open(path) as fp:
            text = fp.read()
        match = re.search(r"EstimateSNR: 40 spectra; (\d+) spectra done \((\d+) already complete\), 0 failed", text)
        assert match, text[-3000:]
        processed.append(int(match.group(1)) - int(match.group(2)))
    # 8 batches of 5 spectra: 4 batches (20 spectra) per job; none ran in both jobs
    assert processed == [20, 20], processed
    assert len(_outputs("*-snr.json")) == 40


@pytest.mark.slurm
@pytest.mark.slow
def test_scancel_mid_batch_then_resubmit_finishes_only_remaining_work(tmp_path, slurm_jobs_dir):
    n, batch_size = 40, 10
    log = tmp_path / "log.txt"
    script = slurm.render_job_script([MODULE, "SpectraGraph"] + _graph_args(n, batch_size, log, sleep=0.25),
                                     output_dir=slurm_jobs_dir, mem="500M", time="00:05:00")
    first = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())

    def enough_done():
        state = slurm.job_status([first])[first]
        assert state in slurm.ACTIVE_STATES, "first job ended early ({}): {}".format(state, slurm_job_logs(slurm_jobs_dir))
        return sum(e == "done" for e, _, _, _ in read_events(str(log))) >= 13   # mid second batch
    wait_until(enough_done, 120, "the first job finishes some members")
    slurm.cancel(first)
    assert slurm.wait_for_jobs([first], timeout=60)[first] == "CANCELLED"
    first_pids = {p for _, _, p, _ in read_events(str(log))}
    done_before = set(_counts(read_events(str(log)), "done"))
    assert 13 <= len(done_before) < n

    second = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())
    assert slurm.wait_for_jobs([second], timeout=180)[second] == "COMPLETED", slurm_job_logs(slurm_jobs_dir)
    events = read_events(str(log))
    _assert_resumed_once(events, n, first_pids)
    second_started = {obj for e, obj, p, _ in events if e == "start" and p not in first_pids}
    assert second_started and not second_started & done_before
    _assert_outputs_parse(n)
