"""Tests of the ``astra srun`` and ``astra squeue`` commands (astra.commands.srun/squeue).

The commands run in a subprocess through the real ``astra`` console script.
"""

import argparse
import collections
import os
import subprocess
import sys

import pytest

from astra.cluster import slurm
from astra.commands import squeue as squeue_command
from astra.commands import srun as srun_command
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from cluster_tasks import read_events
from test_classify import catalogue  # noqa: F401 (the fixture: synthetic spectra of known temperature)
from service_fixtures import TESTS_DIR, slurm_job_logs

ASTRA = os.path.join(os.path.dirname(sys.executable), "astra")


def astra(command, *argv, env=None, cwd=None):
    """Run ``astra <command> argv...`` in a subprocess; return the completed process."""
    return subprocess.run([ASTRA, command] + [str(a) for a in argv],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture
def cli_env(tmp_path):
    """Environment of the CLI: tests/ importable, jobs dir in tmp_path, no luigi.cfg."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    env["ASTRA_JOBS_DIR"] = str(tmp_path / "jobs")
    (tmp_path / "empty-luigi.cfg").write_text("")
    env["LUIGI_CONFIG_PATH"] = str(tmp_path / "empty-luigi.cfg")
    return env


#: A task of tests/cluster_tasks.py with valid parameters.
ECHO = ("cluster_tasks", "Echo", "--text", "x", "--path", "p")


def _parse(argv):
    parser = argparse.ArgumentParser()
    srun_command.add_arguments(parser)
    return srun_command.split_task_args(parser.parse_args(argv))


def test_commands_follow_the_cli_interface():
    for module in (srun_command, squeue_command):
        assert isinstance(module.NAME, str) and isinstance(module.HELP, str)
        assert "\n" not in module.HELP
        assert callable(module.add_arguments) and callable(module.run)


def test_task_parameters_are_separated_from_srun_options():
    args = _parse(["--nodes", "2", "mod", "Task", "--release", "dr16", "--time", "01:00:00",
                   "--x=1", "-5", "--workers-per-node", "3", "--", "--mem", "task's own --mem"])
    assert (args.module, args.task) == ("mod", "Task")
    assert (args.nodes, args.time, args.workers_per_node, args.mem) == (2, "01:00:00", 3, None)
    assert args.task_args == ["--release", "dr16", "--x=1", "-5", "--mem", "task's own --mem"]


def test_srun_options_are_not_abbreviated():
    args = _parse(["mod", "Task", "--work", "3", "--node", "x"])
    assert args.task_args == ["--work", "3", "--node", "x"]
    assert (args.workers_per_node, args.nodes) == (1, 1)


def test_dry_run_prints_a_valid_script(cli_env, tmp_path):
    result = astra("srun", "cluster_tasks", "Echo", "--text", "a b; $(touch x)", "--path", "p",
                   "--nodes", "2", "--time", "00:05:00", "--dry-run",
                   "--scheduler-host", "127.0.0.1", "--scheduler-port", "8123", env=cli_env)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert "#SBATCH --nodes=2" in script and "#SBATCH --time=00:05:00" in script
    assert "--module cluster_tasks Echo --text 'a b; $(touch x)' --path p " \
           "--scheduler-host 127.0.0.1 --scheduler-port 8123 --workers 1" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert not os.path.exists(cli_env["ASTRA_JOBS_DIR"])     # nothing submitted


def test_several_jobs_of_a_luigi_task_without_a_scheduler_are_refused(cli_env):
    result = astra("srun", "cluster_tasks", "Echo", "--text", "x", "--path", "p", "--jobs", "2",
                   "--dry-run", env=cli_env)
    assert result.returncode == 2 and "would each run the whole task" in result.stderr


def test_dry_run_local_scheduler_gives_each_job_a_share(cli_env):
    result = astra("srun", "cluster_tasks", "ShareRoot", "--n", "4", "--out-dir", "o",
                   "--jobs", "3", "--shares", "--dry-run", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("#!/bin/bash") == 3
    assert result.stdout.count("export ASTRA_SHARE_COUNT=3") == 3
    for offset in range(3):
        assert "export ASTRA_SHARE_OFFSET={}".format(offset) in result.stdout
    assert result.stdout.count("--local-scheduler") == 3


def test_scheduler_taken_from_luigi_cfg(cli_env, tmp_path):
    cfg = tmp_path / "luigi.cfg"
    cfg.write_text("[core]\nscheduler_host = sched.example.org\nscheduler_port = 8999\n")
    result = astra("srun", *ECHO, "--dry-run", env=dict(cli_env, LUIGI_CONFIG_PATH=str(cfg)))
    assert result.returncode == 0, result.stderr
    assert "--scheduler-host sched.example.org --scheduler-port 8999" in result.stdout
    result = astra("srun", *ECHO, "--dry-run", "--local-scheduler",
                   env=dict(cli_env, LUIGI_CONFIG_PATH=str(cfg)))
    assert "--local-scheduler" in result.stdout and "sched.example.org" not in result.stdout


def test_bad_arguments_exit_2(cli_env):
    result = astra("srun", "m", "T", "--nodes", "0", "--dry-run", env=cli_env)
    assert result.returncode == 2 and "at least 1" in result.stderr


def test_procs_and_no_wait_are_for_the_catalogue_form(cli_env):
    result = astra("srun", *ECHO, "--procs", "2", "--dry-run", env=cli_env)
    assert result.returncode == 2 and "--procs and --no-wait are for the form" in result.stderr


def test_srun_without_slurm_fails_clearly(cli_env, tmp_path):
    env = dict(cli_env, PATH=str(tmp_path))  # no sbatch here
    result = astra("srun", *ECHO, env=env)
    assert result.returncode == 1
    assert "sbatch not found" in result.stderr


def test_srun_help_explains_task_parameters(cli_env):
    result = astra("srun", "--help", env=cli_env)
    assert result.returncode == 0
    assert "after --" in result.stdout and "--nodes" in result.stdout


def test_squeue_with_empty_ledger(cli_env):
    result = astra("squeue", env=cli_env)
    assert result.returncode == 0
    assert "No jobs submitted by Astra" in result.stdout


@pytest.mark.slurm
def test_srun_local_scheduler_jobs_split_the_work(cli_env, tmp_path, slurm_jobs_dir):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 6
    result = astra("srun", "cluster_tasks", "ShareRoot", "--n", n, "--out-dir", out_dir,
                   "--sleep", "0.2", "--jobs", "2", "--shares", "--time", "00:05:00",
                   "--jobs-dir", slurm_jobs_dir, env=cli_env)
    assert result.returncode == 0, result.stderr
    job_ids = result.stdout.split()
    assert len(job_ids) == 2 and all(j.isdigit() for j in job_ids)

    listing = astra("squeue", "--all", "--jobs-dir", slurm_jobs_dir, env=cli_env)
    assert listing.returncode == 0, listing.stderr
    assert all(j in listing.stdout for j in job_ids)

    states = slurm.wait_for_jobs(job_ids, timeout=180)
    assert set(states.values()) == {"COMPLETED"}, states
    events = read_events(out_dir)
    done = collections.Counter(t for e, t, _ in events if e == "done")
    assert len(done) == n and set(done.values()) == {1}, done   # no batch ran twice
    per_process = collections.Counter(p for e, _, p in events if e == "done")
    assert sorted(per_process.values()) == [3, 3]                # each job did its share

    listing = astra("squeue", "--all", "--jobs-dir", slurm_jobs_dir, env=cli_env)
    rows = [line.split() for line in listing.stdout.splitlines()[1:]]
    assert {(row[0], row[1]) for row in rows} == {(j, "COMPLETED") for j in job_ids}
    active = astra("squeue", "--jobs-dir", slurm_jobs_dir, env=cli_env)
    assert "No running or pending Astra jobs" in active.stdout


@pytest.mark.slurm
@pytest.mark.luigid
def test_srun_central_scheduler_jobs_share_one_graph(cli_env, tmp_path, luigid, slurm_jobs_dir):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 6
    env = dict(luigid.env, ASTRA_JOBS_DIR=slurm_jobs_dir)
    result = astra("srun", "cluster_tasks", "Root", "--n", n, "--out-dir", out_dir,
                   "--sleep", "0.3", "--jobs", "2", "--scheduler-host", luigid.host,
                   "--scheduler-port", luigid.port, env=env)
    assert result.returncode == 0, result.stderr
    job_ids = result.stdout.split()
    states = slurm.wait_for_jobs(job_ids, timeout=180)
    assert set(states.values()) == {"COMPLETED"}, states
    done = collections.Counter(t for e, t, _ in read_events(out_dir) if e == "done")
    assert len(done) == n + 1 and set(done.values()) == {1}, done
    statuses = luigid.task_statuses()
    assert len(statuses) == n + 1 and set(statuses.values()) == {"DONE"}


def test_srun_refuses_a_module_that_does_not_import_before_sbatch(cli_env, tmp_path):
    # Seed 001's command: nothing may be queued, and the error is the one astra run gives.
    env = dict(cli_env, PATH=str(tmp_path))  # no sbatch: reaching it would be a different error
    result = astra("srun", "snow_white", "BossCombinedSpectrum", env=env)
    assert result.returncode == 2
    assert "cannot import module 'snow_white'" in result.stderr and "PYTHONPATH" in result.stderr
    run = astra("run", "snow_white.BossCombinedSpectrum", "--release", "dr13", env=env)
    assert run.returncode == 2
    assert result.stderr.split(": error: ", 1)[1] == run.stderr.split(": error: ", 1)[1]
    assert not os.path.exists(cli_env["ASTRA_JOBS_DIR"])


def test_srun_checks_the_task_and_its_parameters_before_sbatch(cli_env, tmp_path):
    env = dict(cli_env, PATH=str(tmp_path))
    result = astra("srun", "cluster_tasks", "Ecko", "--text", "x", env=env)
    assert result.returncode == 2 and "has no task 'Ecko' (did you mean 'Echo'?)" in result.stderr
    result = astra("srun", "cluster_tasks", "Echo", "--txt", "x", "--path", "p", env=env)
    assert result.returncode == 2 and "no parameter 'txt' (did you mean 'text'?)" in result.stderr
    result = astra("srun", "cluster_tasks", "Echo", "--text", "x", env=env)  # --path is required
    assert result.returncode == 2 and "path" in result.stderr
    result = astra("srun", "astra", "run", "astra.contrib.rocket.EstimateSRN", "--release", "dr13", env=env)
    assert result.returncode == 2 and "(did you mean 'EstimateSNR'?)" in result.stderr
    assert not os.path.exists(cli_env["ASTRA_JOBS_DIR"])


# ------------------------------------------------------------- <task> <SpectrumModel>

CATALOGUE = "ApogeeCoaddedSpectrumInApStar"


def _catalogue(tmp_path, n, database_url, monkeypatch):
    """``n`` synthetic apStar spectra migrated into the catalogue at ``database_url``; their keys."""
    import astra.config
    from astra.cli import main as astra_main
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
    from astra.tools import synthetic

    monkeypatch.setenv("ASTRA_DATABASE_URL", database_url)
    astra.config.reload()
    synthetic.write_sample_tree(str(tmp_path / "sas"), n, release="dr13", species="apStar", seed=1, snr=60, n_visits=1)
    assert astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir",
                       str(tmp_path / "sas"), "--no-progress"]) == 0
    return [r.spectrum_pk for r in ApogeeCoaddedSpectrumInApStar.select().order_by(ApogeeCoaddedSpectrumInApStar.spectrum_pk)]


def _processed(log_dir):
    """``{spectrum_pk: [job/procid, ...]}`` from the where_run method's log (one entry per analysis)."""
    seen = collections.defaultdict(list)
    for _, key, _ in read_events(log_dir):
        pk, _, process = key.partition("/")
        seen[int(pk)].append(process)
    return dict(seen)


def _ranges_of_scripts(jobs_dir):
    """``[(job_id, [(lo, hi), ...])]`` from the ledger's command lines."""
    out = []
    for record in slurm.read_ledger(jobs_dir):
        argv = record["command"].split()
        ranges = [(int(argv[i + 1]), int(argv[i + 2])) for i, a in enumerate(argv) if a == "--spectrum-pk-range"]
        out.append((record["job_id"], ranges))
    return out


def _results():
    from task_methods import WhereRun

    return {row.spectrum_pk: row for row in WhereRun.select()}


@pytest.fixture
def catalogue_env(cli_env, tmp_path):
    """The CLI environment with the test's output directory, and a log directory for where_run."""
    log_dir = tmp_path / "where"
    log_dir.mkdir()
    return dict(cli_env, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"]), log_dir


@pytest.mark.slurm
def test_catalogue_form_one_job(catalogue_env, tmp_path, slurm_jobs_dir, sqlite_url, monkeypatch):
    env, log_dir = catalogue_env
    keys = _catalogue(tmp_path, 5, sqlite_url, monkeypatch)
    bad = keys[3]
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    open(Star.get_by_id(bad).path, "wb").close()  # a broken file fails only its own spectrum
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--log-dir", log_dir, "--time", "00:05:00",
                   "--jobs-dir", slurm_jobs_dir, env=dict(env, ASTRA_DATABASE_URL=sqlite_url))
    assert result.returncode == 1, result.stdout + result.stderr + slurm_job_logs(slurm_jobs_dir)
    out = result.stdout
    assert "\x1b" not in out and "\r" not in out           # not a terminal: plain lines
    assert f"where_run over {CATALOGUE}: 5 spectra in 1 shares; Slurm job array " in out
    assert "where_run: 5 spectra in 1 shares; 4 spectra done (0 already complete), 1 failed" in out
    assert f"failed: where_run spectrum_pk={bad}: InputFileError: empty file" in out
    [(job_id, ranges)] = _ranges_of_scripts(slurm_jobs_dir)
    assert ranges == [(keys[0], keys[-1])]
    assert f"job {job_id}_0 ended FAILED; its log: " in out
    results = _results()
    assert sorted(results) == keys                         # one row per spectrum, the failure flagged
    assert [pk for pk, row in results.items() if row.flag_runtime_exception] == [bad]
    processed = _processed(log_dir)
    assert sorted(processed) == sorted(set(keys) - {bad})
    assert all(p == [f"{job_id}_0/0"] for p in processed.values())

    # run again after the file is repaired: only the failed spectrum, and now everything is done
    synthetic_path = Star.get_by_id(bad).path
    from astra.tools import synthetic

    synthetic.write_apstar(synthetic_path, n_visits=1, snr=60, seed=5)
    again = astra("srun", "task_methods.where_run", CATALOGUE, "--retry-failed", "--log-dir", log_dir,
                  "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir, env=dict(env, ASTRA_DATABASE_URL=sqlite_url))
    assert again.returncode == 0, again.stdout + again.stderr + slurm_job_logs(slurm_jobs_dir)
    assert "where_run: 1 spectra in 1 shares; 1 spectra done (0 already complete), 0 failed" in again.stdout
    assert _processed(log_dir)[bad] and not _results()[bad].flag_runtime_exception


@pytest.mark.slurm
@pytest.mark.postgres
def test_catalogue_form_two_jobs_of_two_processes(catalogue_env, tmp_path, slurm_jobs_dir, postgres_url, monkeypatch):
    env, log_dir = catalogue_env
    keys = _catalogue(tmp_path, 11, postgres_url, monkeypatch)
    import task_methods
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    done_before = [keys[1], keys[4], keys[5]]               # already analysed: not shared out
    list(task_methods.where_run(Star.select().where(Star.spectrum_pk.in_(done_before))))
    unprocessed = [k for k in keys if k not in done_before]
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--log-dir", log_dir, "--sleep", "0.2",
                   "--jobs", "2", "--procs", "2", "--job-steps", "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir,
                   env=dict(env, ASTRA_DATABASE_URL=postgres_url))
    assert result.returncode == 0, result.stdout + result.stderr + slurm_job_logs(slurm_jobs_dir)
    assert "where_run: 8 spectra in 4 shares; 8 spectra done (0 already complete), 0 failed" in result.stdout
    assert "8/8 spectra done" in result.stdout

    jobs = _ranges_of_scripts(slurm_jobs_dir)
    assert len(jobs) == 2 and all(len(ranges) == 2 for _, ranges in jobs)
    shares = {(job_id, procid): rng for job_id, ranges in jobs for procid, rng in enumerate(ranges)}
    members = {where: [k for k in unprocessed if lo <= k <= hi] for where, (lo, hi) in shares.items()}
    assert sorted(k for m in members.values() for k in m) == unprocessed   # disjoint, and they cover all
    assert sorted(len(m) for m in members.values()) == [2, 2, 2, 2]        # balanced by count
    processed = _processed(log_dir)
    assert sorted(processed) == unprocessed                  # nothing done before ran again
    for (job_id, procid), mine in members.items():           # each process ran its own share, once
        for key in mine:
            assert processed[key] == [f"{job_id}/{procid}"], (key, processed[key])
    results = _results()
    assert sorted(results) == keys and not any(r.flag_runtime_exception for r in results.values())


@pytest.mark.slurm
def test_catalogue_form_no_wait_and_nothing_to_do(catalogue_env, tmp_path, slurm_jobs_dir, sqlite_url, monkeypatch):
    env, log_dir = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url)
    keys = _catalogue(tmp_path, 3, sqlite_url, monkeypatch)
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--log-dir", log_dir, "--procs", "2", "--no-wait",
                   "--jobs-dir", slurm_jobs_dir, env=env)
    assert result.returncode == 0, result.stderr
    job_ids = result.stdout.split()
    assert len(job_ids) == 1 and job_ids[0].isdigit()        # only the job (array) id
    elements = [f"{job_ids[0]}_0", f"{job_ids[0]}_1"]       # --procs 2: two shares, two elements
    states = slurm.wait_for_jobs(elements, timeout=180)
    assert states == {e: "COMPLETED" for e in elements}, slurm_job_logs(slurm_jobs_dir)
    assert sorted(_results()) == keys
    again = astra("srun", "task_methods.where_run", CATALOGUE, "--log-dir", log_dir,
                  env=dict(env, PATH=str(tmp_path)))       # no sbatch: nothing may be submitted
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout and "no job submitted" in again.stdout


