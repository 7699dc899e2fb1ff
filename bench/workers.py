"""Workers that scale: ``--workers N`` against a ``multiprocessing.Pool(N)`` doing the same work.

The work: a fixed amount of pure-Python arithmetic per spectrum, calibrated at the start to
about 20 ms of CPU (``bench/workers_methods.py``), over the same N synthetic apStar spectra.
Variants, each in its own process; they take turns ``--repeat`` times and the table gives
medians (the machine is shared: the load average is printed with the figures):

* **@task, --workers W** -- ``astra run workers_methods.busy ApogeeCoaddedSpectrumInApStar
  --workers W --max-batch-size B``: the catalogue query, claims, batches through Luigi,
  results upserted into the results database, the run recorded;
* **class, --workers W** -- ``astra run workers_methods.BusyStar --release dr13 --species
  apStar --workers W``: the files found on disk, batches of the class-style method, a JSON
  output per spectrum;
* **@task, srun --procs 2 per node** -- what ``astra srun workers_methods.busy
  ApogeeCoaddedSpectrumInApStar --procs 2`` runs on one node: two processes of ``astra run ...
  --spectrum-pk-range ... --range-per-process``, one range each (as the ``--job-steps`` script
  writes them, :func:`astra.cluster.spectrum_jobs.job_command`; a job array's two elements run
  one range each the same way), without Slurm's queue around them;
* **Pool(W)** -- the comparison: the keys read from the catalogue, ``Pool(W).map`` of the same
  arithmetic, the values written to a plain table with ``executemany``.

Every process imports what it needs first, says it is ready, and is timed from the moment it
is told to go (for the per-node variant, both processes are told at once) to its last
result: Python's start-up and the imports (about 1.5 s, the same for every variant) are not
in the figures. CPU is user + system time of the process and the children it waited for,
after the go.

Usage::

    python bench/workers.py               # 400 spectra, batches of 50, 3 rounds
    python bench/workers.py --quick       # 200 spectra, batches of 25, 1 round (under a minute)
    python bench/workers.py --srun        # also the whole `astra srun ... --procs 2` through Slurm
                                          # (submission to summary, Slurm's queue included)
"""

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "ApogeeCoaddedSpectrumInApStar"


def _cpu():
    """CPU seconds of this process and its waited-for children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _env(work, loops):
    path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, ASTRA_DATABASE_URL=f"sqlite:///{work}/astra.db",
                ASTRA_OUTPUT_DIR=os.path.join(work, "out"), SAS_BASE_DIR=os.path.join(work, "sas"),
                ASTRA_BENCH_LOOPS=str(loops))


# --------------------------------------------------------------------------- in the child

def _pool(workers):
    """The comparison: the catalogue's keys, Pool(workers).map of the arithmetic, one executemany."""
    import multiprocessing

    from workers_methods import burn

    db = os.environ["ASTRA_DATABASE_URL"][len("sqlite:///"):]
    with sqlite3.connect(db) as connection:
        keys = [row[0] for row in connection.execute(
            "SELECT spectrum_pk FROM apogee_coadded_spectrum_in_ap_star ORDER BY spectrum_pk")]
    with multiprocessing.Pool(workers) as pool:
        values = pool.map(burn, keys)
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS pool_result (spectrum_pk INTEGER PRIMARY KEY, value REAL)")
        connection.executemany("INSERT OR REPLACE INTO pool_result VALUES (?, ?)", zip(keys, values))
    return len(values)


def child(variant, workers, batch, ranges):
    """Import, say ready, wait for the go on stdin, run ``variant``; print CPU seconds as JSON."""
    import astra.cli
    import astra.tools.spectrum  # noqa: F401  (the same imports for every variant)
    import workers_methods  # noqa: F401

    print("ready", flush=True)
    sys.stdin.readline()
    cpu_start = _cpu()
    if variant == "pool":
        _pool(workers)
    elif variant == "task":
        argv = ["run", "workers_methods.busy", MODEL, "--workers", str(workers), "--max-batch-size", str(batch)]
        if ranges:  # one process of a node of astra srun --procs
            for lo, hi in ranges:
                argv += ["--spectrum-pk-range", str(lo), str(hi)]
            argv += ["--range-per-process"]
        code = astra.cli.main(argv)
        if code != 0:
            raise SystemExit(f"astra {' '.join(argv)} exited {code}")
    elif variant == "class":
        argv = ["run", "workers_methods.BusyStar", "--release", "dr13", "--species", "apStar",
                "--workers", str(workers), "--max-batch-size", str(batch)]
        code = astra.cli.main(argv)
        if code != 0:
            raise SystemExit(f"astra {' '.join(argv)} exited {code}")
    else:
        raise SystemExit(f"unknown variant {variant}")
    import multiprocessing

    multiprocessing.active_children()  # reaps Luigi's finished task processes: their CPU counts
    print(json.dumps({"cpu": _cpu() - cpu_start}), flush=True)


