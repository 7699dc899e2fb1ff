"""How soon luigid runs a SIGKILLed worker's batch again: Astra's luigid settings vs others.

For each luigid configuration: start a real luigid, two ``astra run`` workers over the same
synthetic spectra (300 spectra in batches of 6, 0.3 s per spectrum), wait until both run a batch, SIGKILL
one (its whole process group), and time until luigid shows that batch running in the other
worker (or done). Configurations:

* Astra's shipped ``astra/etc/luigid.cfg`` (``prune_on_get_work``, ``worker_disconnect_delay
  = 5``, ``retry_delay = 2``);
* ``worker_disconnect_delay = 10``, ``retry_delay = 5`` without ``prune_on_get_work`` (the
  settings of the report that found about 70 s);
* Luigi's defaults (60 s and 900 s: only with ``--all``, it takes a quarter of an hour).

Usage::

    python bench/dead_worker.py            # shipped and 10/5
    python bench/dead_worker.py --quick    # shipped only
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")

#: Spectra (batches of 6): enough that the other worker is still busy a minute after the kill.
N_SPECTRA = 300

CONFIGS = {
    "astra shipped luigid.cfg": None,
    "disconnect 10 s, retry 5 s": "[scheduler]\nworker_disconnect_delay = 10\nretry_delay = 5\n",
    "luigi defaults": "[scheduler]\n",
}


def _claim_key_of(claims_dir, pid):
    """The key of the claim file in ``claims_dir`` held by ``pid``, or None."""
    try:
        names = os.listdir(claims_dir)
    except FileNotFoundError:
        return None
    for name in names:
        if not name.endswith(".claim"):
            continue
        try:
            with open(os.path.join(claims_dir, name)) as fp:
                if json.load(fp)["pid"] == pid:
                    return name[: -len(".claim")]
        except (OSError, ValueError, KeyError):
            continue
    return None


def _claim_pid(claims_dir, key):
    """The pid holding the claim ``key`` (None when there is no claim file)."""
    try:
        with open(os.path.join(claims_dir, key + ".claim")) as fp:
            return json.load(fp)["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _running(scheduler):
    return {t: i.get("worker_running") or "" for t, i in scheduler.api("task_list", status="RUNNING").items()}


def _wait(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def measure(label, text, sas, base, timeout):
    """Seconds from the SIGKILL until the killed worker's batch runs again (or None)."""
    from astra.cluster.luigid import start_luigid

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (TESTS, os.environ.get("PYTHONPATH")) if p))
    luigid_env = dict(env, LUIGI_CONFIG_PATH="")
    if text is not None:
        path = os.path.join(base, "luigid.cfg")
        with open(path, "w") as fp:
            fp.write(text)
        luigid_env["LUIGI_CONFIG_PATH"] = path
    scheduler = start_luigid(logdir=os.path.join(base, "luigid"), env=luigid_env)
    procs = []
    try:
        config = os.path.join(base, "astra.yml")
        with open(config, "w") as fp:
            fp.write(f"scheduler_host: 127.0.0.1\nscheduler_port: {scheduler.port}\noutput_fsync: none\n")
        worker_cfg = os.path.join(base, "worker.cfg")
        with open(worker_cfg, "w") as fp:
            fp.write("[worker]\nwait_jitter = 0.5\n")
        env.update(ASTRA_CONFIG=config, ASTRA_OUTPUT_DIR=os.path.join(base, "out"), ASTRA_CLAIM_SLEEP="0.3",
                   LUIGI_CONFIG_PATH=worker_cfg)
        argv = [os.path.join(os.path.dirname(sys.executable), "astra"), "run", "claim_tasks.LoggedSNR",
                "--release", "dr13", "--species", "apStar", "--sas-base-dir", sas, "--max-batch-size", "6"]
        procs = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True) for _ in range(2)]
        victim, survivor = procs

        def both():
            workers = " ".join(_running(scheduler).values())
            return f"pid={victim.pid})" in workers and f"pid={survivor.pid})" in workers

        if not _wait(both, 300):
            return None
        # Watch the victim's claim file, not luigid: task_list requests make luigid prune.
        claims_dir = os.path.join(base, "out", "claimtests", "LoggedSNR", "claims")
        if not _wait(lambda: _claim_key_of(claims_dir, victim.pid), 60, interval=0.05):
            return None
        key = _claim_key_of(claims_dir, victim.pid)
        os.killpg(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        victim.wait()
        # The other worker takes the batch only while it is alive and asking for work: if it
        # finished its own batches and left first, nobody runs the dead worker's batch.
        again = _wait(lambda: _claim_pid(claims_dir, key) in (survivor.pid, None) or survivor.poll() is not None,
                      timeout, interval=0.05)
        if survivor.poll() is not None and _claim_pid(claims_dir, key) not in (survivor.pid, None):
            return "not rerun: the other worker left"
        return time.monotonic() - killed if again else None
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        scheduler.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Astra's shipped settings only")
    parser.add_argument("--all", action="store_true", help="also Luigi's defaults (slow)")
    args = parser.parse_args(argv)
    from astra.tools.synthetic.tree import write_sample_tree

    labels = ["astra shipped luigid.cfg"] if args.quick else list(CONFIGS)[: 3 if args.all else 2]
    root = tempfile.mkdtemp(prefix="astra-bench-dead-worker-")
    try:
        sas = os.path.join(root, "sas")
        write_sample_tree(sas, N_SPECTRA, release="dr13", species="apStar", seed=9, n_visits=1)
        print(f"# dead worker under luigid: {os.cpu_count()} cores, 2 astra run workers, batches of 6 x 0.3 s")
        print(f"{'workload':<32}{'N':>5}{'s to rerun':>36}{'peak RSS MB':>13}")
        print("-" * 86)
        for label in labels:
            base = tempfile.mkdtemp(dir=root)
            seconds = measure(label, CONFIGS[label], sas, base, timeout=600)
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            shown = f"{seconds:.1f}" if isinstance(seconds, float) else (seconds or "not rerun")
            print(f"{label:<32}{N_SPECTRA:>5}{shown:>36}{rss:>13.0f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