def test_catalogue_form_dry_run_and_the_astra_run_spelling(catalogue_env, tmp_path, sqlite_url, monkeypatch):
    env, _ = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url, PATH=str(tmp_path))   # no sbatch: nothing submitted
    keys = _catalogue(tmp_path, 5, sqlite_url, monkeypatch)
    for argv in (["task_methods.where_run", CATALOGUE, "--jobs", "2", "--sleep", "1", "--job-steps"],
                 ["--jobs", "2", "--job-steps", "astra", "run", "task_methods.where_run", CATALOGUE, "--sleep", "1"]):
        result = astra("srun", *argv, "--dry-run", env=env)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith("srun ")]
        assert len(lines) == 2 and all("--sleep 1" in line and line.endswith("--range-per-process") for line in lines)
        assert f"--spectrum-pk-range {keys[0]} {keys[2]} " in lines[0]
        assert f"--spectrum-pk-range {keys[3]} {keys[4]} " in lines[1]
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--procs", "4", "--dry-run", "--limit", "2",
                   "--job-steps", env=env)
    assert result.returncode == 0, result.stderr
    assert "2 spectra for 4 processes: 2 processes get a share" in result.stderr
    assert "--ntasks-per-node=2" in result.stdout and "--limit" not in result.stdout
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--workers", "3", "--dry-run", env=env)
    assert "#SBATCH --cpus-per-task=3" in result.stdout and " --workers 3 " in result.stdout   # a CPU per Luigi worker


