"""Ingesting files into the catalogue: ``astra migrate`` beside a plain astropy + SQL loop.

Workloads, measured in one run, in turns (``--repeat`` rounds; medians shown):

- ingest: N synthetic dr13 apStar files into an empty SQLite catalogue (page cache warm).
  Ours: :func:`astra.models.migrate.migrate_files`. Plain: for each file
  ``astropy.io.fits.getheader`` then one ``INSERT`` (sqlite3, one transaction), over an evenly
  spaced sample of at most ``--plain-files`` of the files (its rate in files/s is compared; a
  plain loop over 100,000 files would take most of an hour on a shared machine).
- re-run over the same, unchanged files. Ours: a second ``migrate_files``. Plain: the same
  loop again (a plain loop has no way to know what is unchanged).
- select by a key filter from a catalogue of M rows (SQLite). Ours: the catalogue table (with
  its key indexes) through peewee, ``Model.select().where(Model.obj == X)`` and
  ``.where(Model.field == F).count()``. Plain: the same queries on a table of the same rows
  without indexes.

Each file workload is shown as files/s by the wall clock and as CPU time per file (user +
system, of this process and its reader processes, from ``getrusage``): on a machine shared
with other work the wall clock says how busy the machine was, the CPU time what the work cost.

Usage::

    python bench/migrate.py            # 100,000 files, 10^6 rows (the files are kept in --tree-dir)
    python bench/migrate.py --quick    # 5,000 files, 10^5 rows, under a minute
"""

import argparse
import concurrent.futures
import os
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time

import numpy as np


def _write_part(args):
    root, n, seed = args
    from astra.tools import synthetic

    tree = synthetic.write_sample_tree(root, n, release="dr13", species="apStar", seed=seed)
    return list(zip(tree.paths, (k["obj"] for k in tree)))


