"""A time limit per spectrum (astra.core.timeout), for both method styles.

A method that hangs forever on one chosen spectrum (``time.sleep``, ``sleep 1000`` in a
subprocess it started, or C code holding the GIL: tests/timeout_methods.py) runs under ``astra
run --timeout 2``, under a real luigid and under ``astra srun`` on the real single-node Slurm.
The run ends (a subprocess timeout guards every run: without the limit it would never end), the
stuck spectrum has its failure saying "timed out after 2 s" (a flagged row for a ``@task``, a
failure record for a class, and a ``RunFailure`` for ``/failures``), every other spectrum has
its result, the summary and exit code count one failure, and the subprocess the method started
is gone. A re-run retries the timed-out spectrum (the failure policy).
"""

import glob
import json
import os
import re
import subprocess
import sys
import uuid

import pytest

import astra.config
from astra.cli import main as astra_main
from astra.core import timeout as time_limit
from astra.processes import pid_alive
from astra.tools import synthetic
from service_fixtures import service_env, slurm_job_logs, wait_until
from web_fixtures import web_config  # noqa: F401

STYLES = ["class", "task"]
MODEL = "ApogeeCoaddedSpectrumInApStar"
LIMIT = "2"
#: Seconds a run may take before the test gives up on it (a run without the limit never ends).
GUARD = 240


def _setup(tmp_path, monkeypatch, style, n=5, database=None):
    """``n`` synthetic apStar spectra (and their catalogue rows for a ``@task``) in ``database``
    (default: SQLite); the key of the one to hang on, and every key."""
    sas = tmp_path / "sas"
    rows = synthetic.write_sample_tree(str(sas), n, release="dr13", species="apStar", seed=3, n_visits=1)
    monkeypatch.setenv("ASTRA_DATABASE_URL", database or f"sqlite:///{tmp_path / 'results.db'}")
    astra.config.reload()
    if style == "class":
        keys = [row["obj"] for row in rows]
        return sas, keys[2], keys
    assert astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(sas),
                       "--no-progress"]) == 0
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    keys = [str(r.spectrum_pk) for r in Star.select().order_by(Star.spectrum_pk)]
    return sas, keys[2], keys


def _run_args(style, sas, *extra):
    if style == "class":
        return ["run", "timeout_methods.StallingEstimateSNR", "--release", "dr13", "--species", "apStar",
                "--sas-base-dir", str(sas), *extra]
    return ["run", "timeout_methods.stalling_snr", MODEL, *extra]


def _env(tmp_path, hang_on, how="sleep", **extra):
    return service_env(ASTRA_HANG_ON=str(hang_on), ASTRA_HANG_HOW=how, ASTRA_HANG_PIDS=str(tmp_path / "pids"),
                       **extra)


def _astra(args, env):
    done = subprocess.run([sys.executable, "-m", "astra.cli", *args], env=env, capture_output=True, text=True,
                          timeout=GUARD)
    return done.returncode, done.stdout + done.stderr


def _results(style):
    """``{key: (ok, error)}`` of the results written: files and failure records for a class,
    rows for a ``@task``."""
    if style == "task":
        from timeout_methods import StallingSNR

        return {str(r.spectrum_pk): (not r.flag_runtime_exception, r.error) for r in StallingSNR.select()}
    out = {}
    root = os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "stalltests", "StallingEstimateSNR")
    for path in glob.glob(os.path.join(root, "**", "*-snr.json"), recursive=True):
        with open(path) as fp:
            out[json.load(fp)["keys"]["obj"]] = (True, None)
    for path in glob.glob(os.path.join(root, "failures", "*.json")):
        with open(path) as fp:
            record = json.load(fp)
        # a member's task id holds the start of its obj: stalltests.StallingEstimateSNR_dr13_<obj>_...
        out.setdefault(record["task_id"].split("_")[2], (False, record["error"]))
    return out


def _check_outcome(style, out, stuck, keys, tmp_path):
    assert re.search(rf"{len(keys) - 1} spectra done \(0 already complete\), 1 failed", out), out
    assert f"TimeoutError: timed out after {LIMIT} s" in out, out
    results = _results(style)
    if style == "class":  # failure records name the obj by its first 20 characters
        results = {next(k for k in keys if k.startswith(key)): value for key, value in results.items()}
    assert sorted(results) == sorted(keys), (results, out)
    assert results[stuck] == (False, f"TimeoutError: timed out after {LIMIT} s"), results
    assert all(ok for key, (ok, _) in results.items() if key != stuck), results
    from astra.models.run import RunFailure

    reasons = [f.reason for f in RunFailure.select()]
    assert reasons == [f"TimeoutError: timed out after {LIMIT} s"], reasons  # on /failures
    pids = (tmp_path / "pids").read_text().split() if (tmp_path / "pids").exists() else []
    assert not any(pid_alive(int(pid)) for pid in pids), pids  # its subprocess was killed with it


