"""What ``astra srun <task> <SpectrumModel>`` costs on this machine: the split, and one look while following.

The catalogue has N apStar rows, written straight into the database (no file is read), and a
method without upstream (``median_snr`` of ``tests/task_methods.py``, whose results table is
filled for a fraction of them). Workloads, taking turns ``--repeat`` times (medians of wall and
CPU time; the machine is shared, so CPU time is the steadier figure):

* **split at submission** -- :func:`~astra.tasks.function_runner.pending_keys` once, then
  :func:`~astra.cluster.shares.split_spectrum_pks` into 64 shares and the 64 job
  scripts (:func:`~astra.cluster.spectrum_jobs.plan_jobs`, 8 jobs of 8 processes) -- against
  SDSS Astra's way, one ``LIMIT``/``OFFSET`` query over the pending spectra per share (what its
  64 processes would each run; it is also wrong when results are written in between);
* **one look while following** -- :meth:`~astra.cluster.shares.progress.ShareProgress.poll`
  (one ``GROUP BY`` query of the pending spectra by share, and the keys flagged since the
  submission) with half the spectra done -- against one ``COUNT`` query per share's range
  (64 queries); and the exact count done once at the end (``poll(exact=True)``: the pending
  keys read and kept to those shared out).

Usage::

    python bench/srun.py                     # 100,000 rows on SQLite and PostgreSQL, 3 rounds
    python bench/srun.py --quick             # 20,000 rows, SQLite only, 1 round
    python bench/srun.py --sizes 1000000 --postgres-url postgresql://postgres@127.0.0.1:5432/test
"""

import argparse
import datetime
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # task_methods

SHARES, PER_JOB = 64, 8


def _fill(n):
    from astra.database import get_database
    from astra.database.migrations import ensure_table
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from task_methods import MedianSNR

    db = get_database()
    Star.ensure_tables(db=db)
    ensure_table(MedianSNR, db=db)
    now = datetime.datetime(2026, 1, 1)
    with db.atomic():
        for start in range(1, n + 1, 5000):
            keys = range(start, min(n, start + 4999) + 1)
            Star.insert_many([dict(spectrum_pk=i, release="dr13", data_model="apStar", path=f"/nowhere/{i}.fits",
                                   file_size=1000, file_mtime=1.7e9, flag_bad_file=False, ingested=now,
                                   modified=now) for i in keys]).execute()


def _timed(function):
    cpu, wall = time.process_time(), time.perf_counter()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def _ours_split(directory):
    from astra.cluster.spectrum_jobs import plan_jobs
    from astra.tasks.function_runner import pending_keys
    from task_methods import median_snr

    model, keys = pending_keys(median_snr, "ApogeeCoaddedSpectrumInApStar")
    shares, jobs = plan_jobs(keys, "task_methods.median_snr", model.__name__, ["--workers", "1"],
                             jobs=SHARES // PER_JOB, nodes=1, procs=PER_JOB, output_dir=directory)
    return len(keys), shares


def _limit_offset_split():
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.tasks.function_query import pending_spectra
    from task_methods import median_snr

    total = pending_spectra(Star, median_snr).count()
    size = -(-total // SHARES)
    got = 0
    for index in range(SHARES):
        query = pending_spectra(Star, median_snr).select(Star.spectrum_pk).offset(index * size).limit(size)
        got += len(list(query.tuples()))
    return got


def _ours_poll(progress, exact=False):
    return sum(c.done for c in progress.poll(exact=exact))


def _count_poll(shares):
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.tasks.function_query import pending_spectra
    from task_methods import median_snr

    return sum(pending_spectra(Star, median_snr).where(Star.spectrum_pk.between(s.lo, s.hi)).count() for s in shares)


def run(n, rounds, url, directory):
    import astra.config
    import astra.database
    from astra.cluster.shares.progress import ShareProgress
    from task_methods import MedianSNR, median_snr

    os.environ["ASTRA_DATABASE_URL"] = url
    astra.config.reload()
    astra.database.reset()
    _fill(n)
    rows = []
    results = {"split": ([], []), "limit/offset": ([], []), "poll": ([], []), "count per share": ([], []),
               "exact poll (end)": ([], [])}
    for _ in range(rounds):
        (count, shares), wall, cpu = _timed(lambda: _ours_split(directory))
        results["split"][0].append(wall), results["split"][1].append(cpu)
        got, wall, cpu = _timed(_limit_offset_split)
        assert got == count == n, (got, count, n)
        results["limit/offset"][0].append(wall), results["limit/offset"][1].append(cpu)
    # half of them done, then the looks while following
    import astra as _astra
    from astra.models.pipeline import major_minor

    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with astra.database.get_database().atomic():
        for start in range(1, n + 1, 10000):
            MedianSNR.insert_many([dict(spectrum_pk=i, spectrum_mtime=1.7e9, v_astra=_astra.__version__,
                                        v_astra_major_minor=major_minor(), created=now, modified=now, tag="",
                                        pipeline_flags=0, result_flags=0, snr=10.0)
                                   for i in range(start, min(n, start + 9999) + 1) if i % 2]).execute()
    pairs = [(share, "1") for share in shares if not share.empty]
    progress = ShareProgress(median_snr, "ApogeeCoaddedSpectrumInApStar", pairs, range(1, n + 1), submitted=now)
    for _ in range(rounds):
        done, wall, cpu = _timed(lambda: _ours_poll(progress))
        assert done == (n + 1) // 2, done
        results["poll"][0].append(wall), results["poll"][1].append(cpu)
        left, wall, cpu = _timed(lambda: _count_poll([s for s, _ in pairs]))
        assert left == n // 2, left
        results["count per share"][0].append(wall), results["count per share"][1].append(cpu)
        done, wall, cpu = _timed(lambda: _ours_poll(progress, exact=True))
        assert done == (n + 1) // 2, done
        results["exact poll (end)"][0].append(wall), results["exact poll (end)"][1].append(cpu)
    for name, (walls, cpus) in results.items():
        rows.append((name, statistics.median(walls), statistics.median(cpus)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, SQLite only, one round")
    parser.add_argument("--sizes", type=int, nargs="+", help="catalogue sizes (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--postgres-url", default=os.environ.get("ASTRA_TEST_POSTGRES_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    sizes = args.sizes or ([20000] if args.quick else [100000])
    rounds = 1 if args.quick else args.repeat
    print(f"{'database':<10} {'N':>8}  {'workload':<16} {'wall s':>8} {'CPU s':>8}")
    for n in sizes:
        backends = ["sqlite"] if args.quick else ["sqlite", "postgresql"]
        for backend in backends:
            with tempfile.TemporaryDirectory() as directory:
                if backend == "sqlite":
                    url, drop = f"sqlite:///{directory}/bench.db", None
                else:
                    url, drop = _create_postgres(args.postgres_url)
                try:
                    for name, wall, cpu in run(n, rounds, url, directory):
                        print(f"{backend:<10} {n:>8}  {name:<16} {wall:>8.3f} {cpu:>8.3f}", flush=True)
                finally:
                    if drop:
                        drop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; load average {os.getloadavg()[0]:.2f} (a shared machine)")


def _create_postgres(server_url):
    import urllib.parse

    import psycopg2

    import astra.database

    parts = urllib.parse.urlsplit(server_url)
    name = f"astra_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname=parts.path.lstrip("/") or "postgres", user=parts.username,
                             host=parts.hostname or "127.0.0.1", port=parts.port or 5432)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop():
        astra.database.reset()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop


if __name__ == "__main__":
    main()
