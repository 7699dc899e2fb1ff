"""What an upstream costs the "what needs work" question: a downstream method against a plain one.

The catalogue has N apStar rows; every one has a ``HotCool`` result (half "hot") and every hot
one a ``ContinuumTeff`` result (``astra.contrib.classify``), written straight into SQLite so
that no file is read. Workloads, in one process, taking turns ``--repeat`` times (medians of
wall and CPU time; the machine is shared, so CPU time is the steadier figure):

* **nothing to do** -- ``pending_spectra(Star, continuum_teff)`` (the downstream: the upstream
  condition and the upstream-newer check in the query) against ``pending_spectra(Star,
  hot_cool)`` (a method without upstream, over the same catalogue);
* **1% rewritten** -- the same after 1% of the ``HotCool`` rows got a newer ``modified``
  (as a re-run of the classifier gives them): the downstream query finds exactly the hot ones
  among them;
* **batch complete()** -- ``done_keys`` for one Luigi batch of 1,000 keys (what a batch's
  ``complete()`` asks), downstream against the plain method.

Usage::

    python bench/downstream.py            # 100,000 rows, 3 rounds
    python bench/downstream.py --quick    # 20,000 rows, 1 round
    python bench/downstream.py --database-url postgresql://postgres@127.0.0.1:5432/empty_db
"""

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time


def _build(n):
    import astra
    from astra.contrib.classify import ContinuumTeff, HotCool
    from astra.database import get_database
    from astra.database.migrations import ensure_table
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.pipeline import major_minor

    db = get_database()
    mark = "?" if type(db).__name__.startswith("Sqlite") else "%s"

    def sql(text):
        return text.replace("?", mark)

    Star.ensure_tables(db=db)
    ensure_table(HotCool, db=db)
    ensure_table(ContinuumTeff, db=db)
    first, later = "2026-01-01 00:00:00", "2026-01-01 00:00:01"
    version = (astra.__version__, major_minor())
    with db.atomic():
        db.cursor().executemany(
            sql("INSERT INTO apogee_coadded_spectrum_in_ap_star (spectrum_pk, release, data_model, path, file_size, "
                "file_mtime, flag_bad_file, ingested, modified) VALUES (?, 'dr13', 'apStar', ?, 1000, ?, false, ?, ?)"),
            [(i, f"/nowhere/apStar-{i}.fits", 1.7e9 + i, first, first) for i in range(1, n + 1)],
        )
        db.cursor().executemany(
            sql("INSERT INTO hot_cool (spectrum_pk, spectrum_mtime, v_astra, v_astra_major_minor, created, modified, "
                "tag, pipeline_flags, result_flags, classification) VALUES (?, ?, ?, ?, ?, ?, '', 0, 0, ?)"),
            [(i, 1.7e9 + i, *version, first, first, "hot" if i % 2 else "cool") for i in range(1, n + 1)],
        )
        db.cursor().executemany(
            sql("INSERT INTO continuum_teff (spectrum_pk, spectrum_mtime, v_astra, v_astra_major_minor, created, "
                "modified, tag, pipeline_flags, result_flags, teff) VALUES (?, ?, ?, ?, ?, ?, '', 0, 0, 5000.0)"),
            [(i, 1.7e9 + i, *version, later, later) for i in range(1, n + 1) if i % 2],
        )


def _rewrite_one_percent():
    import datetime

    from astra.contrib.classify import HotCool

    pk = HotCool.spectrum_pk
    HotCool.update(modified=datetime.datetime(2026, 1, 2)).where(pk - (pk / 100) * 100 == 1).execute()


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows and one round")
    parser.add_argument("-n", type=int, help="catalogue rows (default 100,000)")
    parser.add_argument("--repeat", type=int, help="rounds (default 3, 1 with --quick)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the SQLite database goes (default /dev/shm)")
    parser.add_argument("--database-url", help="an empty database to use instead (e.g. PostgreSQL)")
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)
    repeat = args.repeat or (1 if args.quick else 3)
    work = tempfile.mkdtemp(prefix="astra-bench-downstream-", dir=args.dir)
    os.environ["ASTRA_DATABASE_URL"] = args.database_url or f"sqlite:///{os.path.join(work, 'astra.db')}"
    os.environ.setdefault("ASTRA_OUTPUT_DIR", work)
    try:
        from astra.contrib.classify import continuum_teff, hot_cool
        from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
        from astra.tasks.function_query import done_keys, pending_spectra

        began = time.perf_counter()
        _build(n)
        where = "PostgreSQL" if args.database_url else f"SQLite under {args.dir}"
        print(f"# {n} catalogue rows, {n} HotCool rows (half hot), {n // 2} ContinuumTeff rows, {where}, built in {time.perf_counter() - began:.1f} s; {os.cpu_count()} cores (shared machine); "
              f"{repeat} round(s), medians shown")

        def pending(method):
            return lambda: len(pending_spectra(Star, method).select(Star.spectrum_pk).tuples())

        batch = list(range(1, 1001))
        workloads = [
            ("nothing to do: pending query", n, pending(continuum_teff), pending(hot_cool), 0),
            ("batch complete(): done_keys", len(batch), lambda: len(done_keys(Star, continuum_teff, batch)),
             lambda: len(done_keys(Star, hot_cool, batch)), len(batch)),
        ]
        runs = {label: ([], []) for label, *_ in workloads}
        runs["1% rewritten: pending query"] = ([], [])
        for _ in range(repeat):  # take turns
            for label, _count, ours, theirs, expected in workloads:
                a, b = _timed(ours), _timed(theirs)
                assert a[2] == expected and b[2] == expected, (label, a[2], b[2])
                runs[label][0].append(a)
                runs[label][1].append(b)
        _rewrite_one_percent()
        expected = len([i for i in range(1, n + 1) if i % 100 == 1 and i % 2])
        for _ in range(repeat):
            a, b = _timed(pending(continuum_teff)), _timed(pending(hot_cool))
            assert a[2] == expected and b[2] == 0, (a[2], b[2])
            runs["1% rewritten: pending query"][0].append(a)
            runs["1% rewritten: pending query"][1].append(b)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        header = (f"{'workload':<34}{'N':>8}{'ours wall':>11}{'ours CPU':>10}{'comparison':>24}"
                  f"{'wall':>8}{'CPU':>8}{'CPU ratio':>11}{'peak RSS MB':>13}")
        print(header)
        print("-" * len(header))
        counts = {"nothing to do: pending query": n, "batch complete(): done_keys": len(batch),
                  "1% rewritten: pending query": n}
        for label, (ours, theirs) in runs.items():
            ow, oc = statistics.median(r[0] for r in ours), statistics.median(r[1] for r in ours)
            tw, tc = statistics.median(r[0] for r in theirs), statistics.median(r[1] for r in theirs)
            print(f"{label:<34}{counts[label]:>8}{ow:>11.3f}{oc:>10.3f}{'no upstream (hot_cool)':>24}"
                  f"{tw:>8.3f}{tc:>8.3f}{oc / tc if tc else float('nan'):>11.2f}{rss:>13.0f}")
        print("(seconds; ratio: the downstream's CPU time over the plain method's; above 1 is slower)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