@pytest.mark.parametrize("how", ["sleep", "subprocess", "c"])
@pytest.mark.parametrize("style", STYLES)
def test_a_stuck_spectrum_times_out_under_astra_run(style, how, tmp_path, monkeypatch):
    sas, stuck, keys = _setup(tmp_path, monkeypatch, style)
    rc, out = _astra(_run_args(style, sas, "--timeout", LIMIT), _env(tmp_path, stuck, how))
    assert rc == 1, out
    _check_outcome(style, out, stuck, keys, tmp_path)
    if how == "subprocess":
        assert (tmp_path / "pids").read_text().split(), "the method started no subprocess"

    # A re-run (the spectrum no longer hangs) retries the timed-out spectrum, and only it.
    rc, out = _astra(_run_args(style, sas, "--timeout", LIMIT), _env(tmp_path, "nothing"))
    assert rc == 0, out
    # (astra run of a @task finds only the spectra still to do; of a class, every file)
    again = (r"1 spectra done \(0 already complete\)" if style == "task"
             else rf"{len(keys)} spectra done \({len(keys) - 1} already complete\)")
    assert re.search(again, out), out
    assert all(ok for ok, _ in _results(style).values())


@pytest.mark.postgres
def test_a_stuck_spectrum_times_out_with_results_in_postgresql(tmp_path, monkeypatch, postgres_url):
    sas, stuck, keys = _setup(tmp_path, monkeypatch, "task", database=postgres_url)
    rc, out = _astra(_run_args("task", sas, "--timeout", LIMIT), _env(tmp_path, stuck, "subprocess"))
    assert rc == 1, out
    _check_outcome("task", out, stuck, keys, tmp_path)


@pytest.mark.parametrize("style", STYLES)
def test_the_method_declares_its_own_limit_and_astra_run_overrides_it(style, tmp_path, monkeypatch):
    """``@task(timeout=600)`` / ``timeout = 600`` is the method's; ``--timeout 0`` removes it,
    and without one a batch runs in the process itself, as before."""
    from timeout_methods import StallingEstimateSNR, stalling_snr

    task_class = StallingEstimateSNR if style == "class" else stalling_snr.task_class
    params = dict(task_class.get_params())
    assert params["timeout"]._default == 600.0 and not params["timeout"].significant
    sas, _, keys = _setup(tmp_path, monkeypatch, style)
    log = tmp_path / "computed.log"
    rc, out = _astra(_run_args(style, sas, "--timeout", "0"), _env(tmp_path, "nothing", ASTRA_CLAIM_LOG=str(log)))
    assert rc == 0, out
    pids = {line.split()[1] for line in log.read_text().splitlines()}
    assert len(pids) == 1, pids  # no worker process per batch: all in one process
    rc, out = _astra(["run", "--help"], service_env())
    assert "--timeout SECONDS" in out


@pytest.mark.parametrize("style", STYLES)
def test_a_worker_that_dies_on_a_spectrum_fails_only_that_spectrum(style, tmp_path, monkeypatch):
    sas, stuck, keys = _setup(tmp_path, monkeypatch, style)
    rc, out = _astra(_run_args(style, sas, "--timeout", "60"), _env(tmp_path, stuck, "die"))
    assert rc == 1, out
    assert re.search(rf"{len(keys) - 1} spectra done \(0 already complete\), 1 failed", out), out
    assert "WorkerDied: the worker process was killed by signal 9 (SIGKILL)" in out, out


def test_without_a_limit_nothing_is_forked():
    class Plain:
        timeout = 0.0

    assert time_limit.limit_of(Plain()) is None and not time_limit.in_worker()
    assert time_limit.drop_settled([1, 2], str) == [1, 2]
    assert time_limit.timed_out_reason(2.0) == "TimeoutError: timed out after 2 s"


def test_task_rejects_a_bad_timeout():
    from astra.tasks.function import TaskFunctionError
    from timeout_methods import stalling_snr

    with pytest.raises(TaskFunctionError, match=r"timeout=\.\.\.\) of .*: give seconds"):
        astra.task(timeout=-1)(stalling_snr.function)
    assert _astra(["run", "timeout_methods.stalling_snr", MODEL, "--timeout", "soon"], service_env())[1].count(
        "'soon' is not a number of seconds") == 1


