"""Tests of ``astra srun`` with Slurm job arrays (astra.cluster.slurm_arrays, array_jobs, commands.srun_arrays).

The Slurm tests run on the real single-node Slurm: 8 elements, at most 2 running at once, one
element cancelled with ``scancel <job>_<index>`` and submitted again alone with ``astra srun
--resubmit-failed``; then every spectrum has exactly one result, for a ``@task`` method over the
catalogue and for a class-style task over files. Job names are unique per test, and only the
elements of the test's own arrays are cancelled (the node is shared).
"""

import collections
import glob
import os
import re
import subprocess
import uuid

import pytest

from astra.cluster import slurm
from astra.cluster.slurm_arrays import array_directive, element_id, expand_task_ids, split_element
from service_fixtures import slurm_job_logs, wait_until
from test_srun import ASTRA, CATALOGUE, _catalogue, _processed, _results, astra, catalogue_env, cli_env  # noqa: F401


def _unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_array_directive_and_element_names():
    assert array_directive(8, 2) == "--array=0-7%2"
    assert array_directive(1) == "--array=0-0"
    with pytest.raises(ValueError, match="at least 1 element"):
        array_directive(0)
    with pytest.raises(ValueError, match="--max-running must be at least 1"):
        array_directive(3, 0)
    assert element_id("42", 3) == "42_3" and split_element("42_3") == ("42", 3)
    with pytest.raises(ValueError, match="not a job array element"):
        split_element("42")
    assert expand_task_ids("[2-4,7%2]") == [2, 3, 4, 7]
    assert expand_task_ids("0-6:3") == [0, 3, 6] and expand_task_ids("5") == [5] and expand_task_ids("") == []


def test_an_array_script_gives_each_element_its_share(tmp_path):
    script = slurm.render_job_script(["astra", "run", "m.f", "Model", "--spectrum-pk-range", "1", "2"],
                                     array=(8, 2), output_dir=str(tmp_path), job_name="x")
    assert "#SBATCH --array=0-7%2" in script
    assert f"#SBATCH --output={tmp_path}/%x-%A_%a.out" in script
    assert 'export ASTRA_SHARE_INDEX="$SLURM_ARRAY_TASK_ID"' in script and "export ASTRA_SHARE_COUNT=8" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    with pytest.raises(ValueError, match="share must be None"):
        slurm.render_job_script(["astra", "run", "m.f"], array=(2, None), share=(0, 2))


def test_dry_run_of_a_catalogue_array(catalogue_env, tmp_path, sqlite_url, monkeypatch):
    env, _ = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url, PATH=str(tmp_path))   # no sbatch: nothing submitted
    keys = _catalogue(tmp_path, 10, sqlite_url, monkeypatch)
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--elements", "8", "--max-running", "2",
                   "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("#!/bin/bash") == 1 and "#SBATCH --array=0-7%2" in result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("srun ")]
    assert line.startswith("srun --nodes=1 --ntasks-per-node=1 ") and line.endswith("--range-per-process")
    ranges = [(int(lo), int(hi)) for lo, hi in re.findall(r"--spectrum-pk-range (\d+) (\d+)", line)]
    assert len(ranges) == 8 and [k for lo, hi in ranges for k in keys if lo <= k <= hi] == keys
    # by default one element per process of the earlier form: --jobs x --nodes x --procs
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--nodes", "2", "--procs", "2", "--dry-run", env=env)
    assert "#SBATCH --array=0-3\n" in result.stdout and "#SBATCH --nodes=1\n" in result.stdout
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--elements", "20", "--dry-run", env=env)
    assert "#SBATCH --array=0-9\n" in result.stdout and "10 spectra for 20 elements: 10 elements" in result.stderr


def test_array_options_are_checked_before_anything_is_submitted(catalogue_env, tmp_path, sqlite_url, monkeypatch):
    env, _ = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url, PATH=str(tmp_path))
    _catalogue(tmp_path, 2, sqlite_url, monkeypatch)
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--job-steps", "--max-running", "2", env=env)
    assert result.returncode == 2 and "--elements and --max-running are for job arrays" in result.stderr
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--elements", "0", env=env)
    assert result.returncode == 2 and "--elements and --max-running must be at least 1" in result.stderr
    result = astra("srun", "cluster_tasks", "Echo", "--text", "x", "--path", "p", "--elements", "2", env=env)
    assert result.returncode == 2 and "are for job arrays" in result.stderr
    result = astra("srun", "--resubmit-failed", "999999", env=env)
    assert result.returncode == 2 and "job 999999 is not a job array that astra srun submitted" in result.stderr
    assert os.path.join(env["ASTRA_JOBS_DIR"], "ledger.jsonl") in result.stderr
    result = astra("srun", "--resubmit-failed", "12", "task_methods.where_run", env=env)
    assert result.returncode == 2 and "takes the job array's id only" in result.stderr
    assert not os.path.exists(os.path.join(env["ASTRA_JOBS_DIR"], "ledger.jsonl"))


