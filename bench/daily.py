"""A day-2 ``astra daily`` over a big catalogue with a few new spectra: what the framework costs.

The catalogue holds N dr13 apStar spectra that all have results of three pipelines (``snr``,
the classifier ``hot_cool`` and its downstream ``continuum_teff``, which fits the "hot" ones);
day 2 brings ``--new`` per cent more files. The day (:func:`astra.daily.run_daily`, in
process, Luigi's local scheduler, SQLite results database) migrates, runs the three pipelines
over what is new and rewrites three products (``astraAllStarRocketSNR``,
``astraAllStarContinuumTeff``, ``mwmAllStar``). Beside it, in the same round, a raw loop
calls the three methods' own generator functions over the same new spectra (reading each file
as the methods do, no database, no Luigi): the methods' own time. The framework's time is the
day's minus the loop's (finding the work: scanning the SAS tree and the "what needs work"
queries; scheduling; writing results; the products). Wall and CPU time (this process and its
children) are both shown; the target is a framework time of at most 10 s.

Set-up, not timed, kept in ``--tree-dir`` for the next run: the day-1 files are a few hundred
synthetic apStar files and sparse copies of them (their headers byte for byte, data blocks as
holes: see ``bench/migrate.py``), ingested by ``astra migrate``; their results are inserted in
bulk (computing them would take hours and is not what is measured). The new files are real
synthetic apStar files. Each round starts from a copy of the day-1 database and a fresh output
directory. Two more rows: ``--dry-run`` before the day (:func:`astra.daily.preview_daily`)
and a second run of the same day (nothing to do).

Usage::

    python bench/daily.py                  # N = 100,000, 1% new, 3 rounds
    python bench/daily.py --n 10000        # what fits a busy machine
    python bench/daily.py --quick          # N = 5,000, 1 round, under a minute after set-up
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from migrate import make_tree  # noqa: E402  (the sparse day-1 tree: bench/migrate.py)

DAY2 = datetime.date(2026, 12, 2)

PLAN = """
migrate:
  - {{release: dr13, species: apStar, sas_base_dir: {root}}}
pipelines:
  snr: {{task: snr, inputs: [ApogeeCoaddedSpectrumInApStar]}}
  hot_cool: {{task: hot_cool, inputs: [ApogeeCoaddedSpectrumInApStar]}}
  continuum_teff: {{task: continuum_teff, inputs: [ApogeeCoaddedSpectrumInApStar]}}
products:
  astraAllStarRocketSNR: {{}}
  astraAllStarContinuumTeff: {{}}
  mwmAllStar: {{}}
"""


def cpu():
    """CPU seconds of this process and its waited-for children."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def use(db_path, output_dir):
    """Point Astra at ``db_path`` and ``output_dir`` (a fresh connection)."""
    import astra.config
    import astra.database

    astra.database.reset()
    astra.database.forget_tables()
    os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["ASTRA_OUTPUT_DIR"] = output_dir
    astra.config.reload()
    return astra.database.connect()


def _results_rows(model, spectra, now, values):
    import astra
    from astra.models.pipeline import major_minor

    for pk, source, mtime in spectra:
        yield {"spectrum_pk": pk, "source_pk": source, "spectrum_mtime": mtime, "v_astra": astra.__version__,
               "v_astra_major_minor": major_minor(), "created": now, "modified": now, "t_elapsed": 0.01,
               **(values(pk) if callable(values) else values)}


def day1(work, root, n_old, db_path):
    """The day-1 database: ``n_old`` files migrated, every spectrum with its three results."""
    marker = db_path + ".complete"
    if os.path.exists(marker):
        return
    from astra.contrib.classify import ContinuumTeff, HotCool
    from astra.contrib.rocket import RocketSNR
    from astra.database import write_transaction
    from astra.database.migrations import ensure_table
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.migrate import migrate_files

    if os.path.exists(db_path):
        os.unlink(db_path)
    db = use(db_path, os.path.join(work, "day1-output"))
    began = time.perf_counter()
    summary = migrate_files("dr13", "apStar", sas_base_dir=root, workers=os.cpu_count(), db=db)
    print(f"day 1: {summary} in {time.perf_counter() - began:.0f} s", flush=True)
    spectra = list(Star.select(Star.spectrum_pk, Star.source, Star.file_mtime).tuples())
    now = datetime.datetime(2026, 12, 1, 6, 0, 0)
    later = now + datetime.timedelta(seconds=1)  # a downstream result newer than its upstream
    hot = {pk for pk, _, _ in spectra if pk % 3 == 0}
    for model in (RocketSNR, HotCool, ContinuumTeff):
        ensure_table(model, db=db)
    tables = [
        (RocketSNR, _results_rows(RocketSNR, spectra, now, {"snr": 50.0, "n_visits": 2, "n_pixels": 8000})),
        (HotCool, _results_rows(HotCool, spectra, now, lambda pk: {"classification": "hot" if pk in hot else "cool",
                                                                  "ratio": 1.3 if pk in hot else 1.1})),
        (ContinuumTeff, _results_rows(ContinuumTeff, [s for s in spectra if s[0] in hot], later, {"teff": 6000.0})),
    ]
    for model, rows in tables:
        rows = list(rows)
        with write_transaction(db):
            for start in range(0, len(rows), 2000):
                model.insert_many(rows[start:start + 2000]).execute()
    import astra.database

    astra.database.reset()
    open(marker, "w").close()


