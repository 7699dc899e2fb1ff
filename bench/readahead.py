"""Reading ahead against the read-then-compute loop, on tmpfs and on this machine's disk.

Files: real-size multi-visit apStar files (synthetic, every HDU filled: ``n_visits`` visits,
10 HDUs, about 1.8 MB each with six visits) written by :mod:`astra.tools.synthetic`, once
under ``/dev/shm`` (tmpfs) and once under ``/var/tmp`` (the machine's disk).

The method's computing is calibrated, in the same run, to take as long per spectrum as
reading the file does, in three kinds:

* **numpy, one call** -- one ``np.sort`` over as many rows of the flux as take that long (one
  long stretch without the GIL, as a large vectorised step or a compiled model has);
* **numpy, many calls** -- ``np.sort`` of one row at a time, about 0.1 ms a call (a method
  written as many small numpy steps: the GIL is taken back after each);
* **pure Python** -- arithmetic in Python, which holds the GIL throughout.

For each storage and kind the table gives, per spectrum, **read only**
(``read_arrays(path, "apStar")`` in a loop, the catalogue rows' reader), **compute only**
(over arrays in memory), **read-then-compute** (the plain loop), **ours** (the same loop inside
:func:`astra.core.readahead.reading_ahead` with 1 and with 2 reader threads; 2 is the
default) and, on tmpfs, **reader process** (a ``concurrent.futures.ProcessPoolExecutor`` of
one forked process reading ahead, the arrays pickled back through its pipe: what a process
instead of threads costs when the arrays are copied), each as its ratio to
``max(read only, compute only)`` (the target is at most 1.2x): the median over the rounds and
the worst round. On the disk the page cache is dropped before every variant when the process
may (``/proc/sys/vm/drop_caches``, as root).

Usage::

    python bench/readahead.py            # 600 files, 5 rounds
    python bench/readahead.py --quick    # 150 files, 3 rounds

The variants take turns within each round; the machine's load average is printed with each
table (on a shared machine other work adds time to any variant).
"""

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

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


def numpy_one_call(arrays, repeats):
    flux = np.asarray(arrays.flux)
    np.sort(np.resize(flux, (repeats, flux.shape[-1])), axis=-1)


def numpy_many_calls(arrays, repeats):
    flux = np.asarray(arrays.flux)
    for i in range(repeats):
        np.sort(flux[i % len(flux)])


def pure_python(arrays, repeats):
    total = 0
    for i in range(repeats * 100):
        total += i * i
    return total


COMPUTE = {"numpy, one call": numpy_one_call, "numpy, many calls": numpy_many_calls, "pure Python": pure_python}


def run(paths, step, cold):
    dropped = drop_caches() if cold else None
    started = time.perf_counter()
    step(paths)
    return (time.perf_counter() - started) / len(paths), dropped


def read_only(paths):
    for path in paths:
        read_arrays(path, "apStar")


def _read(path):
    return read_arrays(path, "apStar")


def make_loops(compute, repeats, in_memory, pool):
    def compute_only(paths):
        for arrays in in_memory:
            compute(arrays, repeats)

    def plain(paths):
        for path in paths:
            compute(read_arrays(path, "apStar"), repeats)

    def ours(threads):
        def loop(paths):
            with reading_ahead(paths, threads=threads):
                for path in paths:
                    compute(read_arrays(path, "apStar"), repeats)
        return loop

    def reader_process(paths):
        ahead = 8
        futures = [pool.submit(_read, p) for p in paths[:ahead]]
        for i in range(len(paths)):
            arrays = futures[i].result()
            futures[i] = None
            if i + ahead < len(paths):
                futures.append(pool.submit(_read, paths[i + ahead]))
            compute(arrays, repeats)

    loops = {"compute only": compute_only, "read-then-compute": plain, "ours, 1 thread": ours(1),
             "ours, 2 threads": ours(2)}
    if pool is not None:
        loops["reader process"] = reader_process
    return loops


def cpu_per_read(paths):
    """CPU seconds of this thread a read takes (the least of three passes over 20 files)."""
    times = []
    for _ in range(3):
        started = time.thread_time()
        for path in paths[:20]:
            read_arrays(path, "apStar")
        times.append((time.thread_time() - started) / len(paths[:20]))
    return min(times)


def calibrate(compute, target, sample):
    """Repeats of ``compute`` that take about ``target`` CPU seconds a spectrum.

    Calibrated in CPU time of this thread, not wall time: other work on the machine does not
    change it.
    """
    times = []
    for _ in range(5):
        started = time.thread_time()
        for arrays in sample:
            compute(arrays, 10)
        times.append((time.thread_time() - started) / len(sample) / 10)
    return max(1, round(target / min(times)))


def measure(label, paths, rounds, cold, pool):
    reads = [run(paths, read_only, cold)[0] for _ in range(rounds)]
    read_cpu = cpu_per_read(paths)
    sample = [read_arrays(p, "apStar") for p in paths[:20]]
    in_memory = sample * (len(paths) // len(sample) + 1)
    caches = "" if not cold else (" (page cache dropped before each variant)" if os.geteuid() == 0 else
                                  " (page cache NOT dropped: not root)")
    print(f"\n{label}: {len(paths)} files, {os.path.getsize(paths[0]) / 2**20:.1f} MB each, {rounds} rounds"
          f"{caches}; load average {os.getloadavg()[0]:.1f}")
    print(f"read only: {min(reads) * 1e3:.2f} ms a spectrum (least of {rounds}); {read_cpu * 1e3:.2f} ms of CPU "
          f"with the page cache warm; the computing is calibrated to the {'first' if cold else 'second'}")
    names = ["compute only", "read-then-compute", "ours, 1 thread", "ours, 2 threads"] + (["reader process"] if pool else [])
    print(f"| {'compute':<18} | {'compute ms':>10} | " + " | ".join(f"{n:>17}" for n in names[1:]) + " |")
    print(f"|{'-' * 20}|{'-' * 12}|" + "|".join("-" * 19 for _ in names[1:]) + "|")
    worst = {}
    for kind, compute in COMPUTE.items():
        # tmpfs: reading is CPU work; disk (cold): it is mostly waiting, its wall time counts
        repeats = calibrate(compute, min(reads) if cold else read_cpu, sample)
        loops = make_loops(compute, repeats, in_memory, pool)
        results = {name: [] for name in loops}
        read_times = []
        for _ in range(rounds):  # the variants take turns
            for name, loop in loops.items():
                results[name].append(run(paths, loop, cold and name != "compute only")[0])
            read_times.append(run(paths, read_only, cold)[0])
        larger = max(statistics.median(read_times), statistics.median(results["compute only"]))
        cells = []
        for name in names[1:]:
            median, high = statistics.median(results[name]) / larger, max(results[name]) / larger
            worst[(kind, name)] = high
            cells.append(f"{median:6.2f} ({high:5.2f})".rjust(17))
        compute_ms = statistics.median(results["compute only"]) * 1e3
        print(f"| {kind:<18} | {compute_ms:10.2f} | " + " | ".join(cells) + " |")
    print("cells: median (worst round) of the time a spectrum over max(read only, compute only) (their medians); target <= 1.2")
    return worst


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
        pool = None if cold else ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        try:
            paths = write_files(directory, n, args.visits)
            measure(label, paths, rounds, cold, pool)
        finally:
            if pool is not None:
                pool.shutdown()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
