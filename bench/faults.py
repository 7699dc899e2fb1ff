"""Fault suite: what a run leaves behind when things go wrong, in figures.

Each scenario runs real ``astra run`` / ``astra migrate`` processes over N synthetic dr13
apStar spectra (class-style ``claim_tasks.LoggedSNR``, which logs every computation, so a
spectrum computed twice is counted, not guessed), breaks something, lets a last run finish,
and counts:

* **lost** -- spectra without their output (file or row) at the end, or that a summary counted
  as done while their output was missing;
* **partial** -- outputs that do not parse, and temporary files left after the next run;
* **twice** -- computations beyond the first (from the computation log), as a fraction of N;
* **orphans** -- processes of a killed run (its forked workers, migrate's readers) still alive
  5 s after it was killed;
* **summary true** -- the last run's summary says exactly what is on disk (its ``done`` equals
  the outputs that exist), and its exit status matches (0 exactly when all are done). A ``@task``
  run counts only the rows pending when it starts: its ``done`` plus the rows already up to date
  then must equal the outputs that exist.

Scenarios (``--only`` picks some):

* ``sigkill-files`` / ``sigkill-sqlite`` -- ``astra run --workers 2`` SIGKILLed at a random
  moment, again and again, then run to the end (file outputs; rows in SQLite);
* ``concurrent-2`` / ``concurrent-3`` -- K identical runs started at once on one host;
* ``luigid-reuse`` -- a run into another ``ASTRA_OUTPUT_DIR`` right after a first one under the
  same luigid (issue 24 item 1);
* ``luigid-worker-kill`` -- two runs under one luigid, one SIGKILLed mid-batch;
* ``full-disk`` -- outputs on a tmpfs of about 3 KiB per spectrum, which fills (root only);
* ``pg-restart`` -- rows in PostgreSQL, the server restarted mid-run (root, pg_ctlcluster);
* ``migrate-kill`` -- ``astra migrate --workers 2`` SIGKILLed while its readers work, then run again.
* ``task-sigkill-sqlite`` / ``task-sigkill-postgresql`` -- the same kills, for the ``@task`` twin
  ``engine_methods.logged_snr`` (rows in SQLite / PostgreSQL; its catalogue from ``astra migrate``);
* ``task-concurrent-2`` / ``task-concurrent-3`` -- K ``@task`` runs on one host, one PostgreSQL
  database, each started once the one before computes;
* ``two-hosts-class`` / ``two-hosts-task`` -- 2 runs, each with its own ``ASTRA_OUTPUT_DIR`` ("host"),
  sharing only one PostgreSQL database (database claims);
* ``luigid-restart`` -- a run under luigid; luigid restarted (1 s down, same state) mid-run.

Usage::

    python bench/faults.py              # N = 600, 8 kills
    python bench/faults.py --quick      # N = 150, 3 kills (under a minute or two per scenario)
    python bench/faults.py --only luigid-reuse,full-disk --json
"""

import argparse
import collections
import contextlib
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.abspath(os.path.join(HERE, "..", "tests"))
TASK = "claim_tasks.LoggedSNR"
DB_TASK = "claim_tasks.LoggedSNRToDatabase"
METHOD = "engine_methods.logged_snr"  # the @task twin of DB_TASK (tests/engine_methods.py)
MODEL = "ApogeeCoaddedSpectrumInApStar"
SUMMARY = re.compile(r"(\d+) spectra; (\d+) spectra done \((\d+) already complete(?:, (\d+) done by another run)?\), "
                     r"(\d+) failed")
UP_TO_DATE = re.compile(r"nothing to do: (\d+) rows, all up to date")  # a @task run that finds all done


# ----------------------------------------------------------------------------- helpers

def _env(base, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, env.get("PYTHONPATH")) if p)
    env["ASTRA_CLAIM_LOG"] = os.path.join(base, "computed.log")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _config(base, text=""):
    path = os.path.join(base, "astra.yml")
    with open(path, "w") as fp:
        fp.write("output_fsync: none\n" + text)
    return path


