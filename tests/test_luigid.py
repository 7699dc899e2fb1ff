"""Tests of astra.cluster.luigid against a real luigid and real worker processes."""

import collections
import os
import signal
import socket
import urllib.request

import pytest

from astra.cluster.luigid import LuigidError, free_port, start_luigid
from cluster_tasks import read_events
from service_fixtures import start_worker
from service_fixtures import finish_processes, wait_until

pytestmark = pytest.mark.luigid






def _done_counts(out_dir):
    return collections.Counter(task for event, task, _ in read_events(out_dir) if event == "done")


def _root_args(out_dir, n, sleep):
    return ["--n", str(n), "--out-dir", str(out_dir), "--sleep", str(sleep)]


def _assert_each_done_once(out_dir, n, luigid):
    done = _done_counts(out_dir)
    assert len(done) == n + 1, done                      # n leaves and the root
    assert set(done.values()) == {1}, "tasks done more than once: {}".format(done)
    for i in range(n):
        assert (out_dir / "leaf-{}.txt".format(i)).read_text() == "{}\n".format(i)
    assert (out_dir / "root.txt").read_text() == "{}\n".format(sum(range(n)))
    statuses = luigid.task_statuses()
    assert len(statuses) == n + 1
    assert set(statuses.values()) == {"DONE"}, statuses


def test_luigid_fixture_answers(luigid):
    assert luigid.is_running()
    assert luigid.url == "http://127.0.0.1:{}/".format(luigid.port)
    assert luigid.api("task_list") == {}
    assert luigid.api("worker_list") == []
    with urllib.request.urlopen(luigid.url, timeout=5) as response:  # web UI
        assert response.status == 200
    assert os.path.isdir(luigid.logdir)


def test_start_and_stop_leave_nothing_behind(tmp_path):
    with start_luigid(logdir=str(tmp_path / "logs")) as process:
        pid, port = process.pid, process.port
        assert process.api("task_list") == {}
    assert not process.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    # SIGTERM makes luigid save its state
    assert os.path.exists(str(tmp_path / "logs" / "luigid-state.pickle"))


