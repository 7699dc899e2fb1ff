"""Benchmark of the results database and ``astra create``.

Workloads (each in its own process, so the peak RSS column is that workload's):

* write sqlite / write postgresql -- N results through :class:`astra.database.ResultWriter`
  (batched upserts), against a raw ``executemany`` of the same rows with sqlite3 / psycopg2
  (plain INSERT, one transaction); on PostgreSQL also against ``execute_values``;
* complete -- which of 10,000 identities have results (:func:`completed_task_ids`, one query)
  against one ``DatabaseTarget.exists()`` query per identity;
* create -- ``astra create`` (:func:`create_summary`) of N rows against building the table
  from model instances (``list(Model.select())``) with astropy.

The peak RSS is that of the workload's process just after our part (inputs included,
the comparison not).

Usage::

    python bench/database.py [--quick] [--postgres URL]

``--quick`` (N = 20,000) finishes in well under a minute. PostgreSQL rows need a server
(default ``postgresql://postgres@127.0.0.1:5432/test``; a scratch database is created and
dropped); they are skipped when it does not answer.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

DEFAULT_POSTGRES = os.environ.get("ASTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class FakeTask:
    """The few attributes a result row needs from a task (building real tasks is not timed)."""

    def __init__(self, i):
        self.task_id = f"rocket.EstimateSNR_dr17_2M{i:08d}_{i:016x}"
        self.param_kwargs = {"obj": f"2M{i:08d}", "release": "dr17", "telescope": "apo25m", "field": "M67",
                             "apred": "r12", "astra_version_major": 0, "astra_version_minor": 3}

    @staticmethod
    def get_task_family():
        return "rocket.EstimateSNR"

    def identity_params(self):
        return {k: str(v) for k, v in self.param_kwargs.items()}


def _rows(n, offset=0):
    from astra.contrib.rocket.results import EstimateSNRResult as M

    return [M.row_for_task(FakeTask(offset + i), {"snr": float(i % 300), "n_pixels": 8000, "n_visits": 3},
                           timing={"setup": 1.0, "process": 0.01}) for i in range(n)]


def _raw_tuples(rows, fields):
    return [tuple(None if row.get(f.name) is None else f.db_value(row[f.name]) for f in fields) for row in rows]


def _connect(url):
    import astra.database

    astra.database.reset()
    astra.database.forget_tables()
    return astra.database.connect(url)


def workload_write(url, n):
    """Ours: ResultWriter upserts. Comparison: raw executemany (and execute_values on PostgreSQL)."""
    from astra.database import ResultWriter
    from astra.contrib.rocket.results import EstimateSNRResult as M
    from astra.database.migrations import ensure_table

    db = _connect(url)
    ensure_table(M)
    rows = _rows(n)
    started = time.perf_counter()
    with ResultWriter(M, batch_size=5000, flush_interval=3600) as writer:
        for row in rows:
            writer.add(row)
    ours = time.perf_counter() - started
    rss = _peak_rss_mb()
    assert M.select().count() == n
    fields = [f for f in M._meta.sorted_fields if f.name != "id"]
    tuples = _raw_tuples(rows, fields)
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    results = {"ours": ours, "peak_rss_mb": rss}
    if url.startswith("sqlite"):
        import sqlite3

        path = db.database + ".raw"
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA journal_mode=wal")
        raw.execute("PRAGMA synchronous=normal")
        raw.execute(M._schema._create_table(safe=True).query()[0].replace('"estimatesnrresult"', '"raw"', 1))
        started = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany(f'INSERT INTO "raw" ({columns}) VALUES ({", ".join("?" * len(fields))})', tuples)
        raw.execute("COMMIT")
        results["raw executemany"] = time.perf_counter() - started
        raw.close()
    else:
        import psycopg2.extras

        raw = psycopg2.connect(**db.connect_params, dbname=db.database)
        cur = raw.cursor()
        cur.execute('CREATE TABLE "raw" (LIKE "estimatesnrresult" INCLUDING ALL)')
        raw.commit()
        sql = f'INSERT INTO "raw" ({columns}) VALUES ({", ".join(["%s"] * len(fields))})'
        started = time.perf_counter()
        cur.executemany(sql, tuples)
        raw.commit()
        results["raw executemany"] = time.perf_counter() - started
        cur.execute('TRUNCATE "raw"')
        raw.commit()
        started = time.perf_counter()
        psycopg2.extras.execute_values(cur, f'INSERT INTO "raw" ({columns}) VALUES %s', tuples, page_size=1000)
        raw.commit()
        results["raw execute_values"] = time.perf_counter() - started
        raw.close()
    return results


def workload_complete(url, n):
    """Ours: completeness of n identities in one query. Comparison: one query per identity."""
    from astra.database import DatabaseTarget, upsert_rows
    from astra.contrib.rocket.results import EstimateSNRResult as M
    from astra.database.target import completed_task_ids

    _connect(url)
    rows = _rows(n, offset=10**9)
    upsert_rows(M, rows[::2])
    ids = [row["task_id"] for row in rows]
    started = time.perf_counter()
    done = completed_task_ids(M, ids)
    ours = time.perf_counter() - started
    rss = _peak_rss_mb()
    assert len(done) == len(rows[::2])
    started = time.perf_counter()
    naive = sum(DatabaseTarget(M, task_id).exists() for task_id in ids)
    comparison = time.perf_counter() - started
    assert naive == len(done)
    return {"ours": ours, "peak_rss_mb": rss, "one query per identity": comparison}


def workload_create(url, n, directory):
    """Ours: create_summary. Comparison: astropy Table from model instances."""
    from astropy.table import Table

    from astra.database import upsert_rows
    from astra.contrib.rocket.results import EstimateSNRResult as M
    from astra.products import create_summary

    _connect(url)
    upsert_rows(M, _rows(n))
    started = time.perf_counter()
    _, count = create_summary(M, os.path.join(directory, "ours.fits"), overwrite=True)
    ours = time.perf_counter() - started
    rss = _peak_rss_mb()
    assert count == n
    started = time.perf_counter()
    names = [f.name for f in M._meta.sorted_fields if f.name not in ("id", "snr_visits")]
    records = list(M.select())
    table = Table(rows=[[getattr(r, name) if getattr(r, name) is not None else -1 for name in names]
                        for r in records], names=names)
    for name in ("created", "modified"):
        table[name] = [str(v) for v in table[name]]
    table.write(os.path.join(directory, "naive.fits"), overwrite=True)
    return {"ours": ours, "peak_rss_mb": rss, "model instances + astropy Table": time.perf_counter() - started}


def _child(args):
    directory = args.directory
    if args.workload == "write":
        results = workload_write(args.url, args.n)
    elif args.workload == "complete":
        results = workload_complete(args.url, args.n)
    else:
        results = workload_create(args.url, args.n, directory)
    print(json.dumps(results))


def _peak_rss_mb():
    """Peak resident memory of this process so far (measured before the comparison runs)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _postgres_database(server):
    """Create a scratch database; returns (url, drop function) or (None, reason)."""
    try:
        import psycopg2
    except ImportError:
        return None, "psycopg2 not installed"
    parts = urllib.parse.urlsplit(server)
    try:
        admin = psycopg2.connect(dbname=parts.path.lstrip("/"), user=parts.username, password=parts.password,
                                 host=parts.hostname, port=parts.port or 5432, connect_timeout=5)
    except psycopg2.Error as error:
        return None, str(error).strip().splitlines()[0]
    admin.autocommit = True
    name = f"astra_bench_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop


