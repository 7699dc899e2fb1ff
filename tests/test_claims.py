"""Claims: concurrent runs share batches; a dead claimant's batch is taken over at once.

Real processes, real signals, file claims and database claims on SQLite and PostgreSQL.
"""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import astra.config
from astra.claims import Claim, ClaimRecord, DatabaseClaimStore, FileClaimStore, store_from_spec
from astra.processes import ProcessIdentity, this_process
from astra.targets import TEMPORARY_MARKER
from service_fixtures import wait_until
from service_fixtures import service_env as _tests_env
from claim_tasks import read_computed

HOLD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import astra.config
    from astra.claims import Claim, store_from_spec
    claim = Claim(store_from_spec(sys.argv[1]), sys.argv[2], "held by a test process")
    print("held" if claim.acquire() else "not held", flush=True)
    time.sleep(120)
    """
)


def _hold_in_child(spec, key, env=None):
    """A real process holding the claim of ``key`` (with its heartbeat thread)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, spec, key], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(params=["file", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path, monkeypatch):
    """A file store, or the database store on SQLite and on PostgreSQL."""
    if request.param == "file":
        return FileClaimStore(tmp_path / "claims")
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    monkeypatch.setenv("ASTRA_DATABASE_URL", url)
    astra.config.reload()
    return DatabaseClaimStore()


def test_a_live_claim_keeps_others_out_until_released(store):
    first = Claim(store, "k1", "batch one")
    assert first.acquire()
    second = Claim(store, "k1", "batch one")
    second.record = ClaimRecord("k1", "other-token", ProcessIdentity("elsewhere", "b", 1), time.time())
    assert not second.acquire()
    assert second.other.token == first.record.token
    first.release()
    assert second.acquire()
    second.release()
    holder = store.holder("k1")
    assert holder is None or holder.released


def test_a_sigkilled_claimant_on_this_host_is_taken_over_at_once(store, tmp_path):
    env = dict(os.environ)
    proc = _hold_in_child(store.spec, "k2", env=env)
    try:
        claim = Claim(store, "k2", "batch two")
        assert not claim.acquire()
        assert claim.other.owner.pid == proc.pid and claim.other.live()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert claim.acquire()  # no waiting for the heartbeat to expire: the pid is dead
    assert claim.other.owner.pid == proc.pid
    claim.release()


def test_the_heartbeat_keeps_a_claim_live_and_a_silent_one_expires(store, monkeypatch, tmp_path):
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "claims.yml"))
    (tmp_path / "claims.yml").write_text("claim_heartbeat: 0.2\nclaim_expiry: 1.0\n")
    astra.config.reload()
    held = Claim(store, "k3", "batch three")
    assert held.acquire()
    first = store.holder("k3").heartbeat
    time.sleep(1.5)  # longer than the expiry: only the heartbeat keeps it live
    current = store.holder("k3")
    assert current.heartbeat > first and current.live(expiry=1.0)
    # A claim of another host whose heartbeat stopped is stale after the expiry.
    held._stop.set()
    held._thread.join()
    foreign = ClaimRecord("k4", "t", ProcessIdentity("another-host", "x", 4242), time.time() - 5)
    assert not foreign.live(expiry=1.0) and ClaimRecord("k4", "t", foreign.owner, time.time()).live(expiry=1.0)
    held.release()


def test_store_specs_round_trip(tmp_path):
    assert store_from_spec(f"file:{tmp_path}").directory == str(tmp_path)
    assert isinstance(store_from_spec("database"), DatabaseClaimStore)
    with pytest.raises(ValueError, match="unknown claim store"):
        store_from_spec("redis://x")


def test_this_process_is_alive_and_a_dead_pid_is_not():
    me = this_process()
    assert me.alive() is True and me.same_machine()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = ProcessIdentity(me.host, me.boot, proc.pid, None)
    assert dead.alive() is False
    assert ProcessIdentity("another-host", me.boot, 1).alive() is None
    assert ProcessIdentity(me.host, "an-older-boot", me.pid).alive() is False


# ------------------------------------------------------------------ concurrent astra run