def new_files(root, n_new):
    """``n_new`` real synthetic apStar files, the day-2 arrivals (written once, kept)."""
    marker = os.path.join(root, f".new-{n_new}")
    listing = marker + ".json"
    if os.path.exists(marker):
        return json.load(open(listing))
    from astra.tools import synthetic

    print(f"writing {n_new} new synthetic apStar files ...", flush=True)
    tree = synthetic.write_sample_tree(root, n_new, release="dr13", species="apStar", seed=99)
    json.dump(tree.paths, open(listing, "w"))
    open(marker, "w").close()
    return tree.paths


class _Upstream(dict):
    """``classes[spectrum]`` for a raw call of ``continuum_teff``: the HotCool row of each spectrum."""

    def __getitem__(self, spectrum):
        return dict.__getitem__(self, spectrum.spectrum_pk)


def raw_loop(new_pks):
    """The three methods' own generator functions over the new spectra: no database writes, no Luigi."""
    from astra.contrib.classify import hot_cool, continuum_teff
    from astra.contrib.rocket import snr
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    spectra = list(Star.select().where(Star.spectrum_pk.in_(new_pks)))
    began, cpu0 = time.perf_counter(), cpu()
    list(snr.function(spectra))
    classes = list(hot_cool.function(spectra))
    hot = _Upstream({r.spectrum_pk: r for r in classes if r.classification == "hot"})
    list(continuum_teff.function([s for s in spectra if s.spectrum_pk in hot], hot))
    return time.perf_counter() - began, cpu() - cpu0


def method_time(since):
    """Seconds the methods spent on the results written since ``since`` (t_elapsed + t_overhead)."""
    from astra.contrib.classify import ContinuumTeff, HotCool
    from astra.contrib.rocket import RocketSNR

    total = 0.0
    for model in (RocketSNR, HotCool, ContinuumTeff):
        for elapsed, overhead in model.select(model.t_elapsed, model.t_overhead).where(model.modified >= since).tuples():
            total += (elapsed or 0) + (overhead or 0)
    return total


def copy_database(source, target):
    """A consistent copy of a SQLite database (its write-ahead log included)."""
    import sqlite3

    if os.path.exists(target):
        os.unlink(target)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _command(plan_path):
    """The day as the ``astra daily`` command in a child process (imports included)."""
    import subprocess

    astra_bin = os.path.join(os.path.dirname(sys.executable), "astra")
    done = subprocess.run([astra_bin, "daily", plan_path, "--date", DAY2.isoformat()], capture_output=True, text=True)
    if done.returncode:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit("astra daily failed; see above")
    return done.stdout


