"""Tests of astra.cluster.slurm; real Slurm jobs where marked."""

import collections
import glob
import json
import os
import stat
import subprocess
import time

import pytest

from astra.cluster import slurm
from cluster_tasks import read_events
from service_fixtures import slurm_job_logs, service_env

NASTY = ("it's \"quoted\" $(touch {p}/pwned1) ; touch {p}/pwned2 `touch {p}/pwned3` "
         "$HOME \\ * ? & | > {p}/pwned4 <x> {{a,b}} !! #\ttab\nnewline  two  spaces")


def _write_executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path






def _pwned(directory):
    return sorted(glob.glob(os.path.join(str(directory), "pwned*")))


# --- rendering (no Slurm needed) ---------------------------------------------------------

def test_render_job_script_options(tmp_path):
    script = slurm.render_job_script(
        ["cluster_tasks", "Root", "--n", "3"], nodes=2, time="00:10:00", mem="2G",
        gres="gpu:1", partition="debug", account="sdss", workers_per_node=4,
        scheduler_host="10.0.0.1", scheduler_port=8099, output_dir=str(tmp_path),
        environment={"FOO": "a b"}, extra_sbatch=["--qos=normal"])
    for line in ("#SBATCH --job-name=astra-Root", "#SBATCH --nodes=2", "#SBATCH --time=00:10:00",
                 "#SBATCH --mem=2G", "#SBATCH --gres=gpu:1", "#SBATCH --partition=debug",
                 "#SBATCH --account=sdss", "#SBATCH --cpus-per-task=4", "#SBATCH --qos=normal",
                 "#SBATCH --output={}/%x-%j.out".format(tmp_path), "export FOO='a b'"):
        assert line in script.splitlines(), line
    srun_line = next(line for line in script.splitlines() if line.startswith("srun "))
    assert srun_line.endswith("--module cluster_tasks Root --n 3 --scheduler-host 10.0.0.1 "
                              "--scheduler-port 8099 --workers 4 --no-lock")
    assert "--nodes=2 --ntasks-per-node=1" in srun_line
    assert "export ASTRA_SHARE" not in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_render_job_script_several_processes_per_node(tmp_path):
    script = slurm.render_job_script(["astra", "run", "t", "M"], nodes=2, tasks_per_node=3, output_dir=str(tmp_path))
    assert "#SBATCH --ntasks-per-node=3" in script.splitlines()
    assert "srun --nodes=2 --ntasks-per-node=3 --cpus-per-task=1 " in script
    with pytest.raises(ValueError, match="tasks_per_node"):
        slurm.render_job_script(["m", "T"], tasks_per_node=0, output_dir=str(tmp_path))


def test_render_job_script_local_scheduler_and_share(tmp_path):
    script = slurm.render_job_script(["m", "T"], output_dir=str(tmp_path), share=(2, 4))
    assert "--local-scheduler" in script
    assert "export ASTRA_SHARE_COUNT=4" in script and "export ASTRA_SHARE_OFFSET=2" in script


@pytest.mark.parametrize("kwargs", [
    dict(command_argv=["OnlyModule"]),
    dict(command_argv=["--module", "m", "T"]),
    dict(command_argv=["m", "T"], nodes=0),
    dict(command_argv=["m", "T"], time="1:00\n#SBATCH --uid=0"),
    dict(command_argv=["m", "T"], environment={"BAD NAME": "x"}),
    dict(command_argv=["m", "T"], share=(3, 3)),
])
def test_render_job_script_rejects_bad_values(kwargs, tmp_path):
    with pytest.raises(ValueError):
        slurm.render_job_script(output_dir=str(tmp_path), **kwargs)


def test_rendered_script_passes_nasty_parameters_unchanged_with_bash(tmp_path):
    """Run the rendered script with bash, ``srun`` replaced by a script that runs its command."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    _write_executable(fake_bin / "srun", '#!/bin/bash\nwhile [[ "${1:-}" == --* ]]; do shift; done\nexec "$@"\n')
    text = NASTY.format(p=tmp_path)
    out = tmp_path / "echo.json"
    script = slurm.render_job_script(["cluster_tasks", "Echo", "--text", text, "--path", str(out)],
                                     output_dir=str(tmp_path), workdir=str(tmp_path))
    env = service_env(PATH=str(fake_bin) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(out.read_text())["text"] == text
    assert _pwned(tmp_path) == []


# --- job_status retries (a real failing squeue script on disk) ---------------------------

def _flaky_squeue(tmp_path, failures, real_squeue=None):
    """Put an ``squeue`` on a PATH that fails ``failures`` times, then runs the real one."""
    fake_bin = tmp_path / "flaky-bin"
    fake_bin.mkdir()
    counter = tmp_path / "squeue-calls"
    counter.write_text("0")
    then = 'exec {} "$@"'.format(real_squeue) if real_squeue else "exit 1"
    _write_executable(fake_bin / "squeue", """#!/bin/bash
n=$(( $(cat {c}) + 1 )); echo $n > {c}
if [ $n -le {f} ]; then
  echo "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation" >&2
  exit 1