def test_catalogue_form_errors_before_sbatch(catalogue_env, tmp_path, sqlite_url, monkeypatch):
    env, _ = catalogue_env
    env = dict(env, ASTRA_DATABASE_URL=sqlite_url, PATH=str(tmp_path))
    _catalogue(tmp_path, 1, sqlite_url, monkeypatch)
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--colour", "red", env=env)
    assert result.returncode == 2 and "no parameter 'colour'" in result.stderr
    result = astra("srun", "task_methods.no_such_method", CATALOGUE, env=env)
    assert result.returncode == 2 and "has no task 'no_such_method'" in result.stderr
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--spectrum-pk-range", "1", "2", env=env)
    assert result.returncode == 2 and "gives each process its --spectrum-pk-range" in result.stderr
    result = astra("srun", "task_methods.where_run", CATALOGUE, "--scheduler-host", "h", env=env)
    assert result.returncode == 2 and "--scheduler-host and --shares are for luigi tasks" in result.stderr
    assert not os.path.exists(env["ASTRA_JOBS_DIR"])


def test_catalogue_form_of_a_downstream_method_shares_only_what_its_upstream_chose(cli_env, tmp_path, catalogue, db_url):
    """``continuum_teff`` runs on the spectra ``hot_cool`` classed hot: only those are shared out."""
    env = dict(cli_env, ASTRA_DATABASE_URL=db_url, PATH=str(tmp_path))   # no sbatch: nothing submitted
    from astra.contrib.classify import hot_cool

    list(hot_cool(Star.select()))
    hot = sorted(k for k, teff in catalogue.items() if teff > 5000)
    result = astra("srun", "continuum_teff", "--jobs", "2", "--job-steps", "--dry-run", env=env)   # its first table
    assert result.returncode == 0, result.stderr
    ranges = [line.split("--spectrum-pk-range ")[1].split()[:2] for line in result.stdout.splitlines()
              if line.startswith("srun ")]
    ranges = [(int(lo), int(hi)) for lo, hi in ranges]
    assert [k for k in hot if any(lo <= k <= hi for lo, hi in ranges)] == hot
    assert sorted(k for lo, hi in ranges for k in hot if lo <= k <= hi) == hot   # disjoint
    assert "continuum_teff ApogeeCoaddedSpectrumInApStar --workers 1" in result.stdout