def _sample(tmp_path, n):
    from astra.tools.synthetic.tree import write_sample_tree

    sas = tmp_path / "sas"
    write_sample_tree(str(sas), n, release="dr13", species="apStar", seed=3, n_visits=1)
    return sas


def _astra_run(task, sas, log, extra=(), env_extra=None):
    env = _tests_env(**{"ASTRA_CLAIM_LOG": str(log), "ASTRA_CLAIM_SLEEP": "0.01", **(env_extra or {})})
    argv = [os.path.join(os.path.dirname(sys.executable), "astra"), "run", task, "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", str(sas), "--max-batch-size", "20", *extra]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(procs, timeout=300):
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            outputs.append((proc.returncode, out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("outputs", ["files", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_simultaneous_runs_compute_each_spectrum_once(tmp_path, outputs, request):
    n = 200
    sas = _sample(tmp_path, n)
    env_extra = {}
    task = "claim_tasks.LoggedSNR"
    if outputs != "files":
        env_extra["ASTRA_DATABASE_URL"] = request.getfixturevalue(f"{outputs}_url")
        task = "claim_tasks.LoggedSNRToDatabase"
    log = tmp_path / "computed.log"
    results = _finish([_astra_run(task, sas, log, env_extra=env_extra) for _ in range(3)])
    for code, out in results:
        assert code == 0, out
        assert f"{n} spectra done" in out and "0 failed" in out, out
    computed = collections.Counter(read_computed(str(log)))
    assert len(computed) == n  # everything was computed
    twice = sum(c - 1 for c in computed.values())
    assert twice <= n // 100, f"{twice} of {n} spectra computed more than once"
    if outputs == "files":
        # Each run counts as its own only what it computed: the other runs' spectra are done by
        # another run (files written during this run) or already complete (written before it).
        own = []
        for _, out in results:
            match = re.search(r"(\d+) spectra done \((\d+) already complete(?:, (\d+) done by another run)?\)", out)
            done, skipped, others = (int(g or 0) for g in match.groups())
            own.append(done - skipped - others)
        assert sum(own) == sum(computed.values()), results


@pytest.mark.slow
def test_a_killed_run_leaves_a_claim_and_temporary_files_the_next_run_clears(tmp_path):
    n = 40
    sas = _sample(tmp_path, n)
    log = tmp_path / "computed.log"
    proc = _astra_run("claim_tasks.LoggedSNR", sas, log, env_extra={"ASTRA_CLAIM_SLEEP": "0.5"})
    try:
        wait_until(lambda: len(read_computed(str(log))) >= 3, 120, "the first run computes spectra")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    family = os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "claimtests", "LoggedSNR")
    claims = [name for name in os.listdir(os.path.join(family, "claims")) if name.endswith(".claim")]
    assert claims, "the killed run's claim stays behind"
    # A temporary file the killed run left (its name carries the dead pid), and one of a
    # writer that is still alive: only the first may go.
    with open(os.path.join(family, "claims", claims[0])) as fp:
        dead_pid = json.load(fp)["pid"]
    me = this_process()
    out_dir = os.path.dirname(next(
        os.path.join(root, f) for root, _, files in os.walk(family) for f in files if f.endswith("snr.json")
    ))
    dead_tmp = os.path.join(out_dir, f".x-snr.json{TEMPORARY_MARKER}{me.host}-{me.boot[:8]}-{dead_pid}-0")
    live_tmp = os.path.join(out_dir, f".y-snr.json{TEMPORARY_MARKER}{me.host}-{me.boot[:8]}-{os.getpid()}-0")
    for path in (dead_tmp, live_tmp):
        with open(path, "w") as fp:
            fp.write("partial")
    results = _finish([_astra_run("claim_tasks.LoggedSNR", sas, log, env_extra={"ASTRA_CLAIM_SLEEP": "0"})])
    code, out = results[0]
    assert code == 0 and f"{n} spectra done" in out, out
    assert not os.path.exists(dead_tmp) and os.path.exists(live_tmp)
    assert not [n for n in os.listdir(os.path.join(family, "claims")) if n.endswith(".claim")]


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fp:
            return [int(p) for p in fp.read().split()]
    except OSError:
        return []


@pytest.mark.slow
def test_killing_astra_run_kills_its_forked_workers(tmp_path):
    sas = _sample(tmp_path, 40)
    log = tmp_path / "computed.log"
    proc = _astra_run("claim_tasks.LoggedSNR", sas, log, extra=["--workers", "2"],
                      env_extra={"ASTRA_CLAIM_SLEEP": "1"})
    try:
        wait_until(lambda: len(_children(proc.pid)) >= 2 and len(read_computed(str(log))) >= 2, 120,
                   "two forked workers compute spectra")
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as a scheduler or OOM killer would
        proc.communicate()

        def gone():
            return not any(os.path.exists(f"/proc/{w}") and _state(w) != "Z" for w in workers)

        wait_until(gone, 30, f"the workers {workers} of the killed run exit")
        written = len(read_computed(str(log)))
        time.sleep(2)
        assert len(read_computed(str(log))) == written  # nobody writes any more
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as fp:
            stat = fp.read()
        return stat[stat.rfind(")") + 2]
    except OSError:
        return "gone"


def test_claims_can_be_turned_off(tmp_path, monkeypatch):
    import astra
    from batch_tasks import CountingBatch, read_log

    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "c.yml"))
    (tmp_path / "c.yml").write_text("claims: false\n")
    astra.config.reload()
    record = tmp_path / "record.log"
    summary = astra.build([CountingBatch(obj=tuple(range(5)), record_path=str(record))], log_level="ERROR")
    assert summary.done == 5 and len([r for r in read_log(str(record)) if "member" in r]) == 5
    family = os.path.join(os.environ["ASTRA_OUTPUT_DIR"], "batchtests", "CountingBatch")
    assert not os.path.exists(os.path.join(family, "claims"))


@pytest.mark.slow
def test_a_run_counts_what_a_concurrent_run_computed_as_done_by_another_run(tmp_path):
    n = 40
    sas = _sample(tmp_path, n)
    log = tmp_path / "computed.log"
    slow = {"ASTRA_CLAIM_SLEEP": "0.5"}
    first = _astra_run("claim_tasks.LoggedSNR", sas, log, env_extra=slow)  # two batches of 20
    second = None
    try:
        wait_until(lambda: read_computed(str(log)), 120, "the first run computes spectra")
        second = _astra_run("claim_tasks.LoggedSNR", sas, log, env_extra=slow)
        results = _finish([first, second])
    finally:
        _finish([p for p in (first, second) if p is not None])
    with open(log) as fp:
        by_pid = collections.Counter(line.split()[1] for line in fp if line.strip())
    counts = []
    for (code, out), proc in zip(results, (first, second)):
        assert code == 0, out
        match = re.search(r"(\d+) spectra done \((\d+) already complete(?:, (\d+) done by another run)?\), 0 failed", out)
        assert match, out
        done, skipped, others = (int(g or 0) for g in match.groups())
        assert done == n, out
        # What a run counts as its own is exactly what it computed.
        assert done - skipped - others == by_pid[str(proc.pid)], (out, by_pid)
        counts.append((skipped, others))
    # The second run started after the first: everything it computed, the first run saw
    # written during its own run, so it is done by another run, not already complete.
    assert counts[0] == (0, by_pid[str(second.pid)]), (results, by_pid)
    assert by_pid[str(second.pid)] > 0, "the second run computed nothing: the runs did not overlap"


def test_a_new_database_gets_its_claims_table_even_where_an_old_one_was_freed(tmp_path):
    """The table is made once per database object, not once per ``id()``: the id of a database
    that is gone is reused by a new one for another file (seen in the full suite as "no such
    table: astra_claim")."""
    import gc

    import peewee

    from astra.claims import DatabaseClaimStore

    for i in range(40):
        db = peewee.SqliteDatabase(str(tmp_path / f"claims-{i}.db"))
        store = DatabaseClaimStore(db)
        store.ensure_table()
        assert db.table_exists("astra_claim"), f"database {i} has no claims table"
        db.close()
        del store, db
        gc.collect()
