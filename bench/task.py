"""A ``@task`` method against a plain loop: rocket's ``snr`` over catalogue apStar spectra.

Workloads (each variant in its own process; the variants take turns, ``--repeat`` times, and
the table gives medians -- the machine is shared and its timing noise is several percent):

* **@task, database on** -- ``list(snr(Star.select()))``: the catalogue query, the method
  over every spectrum (each read with the catalogue's own reader), timing, batched upserts
  and the read-back of ``task_pk``/``created``, into an empty ``rocket_snr`` table;
* **plain loop** -- the same query, the same reader (``row.read_arrays()``), the same values
  (:func:`astra.contrib.rocket.snr_values`), the same rows written with ``executemany`` of a
  plain ``INSERT`` every 1,000 rows, into an empty table;
* **astra run** -- ``astra run snr ApogeeCoaddedSpectrumInApStar`` (through Luigi), for scale;
* **nothing to do** -- with 10^5 catalogue rows that all have an up-to-date result: the
  pending query in-process, and the whole ``astra run snr ...`` command (Python start-up,
  imports, the query) in a fresh process.

* **provenance cost** (with ``--compare PYTHONPATH``, e.g. ``--compare /work/main/python``): the
  ``@task`` variant again with that other checkout of Astra (the code before provenance), in
  turns with ours, for CPU per spectrum; and ``--rows`` results written through each
  checkout's own ``@task`` sink (the same values, no files read), for the results table's
  bytes per row (SQLite ``dbstat``: the table and its indexes, plus ``astra_provenance``).

Usage::

    python bench/task.py            # 10,000 spectra, 3 rounds; 100,000 rows for "nothing to do"
    python bench/task.py --quick    # 1,000 spectra, 1 round; 100,000 rows (under a minute)
    python bench/task.py --work /dev/shm/bench-task-10k   # keep the tree; a second run re-uses it
    python bench/task.py --compare /work/main/python       # provenance: ours against main, same run

Each variant reports wall time and CPU time (user + system of its process and of any child
processes, after the imports): on a shared machine the CPU time is the figure to trust.
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


def _rss_mb():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return max(own, children)


def _fresh_results(db_path):
    with sqlite3.connect(db_path) as connection:
        connection.execute("DROP TABLE IF EXISTS rocket_snr")


def plain_loop():
    """The same rows as the @task, written by hand with executemany."""
    import datetime

    import astra
    from astra.contrib.rocket import RocketSNR, snr_values
    from astra.database import get_database
    from astra.database.migrations import ensure_table
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.pipeline import major_minor

    db = get_database()
    ensure_table(RocketSNR, db=db)
    columns = ["source_pk", "spectrum_pk", "spectrum_mtime", "v_astra", "v_astra_major_minor", "created",
               "modified", "t_elapsed", "tag", "pipeline_flags", "snr", "snr_visits", "n_visits", "n_pixels",
               "result_flags"]
    sql = f"INSERT INTO rocket_snr ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    version, mm = astra.__version__, major_minor()
    batch, n = [], 0

    def write():
        with db.atomic():
            db.cursor().executemany(sql, batch)
        batch.clear()

    for row in Star.select():
        began = time.perf_counter()
        values = snr_values(row.read_arrays())
        flags = 1 if values.get("flag_low_snr") else 0
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat(" ")
        batch.append((row.source_pk, row.spectrum_pk, row.file_mtime, version, mm, now, now,
                      time.perf_counter() - began, "", 0, values.get("snr"), json.dumps(values.get("snr_visits")),
                      values.get("n_visits"), values.get("n_pixels"), flags))
        n += 1
        if len(batch) >= 1000:
            write()
    if batch:
        write()
    return n


def _table_bytes(db_path):
    """``(bytes in pages, bytes of payload)`` of ``rocket_snr`` with its indexes, plus the
    ``astra_provenance`` table and its indexes when it exists (SQLite ``dbstat``)."""
    with sqlite3.connect(db_path) as connection:
        names = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name IN ('rocket_snr', 'astra_provenance')")]
        marks = ", ".join("?" * len(names))
        pages, payload = connection.execute(
            f"SELECT SUM(pgsize), SUM(payload) FROM dbstat WHERE name IN ({marks})", names).fetchone()
    return int(pages or 0), int(payload or 0)


def write_rows(n):
    """``n`` RocketSNR results written through the checkout's own ``@task`` sink (no files read):
    as a run writes them, with the input-file columns filled where the model has them."""
    import random

    from astra.contrib.rocket import RocketSNR, snr

    class Row:  # what the sink needs of a catalogue row
        def __init__(self, pk):
            self.spectrum_pk, self.source_pk, self.file_mtime = pk, pk, 1.7e9 + pk

    rng = random.Random(1)
    fields = RocketSNR._meta.fields
    sink = snr.sink(True, batch_size=1000, write_frequency=60, params={})
    for pk in range(1, n + 1):
        result = RocketSNR.from_spectrum(Row(pk), snr=rng.uniform(5, 200), snr_visits=[rng.uniform(5, 200)] * 3,
                                         n_visits=1, n_pixels=8575)
        result.t_elapsed, result.t_overhead = 1e-3, 1e-5
        if "input_size" in fields:
            result.input_size, result.input_checksum = 380160, rng.getrandbits(32)
        sink.add(result)
    sink.close()
    return n


def _cpu():
    """CPU seconds of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(variant, db_path, sas):
    """Run one variant here; print its wall and CPU seconds, peak RSS and count as JSON.

    The imports (astra, the rocket package, the catalogue model, and the spectrum readers with
    specutils, which the first read would otherwise import: about 1.2 s of CPU) come before the
    clock starts, the same for every variant: the figures are the work over the spectra.
    """
    os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{db_path}"
    if variant in ("task", "loop", "astra-run", "rows"):
        _fresh_results(db_path)
    import astra.cli  # noqa: F401
    import astra.tools.spectrum  # noqa: F401
    from astra.contrib.rocket import RocketSNR, snr
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.tasks.function_query import pending_spectra

    start, cpu_start = time.perf_counter(), _cpu()
    if variant == "task":
        n = len(list(snr(Star.select())))
    elif variant == "loop":
        n = plain_loop()
    elif variant == "astra-run":
        assert astra.cli.main(["run", "snr", "ApogeeCoaddedSpectrumInApStar", "--max-batch-size", "1000"]) == 0
        n = None
    elif variant == "rows":
        n = write_rows(int(os.environ["BENCH_ROWS"]))
    elif variant == "nothing-query":
        n = len(list(pending_spectra(Star, RocketSNR)))
        assert n == 0, n
    else:
        raise SystemExit(f"unknown variant {variant}")
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu_start
    if variant != "nothing-query":  # every variant wrote one row per spectrum
        with sqlite3.connect(db_path) as connection:
            n = connection.execute("SELECT count(*) FROM rocket_snr").fetchone()[0]
    pages, payload = _table_bytes(db_path) if variant in ("task", "rows") else (0, 0)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": _rss_mb(), "n": n, "pages": pages, "payload": payload}))


