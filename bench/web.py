"""astra web: how fast the runs page and a results page over 10^6 rows answer.

Workloads (each page is requested through the real Flask application, rendered in full):

* the runs page (``/runs``, 100 runs a page) and ``GET /api/runs`` with 1,000 recorded runs,
  against the plain SQL query of the same page (sqlite3, no rendering);
* a results page (50 rows) over 10^6 ``EstimateSNRResult`` rows: the first page, a page near
  the end (keyset, ``?after=``), a filtered page (``?snr_min=``), against the plain SQL
  keyset query and the naive ``LIMIT 50 OFFSET 999950`` query;
* the S/N histogram (server-side matplotlib PNG, counted by the database) against reading
  every value into numpy, and a scatter plot (an even sample of 50,000 rows).

Each variant runs in turns, ``--repeat`` times; the table shows medians. Usage::

    python bench/web.py [--quick] [--repeat N]
"""

import argparse
import datetime
import os
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time


def _median_ms(function, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def _fill_runs(db_path, n):
    from astra.models.run import Run, ensure_run_tables

    ensure_run_tables()
    now = datetime.datetime(2026, 12, 1)
    rows = [dict(kind="astra run", task="astra.contrib.rocket.snr.EstimateSNR", task_family="EstimateSNR",
                 parameters='{"release": "dr17"}', host="node01", user="astra", state="done", created=now,
                 started=now, ended=now, total=1000, done=990, failed=10, batches=1) for _ in range(n)]
    for start in range(0, n, 500):
        Run.insert_many(rows[start : start + 500]).execute()


def _fill_results(db_path, n):
    from astra.database import ensure_table
    from astra.database.examples import EstimateSNRResult

    ensure_table(EstimateSNRResult)
    table = EstimateSNRResult._meta.table_name
    connection = sqlite3.connect(db_path)
    random.seed(1)
    now = "2026-12-01 00:00:00"
    rows = ((f"EstimateSNR_dr17_{i:07d}", "EstimateSNR", 0, 3, now, now, "dr17", "apo25m", f"{i % 3000:04d}+00",
             f"2M{i:08d}", "dr17", random.lognormvariate(3.5, 0.6), 1 + i % 12, 8000 - i % 500, 0) for i in range(n))
    connection.executemany(
        f'INSERT INTO "{table}" (task_id, task_family, astra_version_major, astra_version_minor, created, modified, '
        "release, telescope, field, obj, apred, snr, n_visits, n_pixels, flags) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return table


def _numpy_histogram(connection, table):
    import numpy as np

    values = np.fromiter((v for (v,) in connection.execute(f'SELECT snr FROM "{table}" WHERE snr IS NOT NULL')), float)
    return np.histogram(values, bins=40)


def main(argv=None):
    """Print the table of workloads and medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^5 result rows instead of 10^6")
    parser.add_argument("--repeat", type=int, default=15, help="requests per variant (median reported)")
    args = parser.parse_args(argv)
    n_runs, n_rows = 1000, 100_000 if args.quick else 1_000_000

    work = tempfile.mkdtemp(prefix="astra-bench-web-")
    db_path = os.path.join(work, "astra.db")
    os.environ["ASTRA_OUTPUT_DIR"] = work
    os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{db_path}"
    import astra.config

    astra.config.reload()
    from astra.web.app import create_app

    _fill_runs(db_path, n_runs)
    table = _fill_results(db_path, n_rows)
    client = create_app().test_client()
    raw = sqlite3.connect(db_path)
    last_id = raw.execute(f'SELECT MAX(id) FROM "{table}"').fetchone()[0]

    def page(url):
        def get():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response.data

        return get

    def sql(query, *params):
        return lambda: raw.execute(query, params).fetchall()

    near_end = last_id - 60
    workloads = [
        ("runs page /runs (100 of 1,000 runs)", n_runs, page("/runs"),
         "SQL: SELECT 101 runs ORDER BY id DESC", sql('SELECT * FROM "run" ORDER BY id DESC LIMIT 101')),
        ("GET /api/runs (100 of 1,000 runs)", n_runs, page("/api/runs"),
         "SQL: SELECT 101 runs ORDER BY id DESC", sql('SELECT * FROM "run" ORDER BY id DESC LIMIT 101')),
        ("results page, first 50 rows", n_rows, page(f"/results/{table}"),
         "SQL: first 50 rows", sql(f'SELECT * FROM "{table}" ORDER BY id LIMIT 50')),
        ("results page near the end (?after=)", n_rows, page(f"/results/{table}?after={near_end}"),
         "SQL: LIMIT 50 OFFSET n-50", sql(f'SELECT * FROM "{table}" ORDER BY id LIMIT 50 OFFSET ?', n_rows - 50)),
        ("results page filtered (?snr_min=60)", n_rows, page(f"/results/{table}?snr_min=60"),
         "SQL: same filter, 50 rows", sql(f'SELECT * FROM "{table}" WHERE snr >= 60 ORDER BY id LIMIT 50')),
        ("S/N histogram PNG (all rows, binned in SQL)", n_rows, page(f"/results/{table}/plot.png?x=snr"),
         "numpy histogram of all values read", lambda: _numpy_histogram(raw, table)),
        ("scatter PNG n_pixels vs snr (50,000 rows)", n_rows, page(f"/results/{table}/plot.png?x=n_pixels&y=snr"),
         "SQL: read 50,000 value pairs", sql(f'SELECT n_pixels, snr FROM "{table}" LIMIT 50000')),
    ]
    for _, _, ours, _, theirs in workloads:  # warm caches and imports once
        ours()
        theirs()
    results = []
    for name, n, ours, what, theirs in workloads:
        ours_times, theirs_times = [], []
        for _ in range(args.repeat):  # in turns, so the shared machine's load hits both alike
            ours_times.append(_median_ms(ours, 1))
            theirs_times.append(_median_ms(theirs, 1))
        results.append((name, n, statistics.median(ours_times), what, statistics.median(theirs_times)))
    raw.close()
    shutil.rmtree(work, ignore_errors=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"astra web benchmark: {n_runs} runs, {n_rows:,} result rows, median of {args.repeat} requests "
          f"(SQLite, {sys.platform}); peak RSS {rss:.0f} MiB")
    print(f"| {'workload':<40} | {'N':>9} | {'ours (ms)':>9} | {'comparison':<38} | {'(ms)':>7} | {'ratio':>6} |")
    print(f"|{'-' * 42}|{'-' * 11}|{'-' * 11}|{'-' * 40}|{'-' * 9}|{'-' * 8}|")
    for name, n, ours, what, theirs in results:
        print(f"| {name:<40} | {n:>9,} | {ours:>9.1f} | {what:<38} | {theirs:>7.2f} | {ours / max(theirs, 1e-6):>6.1f} |")


if __name__ == "__main__":
    main()