def _watch_throttle(elements, limit, seen):
    """Record the most elements seen running at once; return whether all have ended."""
    states = slurm.job_status(elements)
    running = sum(state.split()[0] in ("RUNNING", "COMPLETING") for state in states.values())
    seen.append(running)
    assert running <= limit, states
    return not any(state.split()[0] in slurm.ACTIVE_STATES for state in states.values())


@pytest.mark.slurm
def test_a_task_method_array_with_one_element_cancelled_and_resubmitted(catalogue_env, tmp_path, slurm_jobs_dir,
                                                                        sqlite_url, monkeypatch):
    env, log_dir = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url)
    keys = _catalogue(tmp_path, 16, sqlite_url, monkeypatch)
    name = _unique("srunarrays-task")
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--elements", "8", "--max-running", "2",
                   "--log-dir", log_dir, "--sleep", "1.5", "--job-name", name, "--time", "00:05:00",
                   "--jobs-dir", slurm_jobs_dir, "--no-wait", env=env)
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    elements = [f"{job_id}_{i}" for i in range(8)]
    victim = elements[1]
    wait_until(lambda: slurm.job_status([victim])[victim] == "RUNNING", 120, f"{victim} runs")
    slurm.cancel(victim)                                     # killed while it runs its share
    seen = []
    wait_until(lambda: _watch_throttle(elements, 2, seen), 300, "every element ends", interval=0.5)
    states = slurm.job_status(elements)
    assert states[victim] == "CANCELLED", states
    assert all(state == "COMPLETED" for element, state in states.items() if element != victim), states
    assert max(seen) == 2

    again = astra("srun", "--resubmit-failed", job_id, "--jobs-dir", slurm_jobs_dir, env=env)
    assert again.returncode == 0, again.stdout + again.stderr + slurm_job_logs(slurm_jobs_dir)
    second = re.search(r"submitted again 1 element\(s\) \(" + victim + r" CANCELLED\) as job (\d+)", again.stdout)
    assert second, again.stdout
    assert "where_run: 2 spectra in 1 shares; 2 spectra done" in again.stdout
    assert slurm.job_status([f"{second.group(1)}_1"]) == {f"{second.group(1)}_1": "COMPLETED"}

    results = _results()
    assert sorted(results) == keys                           # exactly one result row per spectrum
    assert not any(row.flag_runtime_exception for row in results.values())
    shares = slurm.read_ledger(slurm_jobs_dir)[0]["array"]["shares"]
    processed = _processed(log_dir)
    for index, (lo, hi, count) in enumerate(shares):
        mine = [k for k in keys if lo <= k <= hi]
        assert len(mine) == count == 2
        for key in mine:
            if index != 1:                                   # analysed once, by its own element
                assert processed[key] == [f"{elements[index]}/0"], (key, processed[key])
            else:                                            # the resubmitted element wrote its result
                assert processed[key][-1] in (f"{second.group(1)}_1/0", f"{victim}/0"), processed[key]
                assert results[key].process == processed[key][-1].split()[0]
    listing = astra("squeue", "--all", "--jobs-dir", slurm_jobs_dir, env=env)
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert "CANCELLED (8 elements: 7 COMPLETED, 1 CANCELLED)" in rows[job_id], listing.stdout
    assert "COMPLETED (1 elements: 1 COMPLETED)" in rows[second.group(1)], listing.stdout
    nothing = astra("srun", "--resubmit-failed", job_id, "--jobs-dir", slurm_jobs_dir, env=env)
    assert nothing.returncode == 0 and f"job array {job_id}: no element to submit again (8 completed)" in nothing.stdout


