"""Pytest fixtures that start real services: luigid and a Slurm cluster.

Imported by ``tests/conftest.py`` with ``from service_fixtures import *  # noqa``.

* ``luigid`` -- a real ``luigid`` on a free loopback port, state and logs in the test's
  temporary directory, with a ``luigi.cfg`` (``LUIGI_CONFIG_PATH``) tuned for fault tests:
  workers retry RPC every second, a silent worker counts as gone after 3 s and its task
  is retried after 1 s.  ``luigid.env`` is the environment for worker subprocesses (with
  ``tests/`` on ``PYTHONPATH``).  Stopped afterwards.
* ``slurm_cluster`` -- checks that Slurm answers and has a usable node; starts it with
  ``.ci/start-slurm.sh`` when ``ASTRA_START_SERVICES=1``; else skips (or fails when
  ``ASTRA_REQUIRE_SERVICES=1``).
* ``slurm_jobs_dir`` -- a jobs directory in ``tmp_path``; jobs recorded in its ledger
  that are still active at teardown are cancelled.
"""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from astra.cluster import luigid as _luigid
from astra.cluster import slurm as _slurm

__all__ = ["luigid", "luigi_test_config", "worker_env", "slurm_cluster", "slurm_jobs_dir",
           "start_worker", "TESTS_DIR", "PROJECT_DIR"]

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_DIR = os.path.dirname(TESTS_DIR)

LUIGI_TEST_CONFIG = textwrap.dedent("""\
    [core]
    rpc-retry-attempts = 60
    rpc-retry-wait = 1
    rpc-connect-timeout = 5

    [scheduler]
    worker_disconnect_delay = 3
    retry_delay = 1
    prune_on_get_work = true
    remove_delay = 600
    stable_done_cooldown_secs = 1

    [worker]
    keep_alive = true
    ping_interval = 0.5
    wait_interval = 0.2
    """)


def _require_or_skip(reason):
    message = reason
    if os.environ.get("ASTRA_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (ASTRA_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def luigi_test_config(tmp_path):
    """Path of a ``luigi.cfg`` for luigid and its workers (see the module docstring).

    :returns: a :class:`pathlib.Path`.
    """
    path = tmp_path / "luigi.cfg"
    path.write_text(LUIGI_TEST_CONFIG)
    return path


@pytest.fixture
def worker_env(luigi_test_config):
    """Environment for worker subprocesses: the test ``luigi.cfg`` and ``tests/`` importable.

    :returns: a dict for :class:`subprocess.Popen`.
    """
    env = dict(os.environ)
    env["LUIGI_CONFIG_PATH"] = str(luigi_test_config)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture
def luigid(tmp_path, worker_env):
    """A running real luigid (:class:`astra.cluster.luigid.LuigidProcess`), stopped after.

    ``luigid.env`` is also the environment to give worker subprocesses.
    """
    logdir = tmp_path / "luigid"
    try:
        process = _luigid.start_luigid(state_path=str(logdir / "state.pickle"),
                                       logdir=str(logdir), env=worker_env)
    except _luigid.LuigidError as exc:
        pytest.fail("luigid did not start: {}".format(exc), pytrace=False)
    try:
        yield process
    finally:
        process.stop()


def start_worker(module, task, task_args, env, scheduler=None, log_path=None, workers=1):
    """Start ``luigi --module <module> <task> ...`` as a subprocess.

    :param module: module with the task (e.g. ``"cluster_tasks"``).
    :param task: task family.
    :param task_args: list of task parameters.
    :param env: environment (e.g. ``luigid.env``).
    :param scheduler: a :class:`~astra.cluster.luigid.LuigidProcess`, or ``None`` for
        ``--local-scheduler``.
    :param log_path: file for the worker's stdout and stderr.
    :param workers: Luigi ``--workers``.
    :returns: the :class:`subprocess.Popen` (its own process group).
    """
    argv = _slurm.luigi_command(module, task, task_args,
                                scheduler.host if scheduler else None,
                                scheduler.port if scheduler else None, workers)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            out.close()


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running Slurm cluster with a usable node, or a skip (fail under
    ``ASTRA_REQUIRE_SERVICES=1``).

    :returns: a dict with ``partition`` (the default partition) and ``nodes``.
    """
    ok, reason = _slurm.slurm_available()
    if not ok and os.environ.get("ASTRA_START_SERVICES") == "1":
        script = os.path.join(PROJECT_DIR, ".ci", "start-slurm.sh")
        result = subprocess.run(["bash", script], capture_output=True, text=True)
        if result.returncode != 0:
            reason = "{}; {} failed: {}".format(reason, script, (result.stderr or result.stdout).strip())
        else:
            ok, reason = _slurm.slurm_available()
    if not ok:
        _require_or_skip("Slurm not available: {}; run .ci/start-slurm.sh as root".format(reason))
    result = subprocess.run(["sinfo", "-h", "-o", "%P %D"], capture_output=True, text=True)
    partitions = [line.split() for line in result.stdout.splitlines() if line.strip()]
    default = next((p.rstrip("*") for p, _ in partitions if p.endswith("*")),
                   partitions[0][0] if partitions else None)
    return {"partition": default, "nodes": sum(int(n) for _, n in partitions)}


@pytest.fixture
def slurm_jobs_dir(tmp_path, slurm_cluster):
    """A jobs directory for :func:`astra.cluster.slurm.submit`; its unfinished jobs are
    cancelled at teardown.

    :returns: the directory path (str).
    """
    jobs_dir = tmp_path / "slurm-jobs"
    jobs_dir.mkdir()
    yield str(jobs_dir)
    job_ids = [record["job_id"] for record in _slurm.read_ledger(str(jobs_dir))]
    if job_ids:
        try:
            for job_id, state in _slurm.job_status(job_ids).items():
                if state.split()[0] in _slurm.ACTIVE_STATES:
                    _slurm.cancel(job_id)
            _slurm.wait_for_jobs(job_ids, timeout=60)
        except _slurm.SlurmError as exc:  # pragma: no cover - diagnostics only
            print("slurm_jobs_dir teardown: {}".format(exc), file=sys.stderr)


# --- helpers shared by the tests that run workers and jobs ------------------------------------

def wait_until(predicate, timeout, message, interval=0.05):
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds.

    :param predicate: a callable returning a truth value.
    :param timeout: seconds to wait.
    :param message: what was awaited, for the failure message.
    :param interval: seconds between polls.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out after {}s: {}".format(timeout, message))


def finish_processes(procs, timeout=120):
    """Wait for worker processes; kill any left over (no process left behind).

    :param procs: :class:`subprocess.Popen` objects started in their own process groups.
    :param timeout: seconds to wait for each.
    :returns: their exit statuses.
    """
    try:
        return [proc.wait(timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def service_env(**extra):
    """The environment for subprocesses that import test modules from ``tests/``.

    :param extra: variables to add.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def slurm_job_logs(jobs_dir):
    """The tails of the ``*.out`` files of Slurm jobs in ``jobs_dir`` (for failure messages).

    :param jobs_dir: the jobs directory.
    """
    text = []
    for path in sorted(glob.glob(os.path.join(str(jobs_dir), "*.out"))):
        with open(path, errors="replace") as fp:
            text.append("==> {} <==\n{}".format(path, fp.read()[-4000:]))
    return "\n".join(text)