@pytest.mark.luigid
@pytest.mark.parametrize("style", STYLES)
def test_a_stuck_spectrum_times_out_under_luigid(style, luigid, tmp_path, monkeypatch):
    sas, stuck, keys = _setup(tmp_path, monkeypatch, style)
    config = tmp_path / "astra.yml"
    config.write_text(f"scheduler_host: {luigid.host}\nscheduler_port: {luigid.port}\n")
    env = dict(luigid.env, **{k: v for k, v in _env(tmp_path, stuck, "subprocess").items() if k.startswith("ASTRA_")},
               ASTRA_CONFIG=str(config))
    rc, out = _astra(_run_args(style, sas, "--timeout", LIMIT), env)
    assert rc == 1, out
    _check_outcome(style, out, stuck, keys, tmp_path)
    statuses = set(luigid.task_statuses().values())
    assert statuses <= {"DONE", "FAILED"} and statuses, statuses


@pytest.mark.slurm
@pytest.mark.parametrize("style", STYLES)
def test_a_stuck_spectrum_times_out_under_astra_srun(style, tmp_path, monkeypatch, slurm_jobs_dir):
    sas, stuck, keys = _setup(tmp_path, monkeypatch, style)
    env = _env(tmp_path, stuck, "subprocess", ASTRA_JOBS_DIR=slurm_jobs_dir)
    name = f"timeout-{style}-{uuid.uuid4().hex[:8]}"
    srun = ["srun", "--job-name", name, "--time", "00:05:00", "--jobs-dir", slurm_jobs_dir]
    if style == "task":
        rc, out = _astra([*srun, "timeout_methods.stalling_snr", MODEL, "--timeout", LIMIT], env)
        out += slurm_job_logs(slurm_jobs_dir)
        assert rc == 1, out
        assert re.search(rf"stalling_snr: {len(keys)} spectra in 1 shares; {len(keys) - 1} spectra done "
                         r"\(0 already complete\), 1 failed", out), out
    else:
        from astra.cluster import slurm

        rc, out = _astra([*srun, "astra", *_run_args(style, sas, "--timeout", LIMIT)], env)
        assert rc == 0, out
        job = out.strip().splitlines()[-1]
        states = slurm.wait_for_jobs([f"{job}_0"], timeout=GUARD)  # a job array of one element
        out = slurm_job_logs(slurm_jobs_dir)
        assert all(state.split()[0] == "FAILED" for state in states.values()), (states, out)  # exit status 1
    _check_outcome(style, out, stuck, keys, tmp_path)


def test_the_start_form_has_a_time_limit_field(web_config):
    from astra.web import launch
    from astra.web.app import create_app

    assert "timeout" not in [f.name for f in launch.form_fields(launch.registered_tasks()["EstimateSNR"])]
    form = {"release": "dr13", "species": "apStar", "timeout": "30"}
    request = launch.RunRequest.from_form("EstimateSNR", form)
    arguments = request.arguments()
    assert arguments[arguments.index("--timeout") + 1] == "30"
    assert "--timeout" not in launch.RunRequest.from_form("EstimateSNR", {**form, "timeout": ""}).arguments()
    with pytest.raises(launch.FormError, match="timeout: 'soon' is not a number of seconds"):
        launch.RunRequest.from_form("EstimateSNR", {**form, "timeout": "soon"})
    page = create_app().test_client().get("/start/EstimateSNR").get_data(as_text=True)
    assert 'name="timeout"' in page and "Time limit per spectrum" in page


def test_a_killed_run_takes_its_worker_and_the_method_s_subprocess_with_it(tmp_path, monkeypatch):
    """The run's process watches a worker in another process group: when the run is SIGKILLed
    (no cleanup of its own), the worker kills its group, the method's subprocess included."""
    sas, stuck, _ = _setup(tmp_path, monkeypatch, "class")
    pids = tmp_path / "pids"
    process = subprocess.Popen([sys.executable, "-m", "astra.cli", *_run_args("class", sas, "--timeout", "600")],
                               env=_env(tmp_path, stuck, "subprocess"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: pids.exists() and pids.read_text().split(), GUARD, "the method starts its subprocess")
        [child] = [int(p) for p in pids.read_text().split()]
        assert pid_alive(child)
        process.kill()
        process.wait()
        wait_until(lambda: not pid_alive(child), 30, "the method's subprocess is killed with the run")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
