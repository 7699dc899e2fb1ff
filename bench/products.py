"""Benchmark of the named products (``astra create astraAllStar<Method>``, ``mwmAllStar``).

A catalogue of N apStar spectra (with their sources) and N Rocket S/N results is written
straight into a SQLite database (or PostgreSQL with ``--postgres``); then, in turns, R rounds of

* ours -- :func:`astra.products.create_product` (``astraAllStarRocketSNR``, or ``mwmAllStar``):
  one query per catalogue table, typed column arrays, the FITS file with its header cards, atomic;
* plain -- the same rows as a peewee join (``.dicts()``), missing values filled, an astropy
  ``Table`` built from the rows and ``Table.write`` to FITS. It writes fewer columns than ours
  (the source and spectrum columns the apStar table has, not the empty keys of the other
  star-level tables, and not the variable-length ``snr_visits``), which is in its favour;
* write only -- ``Table.write`` of the same columns already held as typed numpy arrays
  (no query, no conversion: the floor of any FITS writer going through astropy).

Figures are the best of the R rounds, wall and CPU time (``time.process_time``: this process
only, so on PostgreSQL the server's work is not in it). The per-row column shows whether the
cost per row grows with N.

Usage::

    python bench/products.py [--quick] [--postgres URL] [--rounds R]

``--quick`` (N = 1,000, 10,000, 30,000) finishes in under a minute.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np


def _fill(n):
    """N sources, N apStar rows and N RocketSNR rows, inserted in bulk."""
    from astra.contrib.rocket.results import RocketSNR
    from astra.database.connection import get_database
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.source import Source

    db = get_database()
    Star.ensure_tables()
    from astra.database.migrations import ensure_table

    ensure_table(RocketSNR)
    rng = np.random.default_rng(1)
    now = time.time()
    sources, stars, results = [], [], []
    for i in range(1, n + 1):
        obj = f"2M{i:08d}+{i % 9000:04d}000"
        ra, dec = float(rng.uniform(0, 360)), float(rng.uniform(-90, 90))
        sources.append({"pk": i, "sdss4_apogee_id": obj, "ra": ra, "dec": dec})
        stars.append({
            "spectrum_pk": i, "source": i, "release": "dr17", "data_model": "apStar",
            "path": f"/sas/dr17/apogee/spectro/redux/dr17/stars/apo25m/F{i % 500}/apStar-dr17-{obj}.fits",
            "file_size": 3_000_000, "file_mtime": now, "snr": float(rng.uniform(5, 500)), "ra": ra, "dec": dec,
            "n_visits": int(i % 7 + 1), "obj_id": obj, "apred": "dr17", "apstar": "stars", "telescope": "apo25m",
            "field": f"F{i % 500}", "prefix": "ap", "obj": obj,
        })
        results.append({
            "source_pk": i, "spectrum_pk": i, "spectrum_mtime": now, "snr": float(rng.uniform(5, 500)),
            "snr_visits": "[10.0, 12.5]", "n_visits": 2, "n_pixels": 8000, "t_elapsed": 0.01,
        })
    with db.atomic():
        for model, rows in ((Source, sources), (Star, stars), (RocketSNR, results)):
            for start in range(0, n, 500):
                model.insert_many(rows[start:start + 500]).execute()


def _plain(name, path):
    """The same rows through peewee dicts, filled, as an astropy Table written to FITS."""
    from astropy.table import Table

    from astra.contrib.rocket.results import RocketSNR
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
    from astra.models.source import Source

    star_fields = [Star.release, Star.data_model, Star.apred, Star.apstar, Star.telescope, Star.field, Star.prefix,
                   Star.obj]
    if name == "mwmAllStar":
        fields = [Source.sdss4_apogee_id, Source.ra, Source.dec, Star.spectrum_pk, *star_fields, Star.path,
                  Star.file_size, Star.file_mtime, Star.snr, Star.n_visits]
        query = Star.select(*fields).join(Source, on=(Star.source == Source.pk)).order_by(Star.spectrum_pk)
    else:
        own = [f for f in RocketSNR._meta.sorted_fields if f.name not in ("snr_visits",)]
        fields = [Source.sdss4_apogee_id, Source.ra, Source.dec, *star_fields, *own]
        query = (RocketSNR.select(*fields).join(Star, on=(Star.spectrum_pk == RocketSNR.spectrum_pk))
                 .join(Source, on=(Star.source == Source.pk)).order_by(RocketSNR.spectrum_pk))
    records = list(query.dicts())
    names = list(records[0]) if records else []
    filled = {k: [("" if v is None else str(v)) if not isinstance(v, (int, float)) else v
                  for v in (r[k] for r in records)] for k in names}
    Table(filled).write(path, overwrite=True)
    return len(records)


def _arrays(path):
    """The columns of the product file as typed arrays (what the write-only comparison writes)."""
    from astropy.table import Table

    table = Table.read(path, hdu=1)
    return {name: np.asarray(table[name]) for name in table.colnames if table[name].dtype != object}


def _timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run(sizes, rounds, url, directory):
    """Measure every size; returns rows of the printed table."""
    from astropy.table import Table

    import astra.config
    import astra.database
    from astra.products import create_product

    lines = []
    for n in sizes:
        database = url or f"sqlite:///{os.path.join(directory, f'products-{n}.db')}"
        os.environ["ASTRA_DATABASE_URL"] = database
        astra.config.reload()
        astra.database.reset()
        _fill(n)
        for name in ("astraAllStarRocketSNR", "mwmAllStar"):
            ours_path = os.path.join(directory, f"{name}-{n}.fits")
            best = {}
            for _ in range(rounds):
                for label, work in (
                    ("ours", lambda: create_product(name, ours_path, overwrite=True)[1]),
                    ("plain", lambda: _plain(name, os.path.join(directory, "plain.fits"))),
                ):
                    wall, cpu, count = _timed(work)
                    assert count == n, (label, count, n)
                    old = best.get(label)
                    best[label] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
                arrays = _arrays(ours_path)
                wall, cpu, _ = _timed(lambda: Table(arrays).write(os.path.join(directory, "floor.fits"), overwrite=True))
                old = best.get("write only")
                best["write only"] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
            lines.append((name, n, best))
        if url:  # empty the PostgreSQL database for the next size
            from astra.contrib.rocket.results import RocketSNR
            from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
            from astra.models.source import Source

            for model in (RocketSNR, Star, Source):
                model.delete().execute()
    return lines


def main():
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000, 10,000, 30,000 (under a minute)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use instead of SQLite files")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size, in turns (default 3)")
    args = parser.parse_args()
    sizes = (1000, 10000, 30000) if args.quick else (1000, 10000, 100000)
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as directory:
        os.environ["ASTRA_OUTPUT_DIR"] = directory
        lines = run(sizes, args.rounds, args.postgres, directory)
    where = "PostgreSQL" if args.postgres else "SQLite"
    print(f"# products: {os.cpu_count()} cores, {where}, outputs in {base or 'a temporary directory'}, "
          f"best of {args.rounds} rounds in turns; load average {os.getloadavg()[0]:.1f}")
    print(f"{'product':<22} {'N':>7} {'ours wall':>10} {'ours cpu':>9} {'cpu us/row':>10} "
          f"{'plain wall':>11} {'plain cpu':>10} {'write-only':>11} {'ours/plain cpu':>15}")
    for name, n, best in lines:
        ours, plain, floor = best["ours"], best["plain"], best["write only"]
        print(f"{name:<22} {n:>7} {ours[0]:>9.3f}s {ours[1]:>8.3f}s {ours[1] / n * 1e6:>10.1f} "
              f"{plain[0]:>10.3f}s {plain[1]:>9.3f}s {floor[0]:>10.3f}s {ours[1] / plain[1]:>15.2f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    main()