def _run_child(variant, db_path, sas, pythonpath=None, rows=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if rows:
        env["BENCH_ROWS"] = str(rows)
    result = subprocess.run([sys.executable, __file__, "--child", variant, "--db", db_path, "--sas", sas],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _run_command(db_path):
    """The whole ``astra run snr ...`` with nothing to do, in a fresh process: seconds."""
    env = dict(os.environ, ASTRA_DATABASE_URL=f"sqlite:///{db_path}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "astra.cli", "run", "snr", "ApogeeCoaddedSpectrumInApStar"],
                            capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0 or "nothing to do" not in result.stdout:
        raise RuntimeError(f"astra run failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return {"seconds": seconds, "cpu": cpu, "rss_mb": float("nan"), "n": 0}


def _big_catalogue(db_path, n):
    """``n`` catalogue rows, each with an up-to-date RocketSNR row (no files: nothing is read)."""
    os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{db_path}"
    import astra
    from astra.contrib.rocket import RocketSNR
    from astra.database import get_database
    from astra.database.migrations import ensure_table
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.pipeline import major_minor

    db = get_database()
    Star.ensure_tables(db=db)
    ensure_table(RocketSNR, db=db)
    now = "2026-01-01 00:00:00"
    with db.atomic():
        db.cursor().executemany(
            "INSERT INTO apogee_coadded_spectrum_in_ap_star (spectrum_pk, release, data_model, path, file_size, "
            "file_mtime, flag_bad_file, ingested, modified) VALUES (?, 'dr13', 'apStar', ?, 1000, ?, 0, ?, ?)",
            [(i, f"/nowhere/apStar-{i}.fits", 1.7e9 + i, now, now) for i in range(1, n + 1)],
        )
        db.cursor().executemany(
            "INSERT INTO rocket_snr (spectrum_pk, spectrum_mtime, v_astra, v_astra_major_minor, created, modified, "
            "tag, pipeline_flags, result_flags, snr) VALUES (?, ?, ?, ?, ?, ?, '', 0, 0, 50.0)",
            [(i, 1.7e9 + i, astra.__version__, major_minor(), now, now) for i in range(1, n + 1)],
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 spectra and one round")
    parser.add_argument("-n", type=int, help="number of spectra (files)")
    parser.add_argument("--rows", type=int, default=100_000, help="catalogue rows for 'nothing to do'")
    parser.add_argument("--repeat", type=int, help="rounds of every variant (default 3, 1 with --quick)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the files and databases go (default /dev/shm)")
    parser.add_argument("--work", help="keep the files and databases in this directory, and use them as they are "
                        "if it already holds them (the build of 10,000 files takes minutes)")
    parser.add_argument("--compare", metavar="PYTHONPATH",
                        help="also run the @task variant, and write --rows results, with this other checkout of "
                             "Astra (e.g. /work/main/python): the cost of provenance")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--sas", help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big:
        return _big_catalogue(args.db, args.big)
    if args.child:
        return child(args.child, args.db, args.sas)

    n = args.n or (1_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    keep = args.work is not None
    work = args.work or tempfile.mkdtemp(prefix="astra-bench-task-", dir=args.dir)
    try:
        sas, db_path, big_db = os.path.join(work, "sas"), os.path.join(work, "astra.db"), os.path.join(work, "big.db")
        began = time.perf_counter()
        if not os.path.exists(db_path):  # --work: an existing tree is used as it is
            _build(work, sas, db_path, big_db, n, args.rows)
        print(f"# rocket snr: {n} synthetic apStar files (2 visits) ready in {time.perf_counter() - began:.1f} s "
              f"under {work}; {os.cpu_count()} cores, shared machine (load average {os.getloadavg()[0]:.1f} at the "
              f"start); {repeat} round(s) in turns, medians shown; CPU = user + system of the variant's process "
              f"and its children, after imports")
        variants = ("task", "loop", "astra-run") + (("task-compare",) if args.compare else ())
        runs = {v: [] for v in variants + ("nothing-query", "nothing-command")}
        rows = {"ours": [], "compare": []}
        for _ in range(repeat):  # take turns, so slow spells of the machine hit every variant
            for variant in variants:
                compare = variant == "task-compare"
                runs[variant].append(_run_child("task" if compare else variant, db_path, sas,
                                                pythonpath=args.compare if compare else None))
                if runs[variant][-1]["n"] != n:
                    raise RuntimeError(f"{variant} wrote {runs[variant][-1]['n']} rows, not {n}")
            if args.compare:
                rows["ours"].append(_run_child("rows", db_path, sas, rows=args.rows))
                rows["compare"].append(_run_child("rows", db_path, sas, pythonpath=args.compare, rows=args.rows))
            runs["nothing-query"].append(_run_child("nothing-query", big_db, sas))
            runs["nothing-command"].append(_run_command(big_db))
        wall = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}
        cpu = {v: statistics.median(r["cpu"] for r in rs) for v, rs in runs.items()}
        rss = {v: max(r["rss_mb"] for r in rs) for v, rs in runs.items()}
        header = (f"{'workload':<42}{'N':>7}{'wall s':>9}{'CPU s':>9}{'CPU ms/sp':>10}{'comparison':>15}"
                  f"{'wall s':>9}{'CPU s':>9}{'ratio wall':>11}{'ratio CPU':>10}{'RSS MB':>8}")
        print(header)
        print("-" * len(header))
        for label, variant in (("@task snr in process, database on", "task"),
                               ("astra run snr (Luigi, 1 worker)", "astra-run")):
            print(f"{label:<42}{n:>7}{wall[variant]:>9.2f}{cpu[variant]:>9.2f}{1000 * cpu[variant] / n:>10.3f}"
                  f"{'plain loop':>15}{wall['loop']:>9.2f}{cpu['loop']:>9.2f}{wall['loop'] / wall[variant]:>11.3f}"
                  f"{cpu['loop'] / cpu[variant]:>10.3f}{rss[variant]:>8.0f}")
        print(f"{'plain loop (executemany)':<42}{n:>7}{wall['loop']:>9.2f}{cpu['loop']:>9.2f}"
              f"{1000 * cpu['loop'] / n:>10.3f}{'':>15}{'':>9}{'':>9}{'':>11}{'':>10}{rss['loop']:>8.0f}")
        for label, variant in (("nothing to do: pending query (in process)", "nothing-query"),
                               ("nothing to do: whole astra run command", "nothing-command")):
            print(f"{label:<42}{args.rows:>7}{wall[variant]:>9.3f}{cpu[variant]:>9.3f}{'':>10}{'target <= 1 s':>15}")
        print("(ratio: our throughput relative to the plain loop's, from wall and from CPU time; 1 is equal, "
              "above 1 is faster)")
        if args.compare:
            _print_provenance_cost(n, runs, rows, args)
        for v, rs in runs.items():
            print(f"#   {v}: wall " + " ".join(f"{r['seconds']:.2f}" for r in rs)
                  + "; CPU " + " ".join(f"{r['cpu']:.2f}" for r in rs))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _print_provenance_cost(n, runs, rows, args):
    """The provenance table: CPU per spectrum and bytes per row, ours against ``--compare``."""
    ours = statistics.median(r["cpu"] for r in runs["task"])
    other = statistics.median(r["cpu"] for r in runs["task-compare"])
    print(f"\nprovenance cost against {args.compare} (same run, medians of {len(runs['task'])}):")
    print(f"  @task snr, {n} real-size files: CPU {1000 * ours / n:.3f} ms/spectrum ours, "
          f"{1000 * other / n:.3f} compared: {100 * (ours / other - 1):+.1f}%")
    for label, key in (("files run", "task"), (f"{args.rows} rows", "rows")):
        if key == "task":
            mine, theirs = runs["task"][-1], runs["task-compare"][-1]
            count = n
        else:
            mine, theirs = rows["ours"][-1], rows["compare"][-1]
            count = args.rows
        print(f"  results table, {label}: {mine['pages'] / count:.1f} bytes/row in pages ours, "
              f"{theirs['pages'] / count:.1f} compared ({(mine['pages'] - theirs['pages']) / count:+.1f}); payload "
              f"{mine['payload'] / count:.1f} vs {theirs['payload'] / count:.1f} "
              f"({(mine['payload'] - theirs['payload']) / count:+.1f} bytes/row)")


def _build(work, sas, db_path, big_db, n, rows):
    """Write ``n`` synthetic apStar files, migrate them, and build the "nothing to do" catalogue."""
    from astra.tools.synthetic import write_sample_tree

    os.makedirs(work, exist_ok=True)
    write_sample_tree(sas, n, release="dr13", species="apStar", seed=1, snr=50, n_visits=2)
    env = dict(os.environ, ASTRA_DATABASE_URL=f"sqlite:///{db_path}")
    migrated = subprocess.run([sys.executable, "-m", "astra.cli", "migrate", "--release", "dr13", "--species",
                               "apStar", "--sas-base-dir", sas, "--no-progress"], env=env, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise RuntimeError(f"astra migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}")
    big = subprocess.run([sys.executable, __file__, "--big", str(rows), "--db", big_db], capture_output=True, text=True)
    if big.returncode != 0:
        raise RuntimeError(big.stderr[-3000:])


if __name__ == "__main__":
    main()