def _run_argv(sas, task=TASK, workers=1, extra=()):
    if task == METHOD:  # a @task runs over the catalogue (astra migrate), not over files
        return [sys.executable, "-m", "astra.cli", "run", METHOD, MODEL, "--workers", str(workers),
                "--max-batch-size", "25", *extra]
    return [sys.executable, "-m", "astra.cli", "run", task, "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", sas, "--workers", str(workers), "--max-batch-size", "25", *extra]


def _start(argv, env, log):
    out = open(log, "a")
    try:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        out.close()


def _finish(proc, timeout=900):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def _descendants(pid):
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children") as fp:
                kids = [int(p) for p in fp.read().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as fp:
            state = next(line for line in fp if line.startswith("State:"))
        return "Z" not in state.split()[1]
    except (OSError, StopIteration):
        return False


def _kill_parent(proc):
    """SIGKILL ``proc`` alone; the number of its descendants still alive 5 s later (then killed)."""
    children = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(5)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(left)


def _computed(base):
    path = os.path.join(base, "computed.log")
    if not os.path.exists(path):
        return collections.Counter()
    with open(path) as fp:
        return collections.Counter(line.split()[0] for line in fp if line.strip())


def _outputs(output_dir):
    """(good outputs, partial outputs, temporary files) of LoggedSNR under ``output_dir``."""
    good = partial = 0
    for path in glob.glob(os.path.join(output_dir, "**", "*-snr.json"), recursive=True):
        try:
            with open(path) as fp:
                json.load(fp)
            good += 1
        except (OSError, ValueError):
            partial += 1
    temporary = [p for p in glob.glob(os.path.join(output_dir, "**", "*"), recursive=True)
                 if os.path.isfile(p) and (".tmp" in os.path.basename(p) or os.path.basename(p).startswith(".tmp"))]
    return good, partial, len(temporary)


@contextlib.contextmanager
def _postgresql(name):
    """A fresh database for one scenario on ``$ASTRA_TEST_POSTGRES_URL``'s server (dropped after)."""
    import psycopg2

    server = os.environ.get("ASTRA_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    name = f"astra_faults_{name.replace('-', '_')}_{os.getpid()}"

    def admin(sql):
        conn = psycopg2.connect(server, connect_timeout=5)
        conn.autocommit = True
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()

    admin(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _catalogue(sas, base, url):
    """``astra migrate`` the tree into ``url``: the @task's input rows."""
    log = os.path.join(base, "migrate.log")
    argv = [sys.executable, "-m", "astra.cli", "migrate", "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", sas, "--no-progress"]
    if _finish(_start(argv, _env(base, ASTRA_DATABASE_URL=url), log)) != 0:
        with open(log) as fp:
            raise RuntimeError(f"astra migrate into {url} failed:\n{fp.read()[-2000:]}")


def _rows(url, table="estimatesnrresult", key="task_id"):
    if url.startswith("sqlite:///"):
        import sqlite3

        path = url[len("sqlite:///"):]
        if not os.path.exists(path):
            return 0
        with sqlite3.connect(path) as db:
            try:
                return db.execute(f"SELECT count(DISTINCT {key}) FROM {table}").fetchone()[0]
            except sqlite3.OperationalError:
                return 0
    import psycopg2

    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT {key}) FROM {table}")
        return cursor.fetchone()[0]


def _summary(log_path):
    """(total, done, failed) of the last summary line in a run's log, or None."""
    with open(log_path, errors="replace") as fp:
        text = fp.read()
    matches = SUMMARY.findall(text)
    if not matches:
        done = UP_TO_DATE.findall(text)
        return (int(done[-1]), int(done[-1]), 0) if done else None
    total, done, _, _, failed = matches[-1]
    return int(total), int(done), int(failed)


def _others(log_path):
    """The last summary's "done by another run" (0 when absent): shows that runs met."""
    with open(log_path, errors="replace") as fp:
        matches = SUMMARY.findall(fp.read())
    return int(matches[-1][3] or 0) if matches else 0


def _row(name, n, lost, partial, twice, orphans, summary_true, seconds, note=""):
    return {"scenario": name, "N": n, "lost": lost, "partial": partial, "twice": twice, "orphans": orphans,
            "summary_true": summary_true, "seconds": round(seconds, 1), "note": note}


def _truthful(log_path, rc, present, n):
    summary = _summary(log_path)
    if summary is None:
        return False
    total, done, failed = summary
    # A @task run counts the rows pending when it starts (``total`` < n when some were already up
    # to date, e.g. written by another run); a class-style run counts all n.
    return done + (n - total) == present and (rc == 0) == (done == total and failed == 0)


# ----------------------------------------------------------------------------- scenarios

def _present(task, database, out):
    """(outputs present, partial outputs + temporary files) of ``task``'s run."""
    good, partial, temporary = _outputs(out)
    if task == METHOD:
        return _rows(database, "logged_snr", "spectrum_pk"), partial + temporary
    return (_rows(database) if database else good), partial + temporary


def sigkill(sas, n, base, kills, database=None, task=None, name=None):
    """Kill ``astra run --workers 2`` again and again, then let it finish."""
    task = task or (DB_TASK if database else TASK)
    out = os.path.join(base, "out")
    extra = {"ASTRA_OUTPUT_DIR": out, "ASTRA_CONFIG": _config(base), "ASTRA_CLAIM_SLEEP": 0.05}
    if database:
        extra["ASTRA_DATABASE_URL"] = database
    env = _env(base, **extra)
    started, orphans, rng = time.perf_counter(), 0, random.Random(7)
    if task == METHOD:
        _catalogue(sas, base, database)
    argv = _run_argv(sas, task, workers=2)
    log = os.path.join(base, "run.log")
    for _ in range(kills):
        proc = _start(argv, env, log)
        so_far, deadline = sum(_computed(base).values()), time.monotonic() + 120
        while sum(_computed(base).values()) == so_far and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until it computes: a kill at a random moment of the computing
        time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is None:
            orphans += _kill_parent(proc)
    before = sum(_computed(base).values())
    final = os.path.join(base, "final.log")
    rc = _finish(_start(argv, env, final))
    present, partial = _present(task, database, out)
    computed = _computed(base)
    note = f"{kills} kills ({before} computed before the last run), {sum(computed.values())} computations"
    name = name or "sigkill-" + ("sqlite" if database and database.startswith("sqlite") else "postgresql"
                                 if database else "files")
    return _row(name, n, n - present, partial, 0, orphans, _truthful(final, rc, present, n),
                time.perf_counter() - started, note)


def concurrent(sas, n, base, k, task=TASK, database=None, hosts=1, name=None):
    """K identical runs on one host (one output directory) or on ``hosts`` "hosts" (one output
    directory each, sharing only ``database``): computed twice, and each summary.

    With a database, each run after the first starts once the one before has computed
    something, so they meet mid-run, each finding spectra the others hold."""
    env = _env(base, ASTRA_CONFIG=_config(base), ASTRA_CLAIM_SLEEP=0.05 if database else 0,
               **({"ASTRA_DATABASE_URL": database} if database else {}))
    if task == METHOD:
        _catalogue(sas, base, database)
    started = time.perf_counter()
    logs = [os.path.join(base, f"run{i}.log") for i in range(k)]
    procs = []
    for i, log in enumerate(logs):
        env_i = dict(env, ASTRA_OUTPUT_DIR=os.path.join(base, f"out{i % hosts}"))
        procs.append(_start(_run_argv(sas, task), env_i, log))
        deadline = time.monotonic() + 120
        while (database and i + 1 < k and sum(_computed(base).values()) < 5 * (i + 1)
               and time.monotonic() < deadline and procs[-1].poll() is None):
            time.sleep(0.05)
    codes = [_finish(p) for p in procs]
    present, partial = _present(task, database, os.path.join(base, "out0"))
    computed = _computed(base)
    twice = sum(c - 1 for c in computed.values())
    truthful = all(_truthful(log, rc, present, n) for log, rc in zip(logs, codes))
    others = [_others(log) for log in logs]
    return _row(name or f"concurrent-{k}", n, n - present, partial, twice / n, 0, truthful,
                time.perf_counter() - started, f"exit codes {codes}, done by another run {others}")


def _luigid(base, config_text=None):
    sys.path.insert(0, TESTS)
    from astra.cluster.luigid import start_luigid
    from service_fixtures import LUIGI_TEST_CONFIG

    cfg = os.path.join(base, "luigi.cfg")
    with open(cfg, "w") as fp:  # Luigi's default cooldown: luigid remembers done batches 10 s
        fp.write(config_text or LUIGI_TEST_CONFIG.replace("stable_done_cooldown_secs = 1", "stable_done_cooldown_secs = 10"))
    env = dict(os.environ, LUIGI_CONFIG_PATH=cfg)
    return start_luigid(state_path=os.path.join(base, "ld", "state.pickle"), logdir=os.path.join(base, "ld"), env=env), cfg


def luigid_reuse(sas, n, base):
    """A second run into another output directory right after a first, under one luigid."""
    luigid, cfg = _luigid(base)
    started = time.perf_counter()
    try:
        sched = ["--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port)]
        codes = []
        for name in ("out1", "out2"):
            env = _env(base, ASTRA_OUTPUT_DIR=os.path.join(base, name), ASTRA_CONFIG=_config(base),
                       LUIGI_CONFIG_PATH=cfg)
            codes.append(_finish(_start(_run_argv(sas, extra=sched), env, os.path.join(base, f"{name}.log"))))
    finally:
        luigid.stop()
    good, partial, temporary = _outputs(os.path.join(base, "out2"))
    return _row("luigid-reuse", n, n - good, partial + temporary, 0, 0,
                _truthful(os.path.join(base, "out2.log"), codes[1], good, n), time.perf_counter() - started,
                f"exit codes {codes}")


def luigid_worker_kill(sas, n, base):
    """Two runs under one luigid; one is SIGKILLed mid-batch; the other finishes its batches."""
    luigid, cfg = _luigid(base)
    out = os.path.join(base, "out")
    env = _env(base, ASTRA_OUTPUT_DIR=out, ASTRA_CONFIG=_config(base), LUIGI_CONFIG_PATH=cfg, ASTRA_CLAIM_SLEEP=0.05)
    sched = ["--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port)]
    started = time.perf_counter()
    try:
        victim = _start(_run_argv(sas, extra=sched), env, os.path.join(base, "victim.log"))
        survivor = _start(_run_argv(sas, extra=sched), env, os.path.join(base, "survivor.log"))
        time.sleep(8)
        orphans = _kill_parent(victim) if victim.poll() is None else 0
        rc = _finish(survivor)
    finally:
        luigid.stop()
    good, partial, temporary = _outputs(out)
    twice = sum(c - 1 for c in _computed(base).values())
    return _row("luigid-worker-kill", n, n - good, partial + temporary, twice / n, orphans,
                _truthful(os.path.join(base, "survivor.log"), rc, good, n), time.perf_counter() - started)


def luigid_restart(sas, n, base):
    """A run under luigid; luigid restarted (1 s down, same state file) once a quarter is computed."""
    luigid, cfg = _luigid(base)
    out = os.path.join(base, "out")
    env = _env(base, ASTRA_OUTPUT_DIR=out, ASTRA_CONFIG=_config(base), LUIGI_CONFIG_PATH=cfg, ASTRA_CLAIM_SLEEP=0.05)
    sched = ["--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port)]
    log = os.path.join(base, "run.log")
    started = time.perf_counter()
    try:
        proc = _start(_run_argv(sas, extra=sched), env, log)
        deadline = time.monotonic() + 120
        while sum(_computed(base).values()) < n // 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        restarted = proc.poll() is None
        luigid.restart(downtime=1.0)
        rc = _finish(proc)
    finally:
        luigid.stop()
    good, partial, temporary = _outputs(out)
    twice = sum(c - 1 for c in _computed(base).values())
    return _row("luigid-restart", n, n - good, partial + temporary, twice / n, 0, _truthful(log, rc, good, n),
                time.perf_counter() - started, f"exit code {rc}" + ("" if restarted else "; finished before the restart"))


def full_disk(sas, n, base):
    """Outputs on a small tmpfs: the summary must count exactly what fitted."""
    if os.geteuid() != 0:
        return None
    disk = os.path.join(base, "disk")
    os.makedirs(disk)
    size = max(120, 3 * n)  # KiB: room for about half the outputs
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", disk], check=True)
    started = time.perf_counter()
    try:
        out = os.path.join(disk, "out")
        env = _env(base, ASTRA_OUTPUT_DIR=out, ASTRA_CONFIG=_config(base))
        log = os.path.join(base, "run.log")
        rc = _finish(_start(_run_argv(sas), env, log))
        good, partial, temporary = _outputs(out)
    finally:
        subprocess.run(["umount", "-l", disk], check=False)
    summary = _summary(log)
    with open(log, errors="replace") as fp:
        text = fp.read()
    noise = text.count("Traceback") + text.count("Logging error")
    truthful = (summary is not None and summary[1] == good and summary[1] + summary[2] == n
                and (rc == 0) == (summary[2] == 0) and (summary[2] == 0 or "No space left on device" in text))
    return _row("full-disk", n, 0, partial + temporary, 0, 0, truthful, time.perf_counter() - started,
                f"{good} stored, {n - good} failed (disk full), {noise} tracebacks")


def pg_restart(sas, n, base):
    """Rows in PostgreSQL; the server restarted (about a second) mid-run."""
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if os.geteuid() != 0 or not versions or not shutil.which("pg_ctlcluster"):
        return None
    started = time.perf_counter()
    with _postgresql("pg-restart") as url:
        env = _env(base, ASTRA_OUTPUT_DIR=os.path.join(base, "out"), ASTRA_DATABASE_URL=url,
                   ASTRA_CONFIG=_config(base, "database_write_batch_size: 10\n"), ASTRA_CLAIM_SLEEP=0.03)
        log = os.path.join(base, "run.log")
        proc = _start(_run_argv(sas, DB_TASK), env, log)
        deadline = time.monotonic() + 120
        while sum(_computed(base).values()) < n // 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"], check=True,
                       capture_output=True)
        rc = _finish(proc)
        present = _rows(url)
    return _row("pg-restart", n, n - present, 0, 0, 0, _truthful(log, rc, present, n), time.perf_counter() - started,
                f"exit code {rc}")


MIGRATE_SLOW = """
import sys, time
import astra.models.migrate as m
m.POOL_THRESHOLD = 1
m.READ_CHUNK = 5
real = m.file_row
def slow(*args, **kwargs):
    time.sleep(0.05)
    return real(*args, **kwargs)
m.file_row = slow
from astra.cli import main
sys.exit(main(sys.argv[1:]))
"""


def migrate_kill(sas, n, base):
    """``astra migrate --workers 2`` SIGKILLed mid-way, then run again: rows, duplicates, orphans."""
    url = f"sqlite:///{os.path.join(base, 'catalogue.db')}"
    env = _env(base, ASTRA_DATABASE_URL=url)
    argv = ["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", sas, "--workers", "2",
            "--no-progress"]
    started = time.perf_counter()
    proc = _start([sys.executable, "-c", MIGRATE_SLOW, *argv], env, os.path.join(base, "migrate1.log"))
    deadline = time.monotonic() + 60
    while len(_descendants(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    orphans = _kill_parent(proc)
    log = os.path.join(base, "migrate2.log")
    rc = _finish(_start([sys.executable, "-m", "astra.cli", *argv], env, log))
    import sqlite3

    with sqlite3.connect(url[len("sqlite:///"):]) as db:
        rows, distinct = db.execute("SELECT count(*), count(DISTINCT obj) FROM apogee_coadded_spectrum_in_ap_star").fetchone()
    with open(log) as fp:
        text = fp.read()
    truthful = rc == 0 and f"{n} files:" in text
    return _row("migrate-kill", n, n - distinct, rows - distinct, 0, orphans, truthful, time.perf_counter() - started,
                f"{rows} rows")


SCENARIOS = ("sigkill-files", "sigkill-sqlite", "concurrent-2", "concurrent-3", "luigid-reuse", "luigid-worker-kill",
             "full-disk", "pg-restart", "migrate-kill", "task-sigkill-sqlite", "task-sigkill-postgresql",
             "task-concurrent-2", "task-concurrent-3", "two-hosts-class", "two-hosts-task", "luigid-restart")


def run_scenario(name, sas, n, kills):
    """Run one scenario in a fresh directory; its row (``None`` when it cannot run here)."""
    base = tempfile.mkdtemp(prefix=f"astra-faults-{name}-")
    try:
        if name == "sigkill-files":
            return sigkill(sas, n, base, kills)
        if name == "sigkill-sqlite":
            return sigkill(sas, n, base, kills, database=f"sqlite:///{os.path.join(base, 'results.db')}")
        if name.startswith("concurrent-"):
            return concurrent(sas, n, base, int(name.split("-")[1]))
        if name == "luigid-reuse":
            return luigid_reuse(sas, n, base)
        if name == "luigid-worker-kill":
            return luigid_worker_kill(sas, n, base)
        if name == "full-disk":
            return full_disk(sas, n, base)
        if name == "pg-restart":
            return pg_restart(sas, n, base)
        if name == "migrate-kill":
            return migrate_kill(sas, n, base)
        if name == "task-sigkill-sqlite":
            return sigkill(sas, n, base, kills, f"sqlite:///{os.path.join(base, 'results.db')}", METHOD, name)
        if name == "task-sigkill-postgresql":
            with _postgresql(name) as url:
                return sigkill(sas, n, base, kills, url, METHOD, name)
        if name.startswith("task-concurrent-"):
            with _postgresql(name) as url:
                return concurrent(sas, n, base, int(name.split("-")[2]), METHOD, url, name=name)
        if name.startswith("two-hosts-"):
            with _postgresql(name) as url:
                return concurrent(sas, n, base, 2, METHOD if name.endswith("task") else DB_TASK, url, hosts=2,
                                  name=name)
        if name == "luigid-restart":
            return luigid_restart(sas, n, base)
        raise SystemExit(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def write_tree(n):
    """The synthetic SAS tree of ``n`` dr13 apStar files (written once, kept in the temp dir)."""
    from astra.tools.synthetic.tree import write_sample_tree

    sas = os.path.join(tempfile.gettempdir(), f"astra-faults-sas-{n}")
    if not os.path.exists(os.path.join(sas, ".complete")):
        shutil.rmtree(sas, ignore_errors=True)
        write_sample_tree(sas, n, release="dr13", species="apStar", seed=13, n_visits=1)
        open(os.path.join(sas, ".complete"), "w").close()
    return sas


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 150, 3 kills")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario instead of a table")
    args = parser.parse_args(argv)
    n = args.n or (150 if args.quick else 600)
    kills = args.kills or (3 if args.quick else 8)
    sas = write_tree(n)
    if not args.json:
        print(f"# fault suite: {os.cpu_count()} cores, N = {n} synthetic dr13 apStar, LoggedSNR (EstimateSNR), "
              f"batches of 25")
        print(f"{'scenario':<24}{'N':>6}{'lost':>6}{'partial':>9}{'twice':>8}{'orphans':>9}{'summary':>9}"
              f"{'seconds':>9}  note")
        print("-" * 100)
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        row = run_scenario(name, sas, n, kills)
        if row is None:
            row = _row(name, n, None, None, None, None, None, 0, "skipped: needs root (tmpfs, pg_ctlcluster)")
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(f"{name:<24}{n:>6}{fmt(row['lost'], 'd'):>6}{fmt(row['partial'], 'd'):>9}"
              f"{fmt(row['twice'], '.1%'):>8}{fmt(row['orphans'], 'd'):>9}"
              f"{('yes' if row['summary_true'] else 'NO') if row['summary_true'] is not None else '-':>9}"
              f"{row['seconds']:>9.1f}  {row['note']}", flush=True)


if __name__ == "__main__":
    main()