fi
{then}
""".format(c=counter, f=failures, then=then))
    return fake_bin, counter


def test_job_status_gives_up_after_persistent_failures(tmp_path):
    fake_bin, counter = _flaky_squeue(tmp_path, failures=100)
    env = service_env(PATH=str(fake_bin) + os.pathsep + os.environ["PATH"])
    with pytest.raises(slurm.SlurmError, match="Socket timed out"):
        slurm.job_status(["1"], env=env, attempts=3, backoff=0.01)
    assert counter.read_text().strip() == "3"


def test_slurm_available_without_slurm_commands(tmp_path):
    ok, reason = slurm.slurm_available(env={"PATH": str(tmp_path)})
    assert not ok and "not found on PATH" in reason


def test_submit_without_sbatch_fails_clearly(tmp_path):
    script = slurm.render_job_script(["m", "T"], output_dir=str(tmp_path))
    with pytest.raises(slurm.SlurmError, match="sbatch"):
        slurm.submit(script, jobs_dir=str(tmp_path), env={"PATH": str(tmp_path)}, attempts=1)
    assert slurm.read_ledger(str(tmp_path)) == []


# --- real Slurm jobs ---------------------------------------------------------------------

@pytest.mark.slurm
def test_job_status_retries_transient_failure(tmp_path, slurm_jobs_dir):
    script = slurm.render_job_script(["cluster_tasks", "Echo", "--text", "x", "--path",
                                      str(tmp_path / "x.json")], output_dir=slurm_jobs_dir)
    job_id = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())
    slurm.wait_for_jobs([job_id], timeout=120)
    real_squeue = subprocess.run(["bash", "-c", "command -v squeue"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    fake_bin, counter = _flaky_squeue(tmp_path, failures=1, real_squeue=real_squeue)
    env = service_env(PATH=str(fake_bin) + os.pathsep + os.environ["PATH"])
    assert slurm.job_status([job_id], env=env, backoff=0.05) == {job_id: "COMPLETED"}
    assert counter.read_text().strip() == "2"           # failed once, then answered


@pytest.mark.slurm
def test_real_job_passes_nasty_parameters_unchanged(tmp_path, slurm_jobs_dir):
    text = NASTY.format(p=tmp_path)
    out = tmp_path / "echo.json"
    script = slurm.render_job_script(["cluster_tasks", "Echo", "--text", text, "--path", str(out)],
                                     output_dir=slurm_jobs_dir, workdir=str(tmp_path))
    job_id = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())
    states = slurm.wait_for_jobs([job_id], timeout=120)
    assert states[job_id] == "COMPLETED", slurm_job_logs(slurm_jobs_dir)
    assert json.loads(out.read_text())["text"] == text
    assert _pwned(tmp_path) == []
    ledger = slurm.read_ledger(slurm_jobs_dir)
    assert [record["job_id"] for record in ledger] == [job_id]
    assert os.path.exists(ledger[0]["script"])


@pytest.mark.slurm
@pytest.mark.luigid
def test_real_job_runs_graph_against_luigid(tmp_path, luigid, slurm_jobs_dir):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 4
    script = slurm.render_job_script(
        ["cluster_tasks", "Root", "--n", str(n), "--out-dir", str(out_dir), "--sleep", "0.1"],
        scheduler_host=luigid.host, scheduler_port=luigid.port, output_dir=slurm_jobs_dir,
        time="00:05:00", mem="500M")
    job_id = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=luigid.env)
    states = slurm.wait_for_jobs([job_id], timeout=180)
    assert states[job_id] == "COMPLETED", slurm_job_logs(slurm_jobs_dir)
    assert (out_dir / "root.txt").read_text() == "{}\n".format(sum(range(n)))
    statuses = luigid.task_statuses()
    assert len(statuses) == n + 1 and set(statuses.values()) == {"DONE"}, statuses
    done = collections.Counter(t for e, t, _ in read_events(out_dir) if e == "done")
    assert len(done) == n + 1 and set(done.values()) == {1}


@pytest.mark.slurm
@pytest.mark.slow
def test_scancel_then_resubmit_runs_only_remaining_work(tmp_path, slurm_jobs_dir):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 8
    script = slurm.render_job_script(
        ["cluster_tasks", "Root", "--n", str(n), "--out-dir", str(out_dir), "--sleep", "1.5"],
        output_dir=slurm_jobs_dir)
    first = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())
    deadline = time.monotonic() + 120
    while sum(e == "done" for e, _, _ in read_events(out_dir)) < 2:
        assert time.monotonic() < deadline, "first job did no work: " + slurm_job_logs(slurm_jobs_dir)
        assert slurm.job_status([first])[first] in slurm.ACTIVE_STATES, slurm_job_logs(slurm_jobs_dir)
        time.sleep(0.2)
    assert slurm.job_status([first])[first] == "RUNNING"
    slurm.cancel(first)
    states = slurm.wait_for_jobs([first], timeout=60)
    assert states[first] == "CANCELLED"

    events = read_events(out_dir)
    done_before = {t for e, t, _ in events if e == "done"}
    assert 2 <= len(done_before) < n + 1
    assert not (out_dir / "root.txt").exists()

    second = slurm.submit(script, jobs_dir=slurm_jobs_dir, env=service_env())
    assert second != first
    states = slurm.wait_for_jobs([second], timeout=180)
    assert states[second] == "COMPLETED", slurm_job_logs(slurm_jobs_dir)

    events = read_events(out_dir)
    done = collections.Counter(t for e, t, _ in events if e == "done")
    assert len(done) == n + 1 and set(done.values()) == {1}, done
    started = collections.Counter(t for e, t, _ in events if e == "start")
    for task_id in done_before:                         # finished work was not redone
        assert started[task_id] == 1
    assert [r["job_id"] for r in slurm.read_ledger(slurm_jobs_dir)] == [first, second]
    assert slurm.job_status([first, second]) == {first: "CANCELLED", second: "COMPLETED"}


@pytest.mark.slurm
def test_job_status_of_unknown_job(slurm_cluster):
    assert slurm.job_status(["987654321"]) == {"987654321": "UNKNOWN"}
    assert slurm.job_status([]) == {}
