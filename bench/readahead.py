"""Reading ahead against the read-then-compute loop, on tmpfs and on this machine's disk.

Files: real-size multi-visit apStar files (synthetic, every HDU filled: ``n_visits`` visits,
10 HDUs, about 4 MB each) written by :mod:`astra.tools.synthetic`, once under ``/dev/shm``
(tmpfs) and once under ``/var/tmp`` (the machine's disk).

The method: a compute step calibrated, in the same run, to take as long per spectrum as
reading the file does (numpy sorts of the flux, which release the GIL as numpy work does).
For each storage the table gives, per spectrum:

* **read only** -- ``read_arrays(path, "apStar")`` in a loop (the catalogue rows' reader);
* **compute only** -- the compute step over arrays already in memory;
* **read-then-compute** -- the plain loop: read spectrum i, compute it, read i + 1, ...;
* **ours** -- the same loop inside :func:`astra.core.readahead.reading_ahead`, as both method
  styles run it (the ``readahead_threads`` / ``readahead_memory_mb`` defaults);

and the ratios to ``max(read only, compute only)`` (the target is at most 1.2x) and to their sum. On the
disk the page cache is dropped before every variant when the process may
(``/proc/sys/vm/drop_caches``, as root); the table says whether it was.

Usage::

    python bench/readahead.py            # 600 files, 5 rounds
    python bench/readahead.py --quick    # 150 files, 3 rounds

Each figure is the least of its rounds (the variants take turns): on a shared machine other
work only ever adds time.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from astra.core.readahead import reading_ahead  # noqa: E402
from astra.tools import synthetic  # noqa: E402
from astra.tools.spectrum import read_arrays  # noqa: E402


def drop_caches():
    """Drop the page cache (as root); whether it could."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fp:
            fp.write("3\n")
        return True
    except OSError:
        return False


def write_files(directory, n, n_visits):
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = os.path.join(directory, f"apStar-r6-2M{i:08d}+0000000.fits")
        synthetic.write_apstar(path, n_visits=n_visits, seed=rng, extras=True)
        paths.append(path)
    return paths


def compute(arrays, repeats):
    flux = np.asarray(arrays.flux)
    for _ in range(repeats):
        np.sort(flux, axis=-1)


def run(paths, step, cold):
    dropped = drop_caches() if cold else None
    started = time.perf_counter()
    step(paths)
    return (time.perf_counter() - started) / len(paths), dropped


def read_only(paths):
    for path in paths:
        read_arrays(path, "apStar")


def make_loops(repeats, in_memory):
    def compute_only(paths):
        for arrays in in_memory:
            compute(arrays, repeats)

    def plain(paths):
        for path in paths:
            compute(read_arrays(path, "apStar"), repeats)

    def ours(paths):
        with reading_ahead(paths):
            for path in paths:
                compute(read_arrays(path, "apStar"), repeats)

    return compute_only, plain, ours


def calibrate(target, sample):
    """Repeats of the compute step that take about ``target`` seconds a spectrum."""
    times = []
    for _ in range(5):  # the least of five passes: the machine is shared
        started = time.perf_counter()
        for arrays in sample:
            compute(arrays, 1)
        times.append((time.perf_counter() - started) / len(sample))
    return max(1, round(target / min(times)))


def measure(label, paths, rounds, cold):
    best = min  # the least of the rounds: other work on the machine only ever adds time
    reads = [run(paths, read_only, cold)[0] for _ in range(rounds)]
    read = best(reads)
    sample = [read_arrays(p, "apStar") for p in paths[:20]]
    repeats = calibrate(read, sample)
    compute_only, plain, ours = make_loops(repeats, sample * (len(paths) // len(sample) + 1))
    results = {"read only": reads, "compute only": [], "read-then-compute": [], "ours": []}
    dropped = None
    for _ in range(rounds):  # the variants take turns
        results["compute only"].append(run(paths, compute_only, False)[0])
        value, dropped = run(paths, plain, cold)
        results["read-then-compute"].append(value)
        results["ours"].append(run(paths, ours, cold)[0])
        results["read only"].append(run(paths, read_only, cold)[0])
    values = {name: best(times) for name, times in results.items()}
    larger = max(values["read only"], values["compute only"])
    total = values["read only"] + values["compute only"]
    caches = "" if not cold else (" (page cache dropped before each variant)" if dropped else " (page cache NOT dropped: not root)")
    print(f"\n{label}: {len(paths)} files, {os.path.getsize(paths[0]) / 2**20:.1f} MB each, {rounds} rounds "
          f"(least){caches}")
    print(f"| {'variant':<18} | ms/spectrum | / max(read, compute) | / (read + compute) |")
    print(f"|{'-' * 20}|{'-' * 13}|{'-' * 22}|{'-' * 20}|")
    for name, value in values.items():
        print(f"| {name:<18} | {value * 1e3:11.2f} | {value / larger:20.2f} | {value / total:18.2f} |")
    return values["ours"] / larger


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 files, 3 rounds")
    parser.add_argument("--files", type=int, help="number of files")
    parser.add_argument("--visits", type=int, default=6, help="visits per apStar file")
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    n = args.files or (150 if args.quick else 600)
    rounds = args.rounds or (3 if args.quick else 5)
    places = [("tmpfs (/dev/shm)", "/dev/shm", False), ("disk (/var/tmp)", "/var/tmp", True)]
    for label, base, cold in places:
        directory = tempfile.mkdtemp(prefix="astra-bench-readahead-", dir=base)
        try:
            paths = write_files(directory, n, args.visits)
            measure(label, paths, rounds, cold)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