@pytest.mark.slurm
def test_a_class_style_task_array_with_one_element_cancelled_and_resubmitted(tmp_path, cli_env, slurm_jobs_dir):
    from astra.tools.synthetic import write_sample_tree

    sas = tmp_path / "sas"
    write_sample_tree(str(sas), 16, release="dr13", species="apStar", seed=3)
    env = dict(cli_env, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    name = _unique("srunarrays-class")
    result = subprocess.run(
        [ASTRA, "srun", "--elements", "8", "--max-running", "2", "--job-name", name, "--time", "00:05:00",
         "--jobs-dir", slurm_jobs_dir, "astra", "run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13",
         "--species", "apStar", "--sas-base-dir", str(sas), "--limit", "16"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    elements = [f"{job_id}_{i}" for i in range(8)]
    victim = elements[6]
    slurm.cancel(victim)                                     # killed while pending (at most 2 run at once)
    seen = []
    wait_until(lambda: _watch_throttle(elements, 2, seen), 400, "every element ends", interval=0.5)
    states = slurm.job_status(elements)
    assert states[victim] in ("CANCELLED", "UNKNOWN"), states
    assert all(state == "COMPLETED" for element, state in states.items() if element != victim), \
        (states, slurm_job_logs(slurm_jobs_dir))

    again = astra("srun", "--resubmit-failed", victim, "--jobs-dir", slurm_jobs_dir, env=env)
    assert again.returncode == 0, again.stderr
    second = re.search(r"as job (\d+)$", again.stdout.strip()).group(1)
    assert slurm.wait_for_jobs([f"{second}_6"], timeout=240) == {f"{second}_6": "COMPLETED"}, \
        slurm_job_logs(slurm_jobs_dir)

    done = collections.Counter()
    for element in elements[:6] + elements[7:] + [f"{second}_6"]:
        [log] = glob.glob(os.path.join(slurm_jobs_dir, f"{name}-{element}.out"))
        with open(log) as fp:
            text = fp.read()
        match = re.search(r"EstimateSNR: 2 spectra; 2 spectra done \(0 already complete\), 0 failed", text)
        assert match, text[-3000:]
        done[element] += 2
    assert sum(done.values()) == 16                          # each spectrum analysed once, by one element
    outputs = [p for p in glob.glob(os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "**", "*-snr.json"), recursive=True)]
    assert len(outputs) == 16
    keys_dir = slurm.read_ledger(slurm_jobs_dir)[0]["array"]["keys_dir"]
    assert sorted(os.listdir(keys_dir)) == [f"{i}.csv" for i in range(8)]


def test_astra_run_reads_the_keys_table_of_its_position(tmp_path, monkeypatch, capsys):
    """What an element of a class-style array runs: ``--keys-table DIR --keys-table-per-process``."""
    from astra.cli import main
    from astra.cluster.array_jobs import write_keys_tables
    from astra.runner import find_rows
    from astra.tools.synthetic import write_sample_tree

    sas = tmp_path / "sas"
    write_sample_tree(str(sas), 5, release="dr13", species="apStar", seed=4)
    rows = find_rows("dr13", "apStar", sas_base_dir=str(sas))
    directory, counts = write_keys_tables(rows, 2, str(tmp_path / "jobs"), "x")
    assert counts == [3, 2] and write_keys_tables(rows, 2, str(tmp_path / "jobs"), "x")[0] == directory
    argv = ["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--sas-base-dir", str(sas),
            "--keys-table", directory, "--keys-table-per-process"]
    monkeypatch.setenv("ASTRA_SHARE_INDEX", "1")
    monkeypatch.setenv("ASTRA_SHARE_COUNT", "2")            # as the array script sets: not split again
    assert main(argv) == 0
    assert "EstimateSNR: 2 spectra; 2 spectra done (0 already complete), 0 failed" in capsys.readouterr().out
    monkeypatch.setenv("ASTRA_SHARE_INDEX", "0")
    assert main(argv) == 0
    assert "EstimateSNR: 3 spectra; 3 spectra done (0 already complete), 0 failed" in capsys.readouterr().out
    monkeypatch.setenv("ASTRA_SHARE_INDEX", "2")
    monkeypatch.setenv("ASTRA_SHARE_COUNT", "3")
    assert main(argv) == 2
    assert f"no table {directory}/2.csv for process 2" in capsys.readouterr().err
    assert main(argv[:6] + ["--keys-table", str(tmp_path / "none"), "--keys-table-per-process"]) == 2
    assert "needs --keys-table to name a directory" in capsys.readouterr().err