def test_start_fails_clearly_when_port_is_taken(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(LuigidError, match="luigid"):
            start_luigid(port=sock.getsockname()[1], logdir=str(tmp_path), startup_timeout=10)


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_two_workers_run_one_graph_once(luigid, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = _root_args(out_dir, 8, 0.3)
    procs = [start_worker("cluster_tasks", "Root", args, luigid.env, scheduler=luigid,
                          log_path=str(tmp_path / "worker{}.log".format(k))) for k in range(2)]
    assert finish_processes(procs) == [0, 0]
    _assert_each_done_once(out_dir, 8, luigid)
    workers = {pid for event, _, pid in read_events(out_dir) if event == "done"}
    assert workers == {str(proc.pid) for proc in procs}, "both workers should have run tasks"
    # the graph is visible through the API as well
    graph = luigid.api("graph")
    assert len(graph) == 9


@pytest.fixture
def patient_luigid(tmp_path, worker_env):
    """A luigid like the ``luigid`` fixture's, but counting a silent worker as gone only after 60 s.

    luigid restored from its state counts a worker as gone when its last request is older
    than ``worker_disconnect_delay``; its tasks are then forgotten for that worker, which
    exits (0) with them unrun. With the fixture's 3 s, a restart (stop, 1.5 s down, start)
    that takes longer on a loaded machine does exactly that: the test would measure the
    machine's load, not Luigi's and Astra's recovery.
    """
    from service_fixtures import LUIGI_TEST_CONFIG

    config = tmp_path / "patient-luigi.cfg"
    config.write_text(LUIGI_TEST_CONFIG.replace("worker_disconnect_delay = 3", "worker_disconnect_delay = 60"))
    assert "worker_disconnect_delay = 60" in config.read_text()
    env = dict(worker_env, LUIGI_CONFIG_PATH=str(config))
    process = start_luigid(state_path=str(tmp_path / "patient" / "state.pickle"), logdir=str(tmp_path / "patient"),
                           env=env)
    try:
        yield process
    finally:
        process.stop()


def test_restart_luigid_mid_run(patient_luigid, tmp_path):
    luigid = patient_luigid
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 8
    args = _root_args(out_dir, n, 0.5)
    procs = [start_worker("cluster_tasks", "Root", args, luigid.env, scheduler=luigid,
                          log_path=str(tmp_path / "worker{}.log".format(k))) for k in range(2)]
    try:
        wait_until(lambda: len(_done_counts(out_dir)) >= 2, 60, "two leaves done")
        assert len(_done_counts(out_dir)) < n, "the run finished before the restart"
        old_pid = luigid.pid
        luigid.restart(downtime=1.5)                # same port, same state path
        assert luigid.pid != old_pid
    finally:
        codes = finish_processes(procs)
    assert codes == [0, 0]
    _assert_each_done_once(out_dir, n, luigid)


def test_sigkill_worker_mid_run_other_worker_takes_over(luigid, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    n = 6
    args = _root_args(out_dir, n, 1.0)
    victim = start_worker("cluster_tasks", "Root", args, luigid.env, scheduler=luigid,
                          log_path=str(tmp_path / "victim.log"))
    survivor = start_worker("cluster_tasks", "Root", args, luigid.env, scheduler=luigid,
                            log_path=str(tmp_path / "survivor.log"))
    try:
        def victim_is_running_a_task():
            events = read_events(out_dir)
            started = {t for e, t, p in events if e == "start" and p == str(victim.pid)}
            finished = {t for e, t, p in events if e == "done" and p == str(victim.pid)}
            return bool(started - finished)
        wait_until(victim_is_running_a_task, 60, "the victim worker starts a task")
        os.killpg(victim.pid, signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        assert survivor.wait(120) == 0
    finally:
        finish_processes([victim, survivor])
    events = read_events(out_dir)
    killed = {t for e, t, p in events if e == "start" and p == str(victim.pid)} - \
             {t for e, t, p in events if e == "done" and p == str(victim.pid)}
    assert len(killed) == 1
    # the task the victim was running was taken over by the survivor
    assert ("done", killed.pop(), str(survivor.pid)) in events
    _assert_each_done_once(out_dir, n, luigid)


def test_shipped_luigid_settings_are_used_without_a_luigi_config(tmp_path, monkeypatch):
    from astra.cluster.luigid import LUIGID_CONFIG_PATH, luigid_environment

    monkeypatch.delenv("LUIGI_CONFIG_PATH", raising=False)
    assert luigid_environment()["LUIGI_CONFIG_PATH"] == LUIGID_CONFIG_PATH
    assert luigid_environment({"LUIGI_CONFIG_PATH": "/x.cfg"})["LUIGI_CONFIG_PATH"] == "/x.cfg"
    import configparser

    parser = configparser.ConfigParser()
    parser.read(LUIGID_CONFIG_PATH)
    assert parser.getboolean("scheduler", "prune_on_get_work")
    assert parser.getfloat("scheduler", "worker_disconnect_delay") + parser.getfloat("scheduler", "retry_delay") < 15


def _running_batches(scheduler):
    """``{task_id: worker id}`` of the batches luigid says are running."""
    return {t: info.get("worker_running") for t, info in scheduler.api("task_list", status="RUNNING").items()}


def _claim_key_of(claims_dir, pid):
    """The key of the claim file in ``claims_dir`` held by ``pid``, or None."""
    import json as _json

    try:
        names = os.listdir(claims_dir)
    except FileNotFoundError:
        return None
    for name in names:
        if not name.endswith(".claim"):
            continue
        try:
            with open(os.path.join(claims_dir, name)) as fp:
                if _json.load(fp)["pid"] == pid:
                    return name[: -len(".claim")]
        except (OSError, ValueError, KeyError):
            continue
    return None


def _claim_pid(claims_dir, key):
    """The pid holding the claim ``key`` (None when there is no claim file)."""
    import json as _json

    try:
        with open(os.path.join(claims_dir, key + ".claim")) as fp:
            return _json.load(fp)["pid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_a_sigkilled_astra_run_workers_batch_is_rerun_by_the_other(tmp_path):
    """Astra's shipped luigid settings, two ``astra run`` workers, one SIGKILLed mid-batch."""
    import sys
    import time

    from astra.tools.synthetic.tree import write_sample_tree
    from claim_tasks import read_computed
    from service_fixtures import service_env as _env

    n = 60
    sas = tmp_path / "sas"
    write_sample_tree(str(sas), n, release="dr13", species="apStar", seed=5, n_visits=1)
    scheduler = start_luigid(logdir=str(tmp_path / "luigid"), env=_env(LUIGI_CONFIG_PATH=""))
    try:
        config = tmp_path / "astra.yml"
        config.write_text(f"scheduler_host: 127.0.0.1\nscheduler_port: {scheduler.port}\n")
        log = tmp_path / "computed.log"
        env_output = os.environ["ASTRA_OUTPUT_DIR"]
        env = _env(ASTRA_CONFIG=str(config), ASTRA_CLAIM_LOG=str(log), ASTRA_CLAIM_SLEEP="0.3",
                   LUIGI_CONFIG_PATH=str(tmp_path / "worker.cfg"))
        (tmp_path / "worker.cfg").write_text("[worker]\nwait_jitter = 0.5\n")
        argv = [os.path.join(os.path.dirname(sys.executable), "astra"), "run", "claim_tasks.LoggedSNR",
                "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(sas), "--max-batch-size", "6"]
        import subprocess

        victim = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        survivor = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
        try:
            def both_run_batches():
                workers = " ".join(w or "" for w in _running_batches(scheduler).values())
                return f"pid={victim.pid})" in workers and f"pid={survivor.pid})" in workers

            wait_until(both_run_batches, 180, "both workers run a batch", interval=0.2)
            # The victim's claim names its batch; after the kill only the file is watched, so
            # nothing but the workers' own requests makes luigid prune (task_list would).
            claims_dir = os.path.join(env_output, "claimtests", "LoggedSNR", "claims")
            wait_until(lambda: _claim_key_of(claims_dir, victim.pid), 60, "the victim holds a claim", interval=0.1)
            key = _claim_key_of(claims_dir, victim.pid)
            batch = next(t for t, w in _running_batches(scheduler).items() if f"pid={victim.pid})" in (w or ""))
            os.killpg(victim.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            victim.wait(10)
            wait_until(lambda: _claim_pid(claims_dir, key) in (survivor.pid, None), 120,
                       "the killed worker's batch runs again", interval=0.1)
            print(f"\nkilled worker's batch running again after {time.monotonic() - killed_at:.1f} s")
            out, _ = survivor.communicate(timeout=300)
        finally:
            finish_processes([victim, survivor])
        assert survivor.returncode == 0, out
        computed = set(read_computed(str(log)))
        assert len(computed) == n
        assert scheduler.task_statuses()[batch] == "DONE"
    finally:
        scheduler.stop()