# --------------------------------------------------------------------------- in the parent

def _clear(work):
    with sqlite3.connect(os.path.join(work, "astra.db")) as connection:
        connection.execute("DROP TABLE IF EXISTS busy_result")
        connection.execute("DROP TABLE IF EXISTS pool_result")
    shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)


def _count(work, variant):
    if variant == "class":
        return sum(name.endswith("-busy.json") for _, _, names in os.walk(os.path.join(work, "out")) for name in names)
    table = "pool_result" if variant == "pool" else "busy_result"
    with sqlite3.connect(os.path.join(work, "astra.db")) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def run_variant(work, loops, variant, workers, batch, shares=None):
    """One timed run: ``shares`` (a list of ranges) runs one process per range, told to go at once.

    :returns: dict of wall and CPU seconds.
    """
    _clear(work)
    env = _env(work, loops)
    processes = []
    for index in range(len(shares) if shares else 1):
        argv = [sys.executable, __file__, "--child", variant, "--workers", str(workers), "--batch", str(batch)]
        if shares:
            argv += ["--ranges", json.dumps(shares)]
        processes.append(subprocess.Popen(argv, env=dict(env, ASTRA_SHARE_INDEX=str(index)), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{variant} did not start: {line}{process.stderr.read()[-3000:]}")
    start = time.perf_counter()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    cpu, ends = 0.0, []
    for process in processes:
        out = process.stdout.read()
        ends.append(time.perf_counter())
        err = process.stderr.read()
        if process.wait() != 0:
            raise RuntimeError(f"{variant} --workers {workers} failed:\n{out[-2000:]}\n{err[-3000:]}")
        cpu += json.loads(out.strip().splitlines()[-1])["cpu"]
    return {"wall": max(ends) - start, "cpu": cpu, "n": _count(work, variant)}


def run_srun(work, loops, batch, procs):
    """The whole ``astra srun workers_methods.busy <Model> --procs P``: submission to summary (wall s)."""
    _clear(work)
    env = _env(work, loops)
    argv = [sys.executable, "-m", "astra.cli", "srun", "workers_methods.busy", MODEL, "--procs", str(procs),
            "--max-batch-size", str(batch), "--poll-interval", "0.2", "--jobs-dir", os.path.join(work, "jobs")]
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"astra srun failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return {"wall": wall, "cpu": float("nan"), "n": _count(work, "task")}


def calibrate(target=0.020):
    """Loop iterations of :func:`workers_methods.burn` that take ``target`` s of CPU (best of 5)."""
    sys.path.insert(0, HERE)
    from workers_methods import burn

    loops = 100_000
    best = min(_timed_burn(burn, loops) for _ in range(5))
    return max(1000, int(loops * target / best))


def _timed_burn(burn, loops):
    start = time.process_time()
    burn(1, loops)
    return time.process_time() - start


def build(work, n):
    """``n`` synthetic apStar files (one visit each) and their catalogue rows."""
    env = _env(work, 1000)
    os.makedirs(work, exist_ok=True)
    code = (f"from astra.tools.synthetic import write_sample_tree\n"
            f"write_sample_tree({os.path.join(work, 'sas')!r}, {n}, release='dr13', species='apStar', seed=1)\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    migrated = subprocess.run([sys.executable, "-m", "astra.cli", "migrate", "--release", "dr13", "--species", "apStar",
                               "--no-progress"], env=env, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise RuntimeError(f"astra migrate failed:\n{migrated.stdout[-2000:]}\n{migrated.stderr[-3000:]}")


def _shares(work, procs):
    """The ``(lo, hi)`` ranges ``astra srun --procs`` gives each process of a node."""
    env = _env(work, 1000)
    code = ("import json\n"
            "from astra.tasks.function_runner import pending_keys\n"
            "from astra.tasks.function_runner import load_task_function\n"
            "from astra.cluster.shares import split_spectrum_pks\n"
            f"model, keys = pending_keys(load_task_function('workers_methods.busy'), {MODEL!r})\n"
            f"print(json.dumps([(s.lo, s.hi) for s in split_spectrum_pks(keys, {procs})]))\n")
    _clear(work)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 spectra, batches of 25, one round")
    parser.add_argument("-n", type=int, help="spectra (default 400)")
    parser.add_argument("--batch", type=int, help="--max-batch-size (default 50)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--repeat", type=int, help="rounds (default 3, 1 with --quick)")
    parser.add_argument("--ms", type=float, default=20.0, help="CPU milliseconds per spectrum (default 20)")
    parser.add_argument("--only", nargs="+", choices=("task", "class", "procs", "pool"),
                        help="only these variants (Pool is always measured)")
    parser.add_argument("--srun", action="store_true", help="also the whole astra srun --procs 2 through Slurm")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the files and the database go (default /dev/shm)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ranges", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, HERE)
        return child(args.child, args.workers[0], args.batch, json.loads(args.ranges) if args.ranges else None)

    n = args.n or (200 if args.quick else 400)
    batch = args.batch or (25 if args.quick else 50)
    repeat = args.repeat or (1 if args.quick else 3)
    only = set(args.only or ("task", "class", "procs")) | {"pool"}
    work = tempfile.mkdtemp(prefix="astra-bench-workers-", dir=args.dir)
    try:
        loops = calibrate(args.ms / 1000)
        began = time.perf_counter()
        build(work, n)
        shares = _shares(work, 2)
        load_before = os.getloadavg()
        print(f"# workers: {n} synthetic apStar spectra, batches of {batch}, {args.ms:g} ms of CPU each "
              f"({loops} loops; files and SQLite under {work}, ready in {time.perf_counter() - began:.1f} s); "
              f"{os.cpu_count()} cores, shared machine; {repeat} round(s) in turns, medians; timed from the go "
              f"(after imports) to the last result")
        plan = []
        for workers in args.workers:
            plan.append(("pool", workers, None))
            if "task" in only:
                plan.append(("task", workers, None))
            if "class" in only:
                plan.append(("class", workers, None))
        if "procs" in only:
            plan.append(("procs", 1, shares))
        runs = {(v, w): [] for v, w, _ in plan}
        if args.srun:
            runs[("srun", 2)] = []
        for _ in range(repeat):  # take turns, so slow spells of the machine hit every variant
            for variant, workers, ranges in plan:
                result = run_variant(work, loops, "task" if variant == "procs" else variant, workers, batch, ranges)
                if result["n"] != n:
                    raise RuntimeError(f"{variant} --workers {workers} wrote {result['n']} results, not {n}")
                runs[(variant, workers)].append(result)
            if args.srun:
                runs[("srun", 2)].append(run_srun(work, loops, batch, 2))
        load_after = os.getloadavg()
        _table(runs, n, args.workers)
        print(f"# load average (1, 5, 15 min): before {', '.join(f'{x:.1f}' for x in load_before)}; "
              f"after {', '.join(f'{x:.1f}' for x in load_after)}")
        for (variant, workers), results in runs.items():
            print(f"#   {variant} {workers}: wall " + " ".join(f"{r['wall']:.2f}" for r in results)
                  + "; CPU " + " ".join(f"{r['cpu']:.2f}" for r in results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


LABELS = {
    "task": "@task, astra run --workers {w}",
    "class": "class, astra run --workers {w}",
    "procs": "@task, srun --procs 2 (one node)",
    "srun": "@task, astra srun --procs 2 (Slurm)",
    "pool": "multiprocessing.Pool({w})",
}


def _table(runs, n, worker_counts):
    wall = {k: statistics.median(r["wall"] for r in rs) for k, rs in runs.items() if rs}
    cpu = {k: statistics.median(r["cpu"] for r in rs) for k, rs in runs.items() if rs}
    header = (f"{'workload':<38}{'N':>6}{'wall s':>9}{'CPU s':>8}{'vs Pool(W)':>12}{'speed-up':>10}"
              f"{'Pool wall s':>13}")
    print(header)
    print("-" * len(header))
    for (variant, workers), seconds in wall.items():
        w = 2 if variant in ("procs", "srun") else workers
        pool = wall.get(("pool", w))
        ratio = f"{seconds / pool:.2f}" if pool and variant != "pool" else ""
        one = wall.get(("task" if variant in ("procs", "srun") else variant, 1))
        speedup = f"{one / seconds:.2f}x" if one and w != 1 else ""
        print(f"{LABELS[variant].format(w=w):<38}{n:>6}{seconds:>9.2f}{cpu[(variant, workers)]:>8.2f}{ratio:>12}"
              f"{speedup:>10}{(pool or float('nan')):>13.2f}")
    print("(vs Pool(W): our wall time over the Pool's with as many processes, target <= 1.25; speed-up: "
          "over the same style with --workers 1, target >= 1.7 at 2)")


if __name__ == "__main__":
    main()