def _header_segments(path):
    """The file's bytes as ``(offset, header bytes)`` pieces and its size: data left out."""
    from astra.tools.spectrum.lean_fits import skim

    _, hdus = skim(path)
    data = open(path, "rb").read()
    segments, start = [], 0
    for hdu in hdus:
        segments.append((start, data[start:hdu.data_offset]))
        start = hdu.data_offset + -(-hdu.nbytes // 2880) * 2880
    return segments, len(data)


def _copies(args):
    """Copies of written files, each at its own path with its own OBJID card.

    A copy holds the original's headers byte for byte at their offsets and is as long as the
    original, but its data blocks are left as holes (a sparse file: they read as zeros and
    take no space), so 100,000 files fit in the page cache. Neither loop reads data.
    """
    root, originals, n, seed = args
    from astra.tasks.io.paths import full_path
    from astra.tools.synthetic import common

    rng = np.random.default_rng(seed)
    templates = [(_header_segments(path), obj) for path, obj in originals]
    made = 0
    while made < n:
        (segments, size), obj = templates[made % len(templates)]
        new = common.twomass_id(rng.uniform(0, 360), float(np.degrees(np.arcsin(rng.uniform(-0.5, 1.0)))))
        field = os.path.basename(os.path.dirname(originals[made % len(originals)][0]))
        path = full_path("dr13", "apStar", sas_base_dir=root, apred="r6", apstar="stars",
                         telescope="apo25m", prefix="ap", field=field, obj=new)
        if len(new) != len(obj) or os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fp:
            for offset, header in segments:
                fp.seek(offset)
                fp.write(header.replace(f"'{obj}'".encode(), f"'{new}'".encode(), 1) if offset == 0 else header)
            fp.truncate(size)
        made += 1
    return made


def make_tree(root, n, workers, written=1000):
    """``n`` dr13 apStar files under ``root`` (kept for the next run).

    ``written`` of them come from the synthetic writer; the others are copies of those with
    their own path and ``OBJID``, their headers byte for byte and their data blocks as holes
    (writing 100,000 files with the writer takes most of an hour on a shared machine, and
    12 GB of data would not stay in the page cache beside the other sessions; ingesting reads
    headers only, so the work is the same either way).
    """
    marker = os.path.join(root, f".complete-{n}-sparse")
    if os.path.exists(marker):
        return
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    written = min(n, written)
    print(f"writing {written} synthetic apStar files and {n - written} copies under {root} ...", flush=True)
    parts = [(root, written // workers + (i < written % workers), 1000 + i) for i in range(workers)]
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        originals = [item for part in pool.map(_write_part, parts) for item in part]
        rest = n - len(originals)
        jobs = [(root, originals, rest // workers + (i < rest % workers), 2000 + i) for i in range(workers)]
        list(pool.map(_copies, jobs))
    open(marker, "w").close()


def list_files(root):
    from astra.tasks.io.find import scan_files

    return [path for path, *_ in scan_files("dr13", "apStar", sas_base_dir=root)]


def plain_loop(paths, db_path):
    """astropy getheader + one INSERT per file, in one transaction."""
    from astropy.io import fits

    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS plain (path TEXT PRIMARY KEY, size INTEGER, mtime REAL, "
        "obj TEXT, snr REAL, nvisits INTEGER, ra REAL, dec REAL)"
    )
    began, cpu = time.perf_counter(), cpu_seconds()
    with connection:
        for path in paths:
            st = os.stat(path)
            header = fits.getheader(path)
            connection.execute(
                "INSERT OR REPLACE INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (path, st.st_size, st.st_mtime, header.get("OBJID"), header.get("SNR"),
                 header.get("NVISITS"), header.get("RA"), header.get("DEC")),
            )
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    connection.close()
    return seconds, cpu


def ours(root, db_url, workers):
    import astra.database
    from astra.models.migrate import migrate_files

    db = astra.database.connect(db_url)
    began, cpu = time.perf_counter(), cpu_seconds()
    summary = migrate_files("dr13", "apStar", sas_base_dir=root, workers=workers, db=db)
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    astra.database.reset()
    astra.database.forget_tables()
    return seconds, cpu, summary


def cpu_seconds():
    """CPU time (user + system) of this process and of its finished children (the readers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def fill_catalogue(db_path, m, seed=0):
    """``m`` rows of apStar keys and header values: the catalogue table and a plain copy."""
    import astra.database
    from astra.database import write_transaction
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.bulk import insert_rows

    rng = np.random.default_rng(seed)
    fields = [f"F{i:04d}" for i in range(2000)]
    db = astra.database.connect(f"sqlite:///{db_path}")
    Star.ensure_tables(db)
    now = "2026-12-01 00:00:00"
    for start in range(0, m, 100_000):
        rows = []
        for i in range(start, min(m, start + 100_000)):
            obj = f"2M{i:08d}+{i % 9999999:07d}"
            field = fields[int(rng.integers(len(fields)))]
            rows.append({
                "spectrum_pk": i + 1, "source": None, "release": "dr13", "data_model": "apStar",
                "path": f"/sas/dr13/apogee/spectro/redux/r6/stars/apo25m/{field}/apStar-r6-{obj}.fits",
                "file_size": 123840, "file_mtime": 1.7e9, "flag_bad_file": False, "ingested": now,
                "modified": now, "snr": float(rng.uniform(5, 300)), "n_visits": int(rng.integers(1, 9)),
                "apred": "r6", "apstar": "stars", "telescope": "apo25m", "field": field, "prefix": "ap",
                "obj": obj,
            })
        with write_transaction(db):
            insert_rows(Star, rows, db)
    connection = sqlite3.connect(db_path)
    with connection:
        connection.execute("CREATE TABLE plain AS SELECT * FROM apogee_coadded_spectrum_in_ap_star")
    connection.close()
    astra.database.reset()
    astra.database.forget_tables()
    return f"2M{m // 2:08d}+{(m // 2) % 9999999:07d}", fields[7]


def select_ours(db_path, obj, field):
    import astra.database
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star

    astra.database.connect(f"sqlite:///{db_path}")
    began = time.perf_counter()
    one = list(Star.select().where(Star.obj == obj))
    t_one = time.perf_counter() - began
    began = time.perf_counter()
    count = Star.select().where(Star.field == field).count()
    rows = list(Star.select(Star.spectrum_pk, Star.path).where(Star.field == field).tuples())
    t_field = time.perf_counter() - began
    astra.database.reset()
    astra.database.forget_tables()
    assert len(one) == 1 and count == len(rows)
    return t_one, t_field, count


def select_plain(db_path, obj, field):
    connection = sqlite3.connect(db_path)
    began = time.perf_counter()
    one = connection.execute("SELECT * FROM plain WHERE obj = ?", (obj,)).fetchall()
    t_one = time.perf_counter() - began
    began = time.perf_counter()
    connection.execute("SELECT count(*) FROM plain WHERE field = ?", (field,)).fetchone()
    connection.execute("SELECT spectrum_pk, path FROM plain WHERE field = ?", (field,)).fetchall()
    t_field = time.perf_counter() - began
    connection.close()
    assert len(one) == 1
    return t_one, t_field


def peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def row(workload, n, ours, plain, unit="files/s"):
    """One line: wall-clock rates (or seconds) and, for files, CPU time per file of each."""
    if unit == "files/s":
        (wall_a, cpu_a), (wall_b, cpu_b) = ours, plain
        a, b = n / wall_a, n / wall_b
        print(f"{workload:<36}{n:>8}{a:>10.0f}{b:>9.0f}{a / b:>7.1f}x"
              f"{cpu_a / n * 1e6:>10.1f}{cpu_b / n * 1e6:>10.1f}{cpu_b / cpu_a:>7.1f}x{n / cpu_a:>10.0f}{peak_rss_mib():>8.0f}")
    else:
        print(f"{workload:<36}{n:>8}{ours:>9.4f}s{plain:>8.4f}s{plain / ours:>7.1f}x{'':>37}{peak_rss_mib():>8.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 files and 10^5 rows")
    parser.add_argument("--files", type=int, help="number of apStar files (default 100,000)")
    parser.add_argument("--rows", type=int, help="catalogue rows for the select (default 10^6)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each workload")
    parser.add_argument("--plain-files", type=int, default=10_000, help="files the plain loop reads (a sample)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="migrate's reader processes")
    parser.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "astra-bench-migrate"),
                        help="where the synthetic files are written and kept")
    args = parser.parse_args()
    n = args.files or (5_000 if args.quick else 100_000)
    m = args.rows or (100_000 if args.quick else 1_000_000)
    root = os.path.join(args.tree_dir, f"apStar-{n}")
    make_tree(root, n, max(1, args.workers))
    paths = list_files(root)
    for path in paths:  # warm the page cache: every file read once, whole
        with open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass
    work = tempfile.mkdtemp(prefix="astra-bench-migrate-")
    # Imports and the release's templates, once, outside the timings (as in a daily run).
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    ours(empty, f"sqlite:///{os.path.join(work, 'warm.db')}", 1)
    plain_loop(paths[:10], os.path.join(work, "warm-plain.db"))
    step = max(1, -(-len(paths) // args.plain_files))
    sample = paths[::step]
    ingest, rerun, plain1, plain2 = [], [], [], []
    scale = len(paths) / len(sample)
    load_before = os.getloadavg()
    try:
        for r in range(args.repeat):
            db_ours = os.path.join(work, f"ours-{r}.db")
            seconds, cpu, summary = ours(root, f"sqlite:///{db_ours}", args.workers)
            assert summary.new == len(paths) and summary.bad == 0, str(summary)
            ingest.append((seconds, cpu))
            seconds, cpu, summary = ours(root, f"sqlite:///{db_ours}", args.workers)
            assert summary.unchanged == len(paths), str(summary)
            rerun.append((seconds, cpu))
            db_plain = os.path.join(work, f"plain-{r}.db")
            plain1.append(tuple(x * scale for x in plain_loop(sample, db_plain)))
            plain2.append(tuple(x * scale for x in plain_loop(sample, db_plain)))
            for name in (db_ours, db_plain):
                os.remove(name)
        load_after = os.getloadavg()
        db_select = os.path.join(work, "select.db")
        obj, field = fill_catalogue(db_select, m)
        sel_ours, sel_plain = [], []
        for r in range(args.repeat):
            sel_ours.append(select_ours(db_select, obj, field))
            sel_plain.append(select_plain(db_select, obj, field))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(pairs):
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

    print(f"\n# astra migrate, {args.repeat} rounds in turns, medians; workers={args.workers}; {os.cpu_count()} CPUs;"
          f" plain loop over {len(sample)} of the {len(paths)} files; tree {args.tree_dir}")
    print(f"# load average (1, 5, 15 min) before {', '.join(f'{x:.1f}' for x in load_before)},"
          f" after the file workloads {', '.join(f'{x:.1f}' for x in load_after)}")
    print(f"{'workload':<36}{'N':>8}{'ours/s':>10}{'plain/s':>9}{'ratio':>8}"
          f"{'ours CPU':>10}{'plain CPU':>10}{'ratio':>8}{'ours':>10}{'RSS MiB':>8}")
    print(f"{'':<36}{'':>8}{'(wall)':>10}{'(wall)':>9}{'':>8}{'us/file':>10}{'us/file':>10}{'':>8}{'/CPU-s':>10}")
    print("-" * 117)
    row("ingest apStar files", len(paths), med(ingest), med(plain1))
    row("re-run, unchanged files", len(paths), med(rerun), med(plain2))
    count = sel_ours[0][2]
    median = statistics.median
    row("select one obj from the catalogue", m, median(s[0] for s in sel_ours), median(s[0] for s in sel_plain), unit="s")
    row(f"select a field ({count} rows), count+fetch", m, median(s[1] for s in sel_ours),
        median(s[1] for s in sel_plain), unit="s")
    print("(ours /CPU-s: files per second of CPU time, readers included: the rate one idle core would give;"
          " the readers run in parallel, so two idle cores give up to about twice that)")


if __name__ == "__main__":
    main()