def one_round(work, plan_path, day1_db, number, command=False):
    from astra.daily import load_plan, preview_daily, run_daily
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    db_path = os.path.join(work, f"round-{number}.db")
    copy_database(day1_db, db_path)
    output = os.path.join(work, f"round-{number}-output")
    shutil.rmtree(output, ignore_errors=True)
    use(db_path, output)
    n_before = Star.select().count()
    since = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    began, cpu0 = time.perf_counter(), cpu()
    if command:
        import astra.database

        astra.database.reset()
        text = _command(plan_path)
        wall, cpu_s = time.perf_counter() - began, cpu() - cpu0
        use(db_path, output)
        os.unlink(db_path)
        shutil.rmtree(output, ignore_errors=True)
        return {"wall": wall, "cpu": cpu_s, "text": text}
    preview_daily(load_plan(plan_path), DAY2)
    dry_wall, dry_cpu = time.perf_counter() - began, cpu() - cpu0
    began, cpu0 = time.perf_counter(), cpu()
    summary = run_daily(load_plan(plan_path), DAY2)
    wall, cpu_s = time.perf_counter() - began, cpu() - cpu0
    again_began, again_cpu0 = time.perf_counter(), cpu()
    if not run_daily(load_plan(plan_path), DAY2).nothing_to_do:
        raise SystemExit("a second run of the same day did something")
    again_wall, again_cpu = time.perf_counter() - again_began, cpu() - again_cpu0
    if summary.exit_code:
        print(summary, file=sys.stderr)
        raise SystemExit("the day failed; see above")
    steps = {o.step.name: o.record for o in summary.outcomes}
    new_pks = [pk for (pk,) in Star.select(Star.spectrum_pk).where(Star.spectrum_pk > n_before).tuples()]
    methods = method_time(since)
    raw_wall, raw_cpu = raw_loop(new_pks)
    os.unlink(db_path)
    shutil.rmtree(output, ignore_errors=True)
    return {"wall": wall, "cpu": cpu_s, "raw_wall": raw_wall, "raw_cpu": raw_cpu, "methods": methods,
            "dry_wall": dry_wall, "dry_cpu": dry_cpu, "again_wall": again_wall, "again_cpu": again_cpu,
            "new": len(new_pks), "steps": {k: (v["seconds"], v["cpu_seconds"]) for k, v in steps.items()},
            "text": str(summary)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 5,000 and one round")
    parser.add_argument("--n", type=int, help="spectra in the catalogue on day 2 (default 100,000)")
    parser.add_argument("--new", type=float, default=1.0, help="per cent of them new on day 2 (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--written", type=int, default=300, help="day-1 files from the synthetic writer (the rest are copies)")
    parser.add_argument("--tree-dir", default=os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                                                           "astra-bench-daily"))
    args = parser.parse_args()
    n = args.n or (5000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)
    n_new = max(1, round(n * args.new / 100))
    n_old = n - n_new
    work = os.path.join(args.tree_dir, f"{n}-{n_new}")
    root = os.path.join(work, "sas")
    os.makedirs(work, exist_ok=True)
    make_tree(root, n_old, os.cpu_count(), written=min(args.written, n_old))
    day1_db = os.path.join(work, "day1.db")
    # the day-1 database is made before the new files exist, so that they are new on day 2
    if not os.path.exists(day1_db + ".complete"):
        stale = os.path.join(root, f".new-{n_new}")
        if os.path.exists(stale):
            raise SystemExit(f"{work}: new files exist but no day-1 database; remove {work} and run again")
    day1(work, root, n_old, day1_db)
    new_files(root, n_new)
    plan_path = os.path.join(work, "daily.yml")
    with open(plan_path, "w") as fp:
        fp.write(textwrap.dedent(PLAN.format(root=root)))
    import astra.contrib.classify  # noqa: F401  (imports are the command's cost, shown in its own row)
    import astra.contrib.rocket  # noqa: F401
    import astra.daily  # noqa: F401
    import astra.products  # noqa: F401

    results = []
    for number in range(rounds):
        result = one_round(work, plan_path, day1_db, number)
        results.append(result)
        print(f"# round {number + 1}: day {result['wall']:.2f} s (CPU {result['cpu']:.2f}), raw loop "
              f"{result['raw_wall']:.2f} s (CPU {result['raw_cpu']:.2f}), methods' own {result['methods']:.2f} s",
              flush=True)

    whole = one_round(work, plan_path, day1_db, rounds, command=True)

    def med(key):
        return statistics.median(r[key] for r in results)

    load = os.getloadavg()
    print(f"\n# astra daily, day 2: {n:,} apStar spectra in the catalogue, {n_new:,} new ({args.new:g}%); "
          f"3 pipelines, 3 products; SQLite in {args.tree_dir}; {os.cpu_count()} cores (shared machine, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}); {rounds} round(s), medians")
    print(f"{'workload':<44} {'N':>7} {'wall s':>8} {'CPU s':>8}")
    print("-" * 70)
    print(f"{'astra daily, day 2 (in process)':<44} {n:>7} {med('wall'):>8.2f} {med('cpu'):>8.2f}")
    print(f"{'raw loop: the 3 methods over the new':<44} {n_new:>7} {med('raw_wall'):>8.2f} {med('raw_cpu'):>8.2f}")
    print(f"{'framework = day - raw loop (target <= 10 s)':<44} {n:>7} {med('wall') - med('raw_wall'):>8.2f} "
          f"{med('cpu') - med('raw_cpu'):>8.2f}")
    print(f"{'methods own time as recorded (t_elapsed)':<44} {n_new:>7} {med('methods'):>8.2f}")
    print(f"{'whole astra daily command (imports too; 1x)':<44} {n:>7} {whole['wall']:>8.2f} {whole['cpu']:>8.2f}")
    print(f"{'--dry-run before the day (in process)':<44} {n:>7} {med('dry_wall'):>8.2f} {med('dry_cpu'):>8.2f}")
    print(f"{'same day again: nothing to do (in process)':<44} {n:>7} {med('again_wall'):>8.2f} {med('again_cpu'):>8.2f}")
    for name in results[0]["steps"]:
        walls = statistics.median(r["steps"][name][0] for r in results)
        cpus = statistics.median(r["steps"][name][1] for r in results)
        print(f"{'  step ' + name:<44} {'':>7} {walls:>8.2f} {cpus:>8.2f}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    for r in results:
        print("#   day", f"{r['wall']:.2f}", "raw", f"{r['raw_wall']:.2f}", "framework", f"{r['wall'] - r['raw_wall']:.2f}")
    print(textwrap.indent(results[-1]["text"], "# "))


if __name__ == "__main__":
    main()
