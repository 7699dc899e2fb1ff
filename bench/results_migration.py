"""Benchmark of migrating a class-style results table of the old base (``astra init``, or first use).

Workload: an ``estimatesnrresult`` table with the columns Astra wrote before the one results
base (``t_setup``: the batch's whole setup on every member's row; ``t_process``), N rows in
batches of 1,000 members. Ours: :func:`astra.database.ensure_table`, which renames both columns
and shares ``t_setup`` among the rows of its batch (one grouped ``UPDATE``), in one
transaction. The comparison: the least a migration that changes the values can do, two plain
``ALTER TABLE ... RENAME COLUMN`` statements and one ``UPDATE`` of every row by a constant (the
batch size known in advance), on a copy of the same table. Peak RSS is the process's after
our part.

Usage::

    python bench/results_migration.py [--quick] [--postgres URL]

``--quick`` (N = 100,000) finishes in well under a minute. PostgreSQL rows need a server
(default ``postgresql://postgres@127.0.0.1:5432/test``; a scratch database is created and
dropped); they are skipped when it does not answer.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import urllib.parse
import uuid

DEFAULT_POSTGRES = os.environ.get("ASTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _old_table(db, model, table, n):
    """``model``'s table under the name ``table``, with the old column names and ``n`` rows."""
    from astra.database.migrations import create_tables, forget_tables

    with model.bind_ctx(db):
        model._meta.table_name = table
        create_tables([model], db=db)
    for old, new in (("t_setup", "t_overhead"), ("t_process", "t_elapsed")):
        db.execute_sql(f'ALTER TABLE "{table}" RENAME COLUMN "{new}" TO "{old}"')
    columns = ("task_id", "task_family", "astra_version_major", "astra_version_minor", "created", "modified",
               "obj", "t_setup", "t_process", "flags", "snr")
    with db.atomic():
        for start in range(0, n, 2000):
            chunk = [(f"rocket.EstimateSNR_{i:09d}", "rocket.EstimateSNR", 0, 3, "2026-01-01 00:00:00",
                      "2026-01-01 00:00:00", f"2M{i:08d}", 1.0 + (i // 1000) * 1e-6, 0.01, 0, 10.0)
                     for i in range(start, min(n, start + 2000))]
            marks = "(" + ", ".join([db.param] * len(columns)) + ")"
            db.execute_sql(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ' + ", ".join([marks] * len(chunk)),
                           [v for row in chunk for v in row])
    forget_tables()


def _measure(url, n):
    from astra.contrib.rocket.results import EstimateSNRResult as Model
    from astra.database import connect, ensure_table

    db = connect(url)
    name = Model._meta.table_name
    try:
        _old_table(db, Model, "plain_rename", n)
        began = time.perf_counter()
        with db.atomic():
            for old, new in (("t_setup", "t_overhead"), ("t_process", "t_elapsed")):
                db.execute_sql(f'ALTER TABLE "plain_rename" RENAME COLUMN "{old}" TO "{new}"')
            db.execute_sql('UPDATE "plain_rename" SET "t_overhead" = "t_overhead" / 1000.0')
        plain = time.perf_counter() - began
        _old_table(db, Model, "ours_rename", n)
        began = time.perf_counter()
        with Model.bind_ctx(db):
            report = ensure_table(Model, db=db, force=True)
        ours = time.perf_counter() - began
        assert report.renamed == [("t_process", "t_elapsed"), ("t_setup", "t_overhead")], report
        share = db.execute_sql('SELECT MIN("t_overhead"), MAX("t_overhead") FROM "ours_rename"').fetchone()
        assert 0.0009 < share[0] <= share[1] < 0.0011, share  # 1 s shared among 1,000 rows
    finally:
        Model._meta.table_name = name
    return ours, plain, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _postgres_scratch(url):
    import psycopg2

    parts = urllib.parse.urlsplit(url)
    name = f"astra_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.Error:
        return None, None
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")

    def drop():
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop


def main(argv=None):
    """Run the benchmark and print its table.

    :param argv: command-line arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100,000")
    parser.add_argument("-n", type=int, default=None, help="rows (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server URL")
    args = parser.parse_args(argv)
    n = args.n or (100_000 if args.quick else 1_000_000)
    print(f"{'workload':<22} {'N':>9} {'ours (s)':>9} {'renames+UPDATE (s)':>19} {'ratio':>6} {'peak RSS (MB)':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("migrate sqlite", f"sqlite:///{tmp}/old.db", None)]
        url, drop = _postgres_scratch(args.postgres)
        if url is None:
            print(f"(PostgreSQL at {args.postgres} does not answer: its row is skipped)")
        else:
            targets.append(("migrate postgresql", url, drop))
        for label, target, cleanup in targets:
            try:
                ours, plain, rss = _measure(target, n)
            finally:
                if cleanup is not None:
                    from astra.database import reset

                    reset()
                    cleanup()
            print(f"{label:<22} {n:>9,} {ours:>9.2f} {plain:>19.2f} {ours / plain:>6.1f} {rss:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
