"""The fixed cost of one more write of buffered results (``database_flush_interval``).

Median time of 30 flushes of 1, 10 and 1,000 rows through a ``@task``'s ``DatabaseSink``
(upsert and read-back), on SQLite in a temporary directory or on the database given.

Usage::

    python bench/flush.py                                   # SQLite
    python bench/flush.py --database-url postgresql://user@host:5432/scratch_db
"""

import argparse
import os
import statistics
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a scratch database (default: SQLite in a temporary directory)")
    parser.add_argument("--quick", action="store_true", help="(already quick)")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="astra-bench-flush-")
    os.environ["ASTRA_DATABASE_URL"] = args.database_url or f"sqlite:///{directory}/results.db"
    os.environ["ASTRA_OUTPUT_DIR"] = directory
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import astra.config

    astra.config.reload()
    from engine_methods import LoggedSNR

    from astra.database.writer import flush_interval
    from astra.models.pipeline import major_minor
    from astra.tasks.function_output import DatabaseSink

    sink = DatabaseSink(LoggedSNR, batch_size=10**9, write_frequency=10**9)
    print(f"# {os.environ['ASTRA_DATABASE_URL'].split('@')[-1]}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; median of 30 flushes")
    fixed = None
    for k in (1, 10, 1000):
        times = []
        for i in range(30):
            for pk in range(10**6 * k + i * k, 10**6 * k + (i + 1) * k):
                sink.add(LoggedSNR(spectrum_pk=pk, snr=1.0, v_astra_major_minor=major_minor()))
            start = time.perf_counter()
            sink.flush()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        fixed = median if fixed is None else fixed
        print(f"flush of {k:5d} rows: {1000 * median:8.2f} ms ({1000 * median / k:.3f} ms per row)")
    interval = flush_interval()
    print(f"one more write every {interval:g} s while results arrive: {100 * fixed / interval:.2f}% of a run")
    import shutil

    shutil.rmtree(directory, ignore_errors=True)  # (a scratch PostgreSQL database keeps its table)


if __name__ == "__main__":
    main()