def test_a_module_without_a_task_is_a_clear_error(cli_env):
    result = astra("srun", "cluster_tasks", "--nodes", "1", env=cli_env)
    assert result.returncode == 2 and "give the task family after the module 'cluster_tasks'" in result.stderr


@pytest.mark.slurm
def test_interrupting_the_catalogue_form_stops_following_not_the_jobs(catalogue_env, tmp_path, slurm_jobs_dir,
                                                                     sqlite_url, monkeypatch):
    import signal

    env, log_dir = catalogue_env
    keys = _catalogue(tmp_path, 3, sqlite_url, monkeypatch)
    proc = subprocess.Popen([ASTRA, "srun", "task_methods.where_run", CATALOGUE, "--log-dir", str(log_dir),
                             "--sleep", "1", "--jobs-dir", slurm_jobs_dir],
                            env=dict(env, ASTRA_DATABASE_URL=sqlite_url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        header = proc.stdout.readline()                  # printed once the job is submitted
        assert "where_run over" in header, header + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    [record] = slurm.read_ledger(slurm_jobs_dir)
    assert f"stopped following; the jobs go on (astra squeue; scancel {record['job_id']})" in err
    element = f"{record['job_id']}_0"
    states = slurm.wait_for_jobs([element], timeout=180)
    assert states == {element: "COMPLETED"}, slurm_job_logs(slurm_jobs_dir)
    assert sorted(_results()) == keys


@pytest.mark.slurm
@pytest.mark.parametrize("style", ["class", "task"])
def test_both_styles_split_their_work_into_the_same_shares(style, catalogue_env, tmp_path, slurm_jobs_dir,
                                                           sqlite_url, monkeypatch):
    """``astra srun --jobs 2`` over six units: a class-style graph (``--shares``, each process keeps its
    share of the batches) and a ``@task`` method (``spectrum_pk`` ranges fixed at submission) split
    the same way, by one function: every unit runs once, and the units of each process are one of
    :func:`astra.cluster.shares.partition_batches`'s shares of the units in order."""
    from astra.cluster.shares import partition_batches

    env, log_dir = catalogue_env
    n = 6
    if style == "class":
        import cluster_batch_tasks

        log_path = tmp_path / "events.log"
        units = list(range(n))  # one member per batch, batches in obj order
        result = astra("srun", "cluster_batch_tasks", "ShareGraph", "--n", n, "--batch-size", 1,
                       "--log-path", log_path, "--jobs", 2, "--shares", "--time", "00:05:00",
                       "--jobs-dir", slurm_jobs_dir, env=env)
        assert result.returncode == 0, result.stderr
        states = slurm.wait_for_jobs(result.stdout.split(), timeout=180)
        assert set(states.values()) == {"COMPLETED"}, slurm_job_logs(slurm_jobs_dir)
        by_process = collections.defaultdict(list)
        for event, obj, pid, _ in cluster_batch_tasks.read_events(str(log_path)):
            if event == "done":
                by_process[pid].append(obj)
    else:
        units = _catalogue(tmp_path, n, sqlite_url, monkeypatch)
        result = astra("srun", "task_methods.where_run", CATALOGUE, "--log-dir", log_dir, "--jobs", 2,
                       "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir, env=dict(env, ASTRA_DATABASE_URL=sqlite_url))
        assert result.returncode == 0, result.stdout + result.stderr + slurm_job_logs(slurm_jobs_dir)
        by_process = collections.defaultdict(list)
        for key, processes in _processed(log_dir).items():
            for process in processes:
                by_process[process].append(key)
    done = sorted(unit for mine in by_process.values() for unit in mine)
    assert done == units                                   # every unit once, none twice
    assert sorted(sorted(mine) for mine in by_process.values()) == partition_batches(units, 2)