def _run(workload, url, n, directory):
    command = [sys.executable, os.path.abspath(__file__), "--workload", workload, "--url", url, "--n", str(n),
               "--directory", directory]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{workload} on {url} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    """Run every workload and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 20,000 instead of 100,000")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server for the postgresql rows")
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        return _child(args)

    n = 20000 if args.quick else 100000
    table = []
    with tempfile.TemporaryDirectory() as directory:
        os.environ["ASTRA_OUTPUT_DIR"] = directory
        sqlite = lambda name: f"sqlite:///{os.path.join(directory, name)}"  # noqa: E731
        plans = [("write sqlite", "write", sqlite("write.db"), n),
                 ("complete sqlite", "complete", sqlite("complete.db"), 10000),
                 ("astra create sqlite", "create", sqlite("create.db"), n)]
        pg_url, drop = _postgres_database(args.postgres)
        if pg_url is None:
            print(f"PostgreSQL rows skipped: {drop}", file=sys.stderr)
        else:
            plans += [("write postgresql", "write", pg_url, n), ("complete postgresql", "complete", pg_url, 10000)]
        try:
            for label, workload, url, count in plans:
                result = _run(workload, url, count, directory)
                ours = result.pop("ours")
                rss = result.pop("peak_rss_mb")
                for comparison, seconds in result.items():
                    table.append((label, count, ours, comparison, seconds, rss))
        finally:
            if pg_url is not None:
                drop()
    header = f"{'workload':<22} {'N':>7} {'ours':>16} {'comparison':>44} {'ratio':>6} {'peak RSS':>9}"
    print(header)
    print("-" * len(header))
    for label, count, ours, comparison, seconds, rss in table:
        ours_text = f"{ours:.3f} s ({count / ours:,.0f}/s)"
        other = f"{comparison}: {seconds:.3f} s"
        print(f"{label:<22} {count:>7,} {ours_text:>16} {other:>44} {ours / seconds:>6.2f} {rss:>6.0f} MB")


if __name__ == "__main__":
    main()
